"""Batched prediction: a model (or any function of a batch) applied to a large numpy array."""

from __future__ import annotations

from typing import Callable

import keras
import numpy as np

BATCH_SIZE = 512


def batched(fn: Callable, x: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """fn(batch) for consecutive batches of x, as one numpy array (fn returns a tensor or an array)."""
    return np.concatenate([keras.ops.convert_to_numpy(fn(x[i:i + batch_size])) for i in range(0, len(x), batch_size)])
