"""Shared pieces of every recipe's training: backend setup, optimizers, fit with the job's
callbacks, resume, and the summary metrics every run records."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import keras
import numpy as np

from latentq.models.inputs import TrainInput
from latentq.runtime.checkpoints import LATEST

_configured = False

# Validation only evaluates: a larger batch than training's gives the same mean loss in fewer calls.
VALIDATION_BATCH_SIZE = 256


def configure_backend(seed: int, precision: str = "float32") -> None:
    """GPU memory growth (one job per GPU shares nothing, but grows as it needs), a fresh Keras
    session, seeds, and the job's dtype policy (set for every job: a worker's training process
    runs many, and the session, seed and policy are global).
    Under a mixed policy the builders keep their output layers float32 (dtype="float32")."""
    global _configured
    if not _configured and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
        _configured = True
    fresh_session(free_memory=False)
    keras.mixed_precision.set_dtype_policy(precision)
    keras.utils.set_random_seed(seed)


def fresh_session(free_memory: bool = True) -> None:
    """Keras's global state as in a new process: layer-name counters, the global seed generator,
    the dtype policy, the graph and kernel caches; with `free_memory`, collect the garbage too."""
    keras.backend.clear_session(free_memory=free_memory)


def make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    return {
        "sgd": keras.optimizers.SGD,
        "adam": keras.optimizers.Adam,
        "rmsprop": keras.optimizers.RMSprop,
        "nadam": keras.optimizers.Nadam,
    }[name](learning_rate=learning_rate)


@dataclass
class Resume:
    epoch: int
    model: Optional[keras.Model]


def resume(ctx, load: bool = True) -> Resume:
    """Continue from the last checkpoint when an earlier attempt left one."""
    state = ctx.checkpoint_state()
    if not state:
        return Resume(epoch=0, model=None)
    model = None
    if load:
        with ctx.files.local_path(LATEST) as path:
            model = keras.models.load_model(path)
    epoch = int(state["epoch"])
    ctx.mark_resumed(epoch)
    ctx.event("info", f"resumed from the checkpoint after epoch {epoch}")
    return Resume(epoch=epoch, model=model)


def fit(ctx, model: keras.Model, x, y, validation_data, initial_epoch: int = 0,
        epochs: Optional[int] = None, extra_callbacks: tuple = ()) -> float:
    """model.fit with the job's callbacks; returns the seconds of the training steps alone.
    x is the run's TrainInput (latentq.models.inputs; y unused) or, for small in-memory sets
    (a classifier's few labels), arrays.
    Adds to ctx.timings (latentq.runtime.timings), waits for the checkpoint of the last epoch (or
    of the stop) to be on disk, then stops here if asked to stop."""
    from latentq.runtime.callbacks import TimingCallback

    epochs = ctx.spec.epochs if epochs is None else epochs
    if initial_epoch >= epochs:
        return 0.0
    timings = ctx.timings
    callbacks = [TimingCallback(ctx), *ctx.keras_callbacks(), *extra_callbacks]
    measured = timings.measured()
    start = time.perf_counter()
    validation_batch_size = max(ctx.spec.batch_size, VALIDATION_BATCH_SIZE)
    if isinstance(x, TrainInput):  # the stream: it knows its epoch from its callback, set first
        model.fit(x.dataset(), validation_data=validation_data, epochs=epochs, initial_epoch=initial_epoch,
                  validation_batch_size=validation_batch_size, callbacks=[x.callback(), *callbacks], verbose=0)
    else:
        model.fit(x, y, validation_data=validation_data, epochs=epochs, initial_epoch=initial_epoch,
                  batch_size=ctx.spec.batch_size, validation_batch_size=validation_batch_size,
                  shuffle=True, callbacks=callbacks, verbose=0)
    seconds = time.perf_counter() - start - (timings.measured() - measured)
    timings.add("train", seconds)
    ctx.flush()  # a stop's checkpoint complete before the run ends
    ctx.raise_if_stopped()
    return seconds


def record_timings(ctx, samples: int) -> dict[str, float]:
    """Flush the background writes, then record where the run's wall time went (step 0), and
    pictures_dropped: the pictures the background writer dropped or replaced while they waited."""
    ctx.flush()
    summary = ctx.timings.summary(samples)
    summary["pictures_dropped"] = float(ctx.writer.dropped_pictures)
    ctx.record(0, **summary)
    return summary


def train(ctx, make: Callable[[], keras.Model], x, y, validation_data, *,
          numbers: Callable[[keras.Model], dict] = lambda model: {},
          callbacks: Callable[[keras.Model], Sequence] = lambda model: (),
          finish: Callable[[keras.Model], None] = lambda model: None) -> keras.Model:
    """The skeleton every one-model recipe trains with: resume from the checkpoint, or `make()`
    (build + compile) a new model; record its size (`params`, plus `numbers(model)`); fit with
    the job's callbacks and `callbacks(model)`; then `finish(model)` (save, pictures, metrics)."""
    resumed = resume(ctx)
    model = resumed.model
    if model is None:
        model = make()
    ctx.record(0, params=count_params(model), **numbers(model))
    ctx.timings.add("setup", ctx.timings.elapsed() - ctx.timings.measured())
    fit(ctx, model, x, y, validation_data, initial_epoch=resumed.epoch, extra_callbacks=tuple(callbacks(model)))
    with ctx.phase("final pictures"):  # the finishing work and the background writes it waits for
        with ctx.timings.measure("finish"):
            finish(model)
        n = x.samples if isinstance(x, TrainInput) else len(x if not isinstance(x, (tuple, list)) else x[0])
        record_timings(ctx, n * max(ctx.spec.epochs - resumed.epoch, 0))
    return model


def count_params(model: keras.Model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))
