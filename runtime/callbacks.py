"""The Keras callbacks that connect a fit() loop to its run: metrics, progress, checkpoints, stop,
and where the time goes."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional

import keras
import numpy as np


class JobCallback(keras.callbacks.Callback):
    """Per batch: stop when asked (cancel, shutdown, lost lease, time limit), checkpoint every
    `checkpoint_minutes`, and note the batch in memory (the heartbeat writes it). Per epoch:
    record logs as metrics, progress, checkpoint."""

    def __init__(self, ctx):
        super().__init__()
        self.ctx = ctx
        self.stopped = None
        self.completed_epochs = 0
        self.checkpoint_seconds = ctx.params.checkpoint_minutes * 60
        self._last_checkpoint = time.monotonic()
        self.pause_at = pause_point()
        # Batches of the first epoch done before this fit began (a resume in the middle of an
        # epoch): Keras counts the epoch's batches from 0 again, the checkpoint must not.
        self.batch_offset = 0
        self._last_begin = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.completed_epochs = epoch
        live = self.ctx.signals.live
        live.step, live.steps = 0, self.params.get("steps")

    # Batch *begin*, not end: overriding on_train_batch_end would make Keras sync every step's
    # logs to the host and turn off its asynchronous callback dispatch. At the start of batch k,
    # k batches of the epoch are done.
    def on_train_batch_begin(self, batch, logs=None):
        self.ctx.signals.live.step = batch + self.batch_offset
        self._last_begin = batch
        reason = self.ctx.stop_reason()
        if reason:
            self.stopped = reason
            self.model.stop_training = True
        elif time.monotonic() - self._last_checkpoint > self.checkpoint_seconds:
            self.save_checkpoint(self.completed_epochs, batch=batch + self.batch_offset)

    def on_test_begin(self, logs=None):
        self.ctx.signals.live.enter("validation")

    def on_test_end(self, logs=None):
        self.ctx.signals.live.leave("validation")

    def on_epoch_end(self, epoch, logs=None):
        live = self.ctx.signals.live
        live.step = live.steps
        if self.stopped:  # a partial epoch: its weights, and the batch a resume goes on from
            # Keras runs the call begun when the stop was seen (steps_per_execution batches).
            calls = int(getattr(self.model, "steps_per_execution", 1) or 1)
            steps = self.params.get("steps") or (self._last_begin + calls)
            self.save_checkpoint(epoch, batch=self.batch_offset + min(self._last_begin + calls, steps))
            return
        self.batch_offset = 0
        done = epoch + 1
        self.ctx.record(done, **{k: float(v) for k, v in (logs or {}).items() if np.ndim(v) == 0})
        self.save_checkpoint(done, progress=done)
        if self.pause_at is not None and self.pause_at[0] == done:
            self.hold(self.pause_at[1])

    def hold(self, path: Path) -> None:
        """The test-only pause point (pause_point): the checkpoint on disk, PATH.paused
        (holding the run id) tells the test, then wait for PATH.go or a stop (cancel, shutdown,
        lost lease, time limit), which the next batch acts on as usual."""
        self.ctx.flush()
        Path(f"{path}.paused").write_text(self.ctx.run_id)
        go = Path(f"{path}.go")
        while not go.exists() and not self.ctx.stop_reason():
            time.sleep(0.05)

    def save_checkpoint(self, epochs_done: int, progress: Optional[int] = None, batch: int = 0) -> None:
        """A snapshot now, written in the background (RunContext.checkpoint): after `epochs_done`
        epochs and `batch` batches of the next."""
        self.ctx.checkpoint(self.model, epochs_done, progress=progress, batch=batch)
        self._last_checkpoint = time.monotonic()


def pause_point() -> Optional[tuple[int, Path]]:
    """For tests only: LATENTQ_TEST_PAUSE_AT="EPOCH:PATH" holds every run of this process at the
    end of epoch EPOCH (JobCallback.hold), so a fault test injects its fault at a known epoch
    instead of counting on training being slow enough to catch it mid-run. Unset, nothing waits."""
    value = os.environ.get("LATENTQ_TEST_PAUSE_AT")
    if not value:
        return None
    epoch, _, path = value.partition(":")
    return int(epoch), Path(path)


class TimingCallback(keras.callbacks.Callback):
    """First of a fit's callbacks: times Keras's validation passes (validation_seconds) and the
    first compiled call's extra time over the calls after it in the same epoch, and the first
    validation pass's over the later ones (compile_seconds: tracing, XLA). The steps themselves
    are fit's time minus all measured parts (training.fit)."""

    def __init__(self, ctx):
        super().__init__()
        self.timings = ctx.timings
        self._test_start = 0.0
        self._gaps: list[float] = []  # first epoch: time between call starts, minus measured parts
        self._last: Optional[tuple[float, float]] = None
        self._first_epoch = True
        self._validations: list[float] = []

    def on_test_begin(self, logs=None):
        self._test_start = time.perf_counter()

    def on_test_end(self, logs=None):
        seconds = time.perf_counter() - self._test_start
        self._validations.append(seconds)
        if len(self._validations) == 2:  # the first pass traced (and XLA-compiled) the test step
            extra = max(self._validations[0] - seconds, 0.0)
            self.timings.add("validation", seconds + self._validations[0] - extra)
            self.timings.add("compile", extra)
        elif len(self._validations) > 2:
            self.timings.add("validation", seconds)

    def on_train_end(self, logs=None):
        if len(self._validations) == 1:  # one pass only: it cannot be told apart
            self.timings.add("validation", self._validations[0])

    def on_train_batch_begin(self, batch, logs=None):
        if self._first_epoch:
            now = (time.perf_counter(), self.timings.measured())
            if self._last is not None:
                self._gaps.append((now[0] - self._last[0]) - (now[1] - self._last[1]))
            self._last = now

    def on_epoch_end(self, epoch, logs=None):
        if self._first_epoch:
            self._first_epoch = False
            self.timings.add("compile", first_call_extra(self._gaps))


def first_call_extra(gaps: list[float]) -> float:
    """How much longer the first compiled call took than the typical one after it in its epoch;
    0 when the epoch has too few calls to tell (one call per epoch: steps_per_execution)."""
    if len(gaps) < 2:
        return 0.0
    return max(gaps[0] - float(np.median(gaps[1:])), 0.0)
