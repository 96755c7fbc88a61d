"""The Keras callback that connects a fit() loop to its run: metrics, progress, checkpoints, stop."""

from __future__ import annotations

import time

import keras
import numpy as np

from latentq.files import atomic_write


class JobCallback(keras.callbacks.Callback):
    """Per batch: stop when asked (cancel, shutdown, lost lease, time limit) and checkpoint
    every `checkpoint_minutes`. Per epoch: record logs as metrics, progress, checkpoint."""

    def __init__(self, ctx):
        super().__init__()
        self.ctx = ctx
        self.stopped = None
        self.completed_epochs = 0
        self.checkpoint_seconds = ctx.params.checkpoint_minutes * 60
        self._last_checkpoint = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        self.completed_epochs = epoch

    # Batch *begin*, not end: overriding on_train_batch_end would make Keras sync every step's
    # logs to the host and turn off its asynchronous callback dispatch.
    def on_train_batch_begin(self, batch, logs=None):
        reason = self.ctx.stop_reason()
        if reason:
            self.stopped = reason
            self.model.stop_training = True
        elif time.monotonic() - self._last_checkpoint > self.checkpoint_seconds:
            self.save_checkpoint(self.completed_epochs)

    def on_epoch_end(self, epoch, logs=None):
        if self.stopped:  # a partial epoch: keep its weights, but it does not count as done
            self.save_checkpoint(epoch)
            return
        done = epoch + 1
        self.ctx.record(done, **{k: float(v) for k, v in (logs or {}).items() if np.ndim(v) == 0})
        self.save_checkpoint(done)
        self.ctx.progress(done)

    def save_checkpoint(self, epochs_done: int) -> None:
        ctx = self.ctx
        atomic_write(ctx.checkpoint_dir / "latest.keras", lambda tmp: self.model.save(tmp))
        ctx.save_checkpoint_state({"epoch": epochs_done, "saved_at": time.time()})
        self._last_checkpoint = time.monotonic()
