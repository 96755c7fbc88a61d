"""Custom layers and regularizers, each registered as `latentq>Name` and round-trippable."""

from __future__ import annotations
