"""Shared pieces of every recipe's training: backend setup, optimizers, fit with the job's
callbacks, resume, and the summary metrics every run records."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import keras
import numpy as np

from latentq.models.inputs import TrainInput
from latentq.runtime.checkpoints import LATEST

_configured = False

# Validation only evaluates: a larger batch than training's gives the same mean loss in fewer calls.
VALIDATION_BATCH_SIZE = 256


def configure_backend(seed: int, precision: str = "float32", deterministic: bool = False) -> None:
    """GPU memory growth (one job per GPU shares nothing, but grows as it needs), a fresh Keras
    session, seeds, and the job's dtype policy (set for every job: a worker's training process
    runs many, and the session, seed and policy are global).
    Under a mixed policy the builders keep their output layers float32 (dtype="float32").
    `deterministic`: TensorFlow's deterministic kernels (some GPU ops are not, by default); once
    on, it stays on for the process (TensorFlow has no off that undoes every effect)."""
    global _configured
    if not _configured and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
        _configured = True
    fresh_session(free_memory=False)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
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
    batch: int = 0  # batches of epoch `epoch` (0-based) already trained: a stop inside it
    state: dict = field(default_factory=dict)  # the checkpoint's position (a recipe's own keys too)


def resume(ctx, load: bool = True, describe: Optional[Callable[[dict], str]] = None) -> Resume:
    """Continue from the last checkpoint when an earlier attempt left one: the model with its
    optimizer, its random generators' states and the position (epoch, batch) it was taken at,
    read from the archive itself (latentq.runtime.snapshot), so the run goes on drawing and
    reading what an uninterrupted one would. `describe(state)` words the event ("in phase 2
    of 3 ...")."""
    from latentq.runtime import snapshot

    state = ctx.checkpoint_state()
    if not state:
        return Resume(epoch=0, model=None)
    model = None
    if load:
        with ctx.files.local_path(LATEST) as path:
            model = keras.models.load_model(path)
            position = snapshot.read_position(path)
        if position is not None:  # the archive's own: state.json may be one checkpoint behind it
            state = {**state, **position}
            missing = snapshot.restore_seed_states(model, position.get("seed_generators", {}))
            if missing:
                ctx.event("warning", f"the checkpoint lacks the state of {len(missing)} random generator(s) "
                                     f"({', '.join(missing[:3])}): they start afresh")
        else:
            ctx.event("warning", "the checkpoint holds no random generator states (an older latentq): "
                                 "the resumed run draws other noise than an uninterrupted one")
    epoch, batch = int(state["epoch"]), int(state.get("batch") or 0)
    ctx.mark_resumed(epoch)
    where = describe(state) if describe is not None else f"from the checkpoint after epoch {epoch}"
    ctx.event("info", f"resumed {where}" + (f", at batch {batch} of epoch {epoch + 1}" if batch else ""))
    return Resume(epoch=epoch, model=model, batch=batch, state=state)


def fit(ctx, model: keras.Model, x, y, validation_data, initial_epoch: int = 0,
        epochs: Optional[int] = None, extra_callbacks: tuple = (), initial_batch: int = 0,
        job_callbacks: Optional[list] = None) -> float:
    """model.fit with the job's callbacks; returns the seconds of the training steps alone.
    x is the run's TrainInput (latentq.models.inputs; y unused) or, for small in-memory sets
    (a classifier's few labels), arrays.
    `initial_batch`: batches of epoch `initial_epoch` already trained (a checkpoint inside it):
    that epoch goes on from the next batch of its order, then the others follow.
    `job_callbacks`: the job's callbacks (ctx.keras_callbacks()) when the caller made its own.
    Adds to ctx.timings (latentq.runtime.timings), waits for the checkpoint of the last epoch (or
    of the stop) to be on disk, then stops here if asked to stop."""
    from latentq.runtime.callbacks import TimingCallback

    epochs = ctx.spec.epochs if epochs is None else epochs
    if initial_epoch >= epochs:
        return 0.0
    timings = ctx.timings
    jobs = ctx.keras_callbacks() if job_callbacks is None else job_callbacks
    callbacks = [TimingCallback(ctx), *jobs, *extra_callbacks]
    measured = timings.measured()
    start = time.perf_counter()
    validation_batch_size = max(ctx.spec.batch_size, VALIDATION_BATCH_SIZE)
    if isinstance(x, TrainInput):  # the stream: it knows its epoch from its callback, set first
        if 0 < initial_batch < x.steps:  # the rest of the epoch a checkpoint stopped inside
            for callback in jobs:
                callback.batch_offset = initial_batch
            model.fit(x.dataset(initial_epoch, start_batch=initial_batch), validation_data=validation_data,
                      epochs=initial_epoch + 1, initial_epoch=initial_epoch,
                      validation_batch_size=validation_batch_size, callbacks=[x.callback(), *callbacks],
                      shuffle=False, verbose=0)  # the stream shuffles by its seeded epoch order
            initial_epoch += 1
        elif initial_batch >= x.steps:  # stopped after the epoch's last batch: only its end is left
            initial_epoch += 1
        if initial_epoch < epochs and not ctx.stop_reason():
            model.fit(x.dataset(), validation_data=validation_data, epochs=epochs, initial_epoch=initial_epoch,
                      validation_batch_size=validation_batch_size, callbacks=[x.callback(), *callbacks],
                      shuffle=False, verbose=0)
    else:
        arrays = isinstance(x, (np.ndarray, tuple, list))  # a tf.data input comes batched and shuffled
        model.fit(x, y, validation_data=validation_data, epochs=epochs, initial_epoch=initial_epoch,
                  batch_size=ctx.spec.batch_size if arrays else None, validation_batch_size=validation_batch_size,
                  shuffle=arrays, callbacks=callbacks, verbose=0)
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
    fit(ctx, model, x, y, validation_data, initial_epoch=resumed.epoch, extra_callbacks=tuple(callbacks(model)),
        initial_batch=resumed.batch)
    with ctx.phase("final pictures"):  # the finishing work and the background writes it waits for
        with ctx.timings.measure("finish"):
            finish(model)
        n = x.samples if isinstance(x, TrainInput) else len(x if not isinstance(x, (tuple, list)) else x[0])
        record_timings(ctx, n * max(ctx.spec.epochs - resumed.epoch, 0))
    return model


def count_params(model: keras.Model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))
