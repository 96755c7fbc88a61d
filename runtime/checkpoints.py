"""Where a run's checkpoint lives and what it says: `checkpoints/latest.keras` (the model, with
its optimizer and EMA state, written by latentq.runtime.snapshot) and `checkpoints/state.json`
(the epoch it was taken after). TensorFlow-free: the worker's parent reads it before a claim."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from latentq.db.schema import Run

if TYPE_CHECKING:
    from latentq.runtime.artifacts import ArtifactStore

LATEST = "checkpoints/latest.keras"
STATE = "checkpoints/state.json"
# The sample montage's rows so far, one small file per drawn epoch (latentq.models.samples.MontageRows).
MONTAGE_ROWS = "checkpoints/montage"


def missing_checkpoint(run: Run, runs: "ArtifactStore") -> Optional[str]:
    """Why this process cannot resume `run` (its recorded checkpoint is not visible in `runs`, the
    artifact store's runs/ of this process), in one line; None when it can."""
    if run.checkpoint_epoch is None:
        return None
    files = runs.scope(run.id)
    if files.exists(STATE):
        return None
    return (f"checkpoint after epoch {run.checkpoint_epoch} not found at {files.location(STATE)} "
            f"(artifact root {runs.location()})")
