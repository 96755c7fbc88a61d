"""What the live progress display says of a run: where it is (epoch, batch of the epoch, end-of-run
phase), how fast it goes, and how long it has to go, from successive progress reads of the store
(latentq.db.reads.progress: status, epoch/epochs, step/steps, phase, batch_size)."""

from __future__ import annotations

import time
from typing import Any, Callable, Optional

from latentq.db.tables import RunStatus

# Samples per second from reads at least this far apart: the heartbeat writes the step every
# couple of seconds, so closer reads see the same step and say nothing new.
RATE_WINDOW_SECONDS = 1.0


def clock_text(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Pace:
    """Position, speed and ETA of one run as its progress reads come in (`update`). The ETA is the
    whole observed training's average pace, so it neither jumps at each epoch nor falls back to
    "-:--:--" between two reads that saw the same step: once known, it stays known until the
    run's end-of-run phase, where there is nothing left to estimate."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.started = clock()
        self.done = 0.0  # epochs done, fractions included; never goes back within one follow
        self.samples_per_second: Optional[float] = None
        self._first: Optional[tuple[float, float]] = None  # (time, done) of the first read that trains
        self._rate_from: Optional[tuple[float, float]] = None  # (time, done) the speed is measured from
        self._eta: Optional[float] = None
        self._eta_at = 0.0
        self.progress: dict[str, Any] = {}

    def update(self, progress: dict[str, Any]) -> None:
        now = self.clock()
        self.progress = progress
        epochs = max(1, progress.get("epochs") or 1)
        done = float(progress.get("epoch") or 0)
        step, steps = progress.get("step"), progress.get("steps")
        if steps and step is not None and done < epochs:
            done += min(step, steps) / steps
        done = min(max(done, self.done), float(epochs))
        if progress.get("status") != RunStatus.RUNNING:
            self.done = done
            return
        if self._first is None:
            self._first = self._rate_from = (now, done)
        elif done > self.done or now - self._rate_from[0] >= RATE_WINDOW_SECONDS:
            if done > self._rate_from[1] and now - self._rate_from[0] >= RATE_WINDOW_SECONDS:
                batch, per_epoch = progress.get("batch_size"), progress.get("steps")
                if batch and per_epoch:
                    self.samples_per_second = (done - self._rate_from[1]) * per_epoch * batch / (now - self._rate_from[0])
                self._rate_from = (now, done)
        moved = done > self.done
        self.done = done
        first_t, first_done = self._first
        if moved and done > first_done and now > first_t:  # between moves it counts down (eta())
            self._eta = (epochs - done) * (now - first_t) / (done - first_done)
            self._eta_at = now

    def position(self) -> str:
        """'epoch 3/5 step 120/600 850 samples/s', 'epoch 3/5: validation', 'epoch 5/5: final
        pictures', 'epoch 2/5'."""
        p = self.progress
        epoch, epochs = p.get("epoch") or 0, p.get("epochs") or 0
        step, steps = p.get("step"), p.get("steps")
        within = steps and step is not None and epoch < epochs  # in the epoch after `epoch`
        if p.get("status") == RunStatus.RUNNING and p.get("phase"):
            return f"epoch {epoch + 1 if within else epoch}/{epochs}: {p['phase']}"
        if p.get("status") == RunStatus.RUNNING and within:
            text = f"epoch {epoch + 1}/{epochs} step {min(step, steps)}/{steps}"
            if self.samples_per_second:
                text += f" {self.samples_per_second:,.0f} samples/s"
            return text
        return f"epoch {epoch}/{epochs}"

    def eta(self) -> str:
        """The time left: counts down between reads, '-:--:--' only before the first estimate,
        nothing once the run has ended or is in its end-of-run phase."""
        p = self.progress
        if p.get("status") != RunStatus.RUNNING and p.get("status") != RunStatus.QUEUED:
            return ""
        if p.get("phase") and self.done >= (p.get("epochs") or 0):
            return ""
        if self._eta is None:
            return "eta -:--:--"
        return "eta " + clock_text(self._eta - (self.clock() - self._eta_at))

    def elapsed(self) -> str:
        """Time since the follow began; it keeps moving through the end-of-run phase."""
        return clock_text(self.clock() - self.started)
