"""The one input seam of every recipe: training batches of the run's dataset through tf.data.

A recipe asks for `train_input(ctx, yields=...)` and hands it to `training.fit` (or iterates its
`dataset(epoch)` itself); its validation sample is `ctx.dataset().x_val` (bounded, in memory).
Whatever the source (a built-in array, a uint8 .npz, a prepared dataset read in place), the
pipeline is the same: batch indices from a permutation drawn from (seed, epoch), the batch
read in its stored dtype (uint8 for prepared images), then converted to float32 and scaled,
optionally x-flipped and mapped, inside tf.data, prefetched while the step runs.
"""

from __future__ import annotations

import math
import threading
from typing import Callable, Literal, Optional

import keras
import numpy as np

from latentq.datasets import Source

Yields = Literal["x", "xx", "xy"]  # x only (GANs), (x, x) (autoencoders), (x, y) (classifiers)


class TrainInput:
    """Batches of a Source's training split. Epoch e visits the split in `Source.epoch_order(e)`,
    batch k holding positions k*batch_size .. of it (the last batch may be smaller), so any
    (epoch, batch) is rebuilt from the seed alone: a resumed run continues the same order."""

    def __init__(self, source: Source, batch_size: int, *, yields: Yields = "x",
                 map_fn: Optional[Callable] = None, mirror: bool = False):
        if yields not in ("x", "xx", "xy"):
            raise ValueError(f"yields must be 'x', 'xx' or 'xy'. Received: yields={yields!r}")
        if yields == "xy" and source.labels is None:
            raise ValueError(f"dataset {source.name} has no labels to yield")
        self.source = source
        self.batch_size = int(batch_size)
        self.yields = yields
        self.map_fn = map_fn
        self.mirror = mirror
        self.steps = max(1, math.ceil(source.train_count / self.batch_size))
        self.epoch = 0  # the epoch `dataset()` reads when none is given: set by `callback()` under fit
        self._orders: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    @property
    def samples(self) -> int:
        return self.source.train_count

    def order(self, epoch: int) -> np.ndarray:
        with self._lock:
            if epoch not in self._orders:
                self._orders = {epoch: self.source.epoch_order(epoch)}  # one epoch's at a time
            return self._orders[epoch]

    def batch_indices(self, epoch: int, batch: int) -> np.ndarray:
        """The dataset indices of batch `batch` of epoch `epoch`."""
        return self.order(epoch)[batch * self.batch_size:(batch + 1) * self.batch_size]

    def _read(self, epoch: int, batch: int):
        idx = self.batch_indices(int(epoch), int(batch))
        x = self.source.read_raw(idx)
        if self.yields == "xy":
            return x, self.source.labels[idx].astype(np.int64)
        return x

    def dataset(self, epoch: Optional[int] = None, start_batch: int = 0):
        """One epoch of batches from `start_batch` on, as a tf.data.Dataset. With no epoch, the one
        `callback()` set when Keras began it (fit builds the iterator after on_epoch_begin)."""
        import tensorflow as tf

        source, fixed = self.source, epoch
        raw_dtype = tf.as_dtype(source.pixels.dtype)
        stored = list(source.pixels.shape[1:])
        scale = float(source.scale)
        sample = list(source.sample_shape)
        labelled = self.yields == "xy"
        seed = int(source.seed) & 0x7FFFFFFF

        def load(k):
            def read(k_):  # the epoch travels with the batch: the mirror's draw depends on it
                e = self.epoch if fixed is None else fixed
                got = self._read(e, k_)
                return (np.int64(e), *got) if labelled else (np.int64(e), got)

            if labelled:
                e, x, y = tf.numpy_function(read, [k], [tf.int64, raw_dtype, tf.int64], stateful=True)
                return e, k, tf.ensure_shape(x, [None, *stored]), tf.ensure_shape(y, [None])
            e, x = tf.numpy_function(read, [k], [tf.int64, raw_dtype], stateful=True)
            return e, k, tf.ensure_shape(x, [None, *stored]), tf.zeros([0], tf.int64)

        def convert(e, k, x, y):
            x = tf.reshape(tf.cast(x, tf.float32), [-1, *sample])
            if scale != 1.0:
                x = x * scale
            if self.mirror:  # x-flip half the images, chosen by (seed, epoch, batch): reproducible
                flip = tf.random.stateless_uniform([tf.shape(x)[0]], seed=tf.stack([seed, e * self.steps + k])) < 0.5
                x = tf.where(tf.reshape(flip, [-1] + [1] * len(sample)), tf.reverse(x, axis=[2]), x)
            if self.map_fn is not None:
                x = self.map_fn(x)
            if self.yields == "x":
                return x
            if self.yields == "xx":
                return x, x
            return x, y

        options = tf.data.Options()
        options.deterministic = True
        ds = tf.data.Dataset.range(int(start_batch), self.steps)
        ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return ds.prefetch(tf.data.AUTOTUNE).with_options(options)

    def callback(self) -> keras.callbacks.Callback:
        return _EpochSetter(self)


class _EpochSetter(keras.callbacks.Callback):
    """Tells the input which epoch Keras is beginning, before it reads that epoch's batches."""

    def __init__(self, inputs: TrainInput):
        super().__init__()
        self.inputs = inputs

    def on_epoch_begin(self, epoch, logs=None):
        self.inputs.epoch = int(epoch)


def train_input(ctx, yields: Yields = "x", map_fn: Optional[Callable] = None,
                mirror: Optional[bool] = None) -> TrainInput:
    """The run's training input: its dataset, batch size and seed; x-flips when the recipe's
    parameters say mirror=true."""
    if mirror is None:
        mirror = bool(getattr(ctx.params, "mirror", False))
    return TrainInput(ctx.dataset(), ctx.spec.batch_size, yields=yields, map_fn=map_fn, mirror=mirror)
