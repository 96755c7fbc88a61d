"""Where a run's wall time goes, measured on the training thread (TensorFlow-free).

Every second from the claim to the end of training falls into one part:

- setup_seconds: claim to the start of fit (imports, dataset, building or resuming the model)
- compile_seconds: the first compiled call's extra time (tracing, XLA), where it can be told apart
- train_seconds: the training steps (fit minus everything below that happens inside it)
- validation_seconds: Keras's validation pass after each epoch
- eval_seconds: generation quality evaluation (fcd, class coverage)
- picture_seconds: drawing sample grids and montages (the files are written in the background)
- checkpoint_seconds: taking checkpoint snapshots, and waiting for the background writer to
  finish (the last checkpoint, at the end of fit and of the run)
- finish_seconds: the recipe's end-of-run work (model.keras, final predictions and metrics,
  reconstructions, t-SNE, curves)
- other_seconds: the rest (callbacks' bookkeeping, metric rows queued, reading the history)

They add up to wall_seconds. A part measured inside another counts once, in the outer part.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator

PARTS = ("setup", "compile", "train", "validation", "eval", "picture", "checkpoint", "finish")


class Timings:
    def __init__(self, started: float):
        self.started = started  # time.perf_counter() at the claim
        self.seconds: dict[str, float] = {part: 0.0 for part in PARTS}
        self._local = threading.local()

    def add(self, part: str, seconds: float) -> None:
        self.seconds[part] = self.seconds.get(part, 0.0) + max(seconds, 0.0)

    @contextmanager
    def measure(self, part: str) -> Iterator[None]:
        """Time the block into `part`, unless it runs inside another measured block."""
        depth = getattr(self._local, "depth", 0)
        self._local.depth = depth + 1
        start = time.perf_counter()
        try:
            yield
        finally:
            self._local.depth = depth
            if depth == 0:
                self.add(part, time.perf_counter() - start)

    def measured(self, *parts: str) -> float:
        return sum(self.seconds[p] for p in (parts or self.seconds))

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def summary(self, samples: int) -> dict[str, float]:
        """The parts, wall_seconds, other_seconds, and samples per second over the steps and the wall."""
        wall = self.elapsed()
        out = {f"{part}_seconds": value for part, value in self.seconds.items()}
        out["wall_seconds"] = wall
        out["other_seconds"] = max(wall - sum(self.seconds.values()), 0.0)
        out["samples_per_second"] = samples / max(self.seconds["train"], 1e-9)
        out["end_to_end_samples_per_second"] = samples / max(wall, 1e-9)
        return out
