"""Where a run's wall time goes, measured on the training thread (TensorFlow-free).

Every second from the claim to the end of training falls into one part:

- setup_seconds: claim to the start of fit (imports, dataset, building or resuming the model)
- compile_seconds: the first compiled call's extra time (tracing, XLA), where it can be told apart
- train_seconds: the training steps (fit minus everything below that happens inside it)
- validation_seconds: Keras's validation pass after each epoch
- eval_seconds: generation quality evaluation (fcd, class coverage)
- picture_seconds: generating the images of sample grids and montages, and waiting for the
  background writer to finish drawing one (at the end of fit and of the run)
- checkpoint_seconds: taking checkpoint snapshots, and waiting for the background writer to
  finish writing one (the last checkpoint, at the end of fit and of the run)
- finish_seconds: the recipe's end-of-run work (model.keras, final predictions and metrics);
  its pictures (reconstructions, t-SNE, curves) are drawn in the background, and the wait for
  them at the run's end counts as picture_seconds
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

    def add_waits(self, waits: dict[str, float]) -> None:
        """Seconds waited for the background writer, by what it was writing (checkpoint, picture;
        the rest stays other_seconds); unless inside a measured block, which counts them."""
        if getattr(self._local, "depth", 0) == 0:
            for part, seconds in waits.items():
                if part in self.seconds:
                    self.add(part, seconds)

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
