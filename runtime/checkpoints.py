"""Where a run's checkpoint lives and what it says: `checkpoints/latest.keras` (the model, with
its optimizer and EMA state, written by latentq.runtime.snapshot) and `checkpoints/state.json`
(the epoch it was taken after). TensorFlow-free: the worker's parent reads it before a claim."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from latentq.db.schema import Run


def missing_checkpoint(run: Run, artifact_root: Path) -> Optional[str]:
    """Why this process cannot resume `run` (its recorded checkpoint is not visible under this
    artifact root), in one line; None when it can."""
    if run.checkpoint_epoch is None:
        return None
    path = artifact_root / run.id / "checkpoints" / "state.json"
    if path.is_file():
        return None
    return f"checkpoint after epoch {run.checkpoint_epoch} not found at {path} (artifact root {artifact_root})"
