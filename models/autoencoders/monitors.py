"""Keras callbacks of multi-phase runs and of the sparse autoencoders."""

from __future__ import annotations

from typing import Callable, Optional

import keras
import numpy as np

from latentq.runtime.callbacks import JobCallback
from latentq.models.codings import encode, sparsity

ACTIVATION_SAMPLES = 2000  # validation samples used for the per-epoch sparsity numbers


class PhaseCallback(JobCallback):
    """The job callback of pretrain-classifier's classifiers: metrics are recorded as
    `<prefix><name>` per epoch, stop signals are honoured, and nothing is checkpointed within
    one (a classifier is kept once trained). `on_epoch(epochs_done)` reports progress when given."""

    def __init__(self, ctx, prefix: str, on_epoch: Optional[Callable[[int], None]] = None):
        super().__init__(ctx)
        self.prefix = prefix
        self.on_epoch = on_epoch

    def on_epoch_end(self, epoch, logs=None):
        if self.stopped:
            return
        self.ctx.record(epoch + 1, **{f"{self.prefix}{k}": float(v) for k, v in (logs or {}).items()
                                      if np.ndim(v) == 0})
        if self.on_epoch is not None:
            self.on_epoch(epoch + 1)

    def save_checkpoint(self, epochs_done: int, progress=None, batch: int = 0) -> None:
        pass


class ActivationCallback(keras.callbacks.Callback):
    """Records the coding layer's `mean_activation` and `active_fraction` on validation
    samples after each epoch (sparse AEs), so their move toward the target is visible."""

    def __init__(self, ctx, encoder: keras.Model, x: np.ndarray):
        super().__init__()
        self.ctx = ctx
        self.encoder = encoder
        self.x = x[:ACTIVATION_SAMPLES]

    def on_epoch_end(self, epoch, logs=None):
        if self.ctx.stop_reason():
            return
        self.ctx.record(epoch + 1, **sparsity(encode(self.encoder, self.x)))
