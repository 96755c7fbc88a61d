"""Samples drawn from fixed noise (VAEs and GANs): the noise itself, the per-epoch grid and the montage."""

from __future__ import annotations

import contextlib
import io
import math
from typing import Callable, Optional

import keras
import numpy as np

from latentq.models.predict import batched
from latentq.runtime.checkpoints import MONTAGE

SAMPLE_GRID = 64  # fixed-noise samples drawn each epoch (an 8x8 grid)
MONTAGE_COLS = 8  # of which the montage follows the first 8
MONTAGE_MAX_ROWS = 40  # a longer run shows 40 epochs spread evenly, the last one included


def fixed_noise(seed: int, n: int, codings: int, stream: int = 0) -> np.ndarray:
    """The same Gaussian codings for every epoch and every attempt of a run (VAEs and GANs);
    `stream` tells apart the noises one run draws (grid, evaluation, style mixing)."""
    return np.random.default_rng([seed, stream]).standard_normal((n, codings)).astype(np.float32)


def generate_images(model: keras.Model, noise: np.ndarray) -> np.ndarray:
    """Images in [0, 1] with the dataset's sample shape, from the model's "generator" (a GAN's
    averaged weights when it keeps a generator EMA). A direct call per batch, not `predict`:
    predict builds a data pipeline per call, which costs far more than drawing a 64-sample grid."""
    generator = model.get_layer("generator")
    with sampling_weights(model):
        images = batched(lambda z: generator(z, training=False), noise, batch_size=256)
    return np.clip(np.asarray(images, dtype=np.float32), 0.0, 1.0)


def sampling_weights(model: keras.Model):
    """The weights to sample with: a GAN's generator EMA (models.gan.GAN.sampling_weights), else as is."""
    swap = getattr(model, "sampling_weights", None)
    return swap() if swap is not None else contextlib.nullcontext(model)


SampleFn = Callable[[keras.Model, np.ndarray], np.ndarray]


class SampleMonitor(keras.callbacks.Callback):
    """After each epoch: images/samples/epoch_NNN.png, a grid from the same fixed noise (`cols` a
    row; a square grid by default), and, unless montage_cols=0, images/evolution.png, one row per
    epoch of the first few of those samples (how they evolved). The montage rows are kept in the
    checkpoint folder, so a resumed run continues it."""

    def __init__(self, ctx, noise: np.ndarray, sample_fn: SampleFn = generate_images, *, kind: str = "samples",
                 cols: Optional[int] = None, montage_cols: int = MONTAGE_COLS, max_rows: int = MONTAGE_MAX_ROWS):
        super().__init__()
        self.ctx = ctx
        self.noise = noise
        self.sample_fn = sample_fn
        self.kind = kind
        self.cols = cols or int(math.ceil(math.sqrt(len(noise))))
        self.montage_cols = min(montage_cols, len(noise))
        self.max_rows = max_rows
        self.rows: dict[int, np.ndarray] = {}
        if self.montage_cols and ctx.files.exists(MONTAGE):
            with ctx.files.open(MONTAGE) as fh, np.load(io.BytesIO(fh.read())) as saved:
                self.rows = {int(e): row for e, row in zip(saved["epochs"], saved["rows"])}

    def on_epoch_end(self, epoch, logs=None):
        if getattr(self.model, "stop_training", False):  # a partial epoch (stop requested): not an epoch's picture
            return
        done = epoch + 1
        with self.ctx.timings.measure("picture"):  # the drawing and the files: in the background
            images = self.sample_fn(self.model, self.noise)
            self.ctx.save_grid(self.kind, f"images/samples/epoch_{done:03d}.png", images, cols=self.cols)
            if self.montage_cols:
                self.save_montage(done, images)

    def save_montage(self, done: int, images: np.ndarray) -> None:
        self.rows = {e: r for e, r in self.rows.items() if e < done}
        self.rows[done] = images[: self.montage_cols]
        epochs = sorted(self.rows)
        rows = np.stack([self.rows[e] for e in epochs])
        self.ctx.writer.submit(lambda: self.ctx.files.put(MONTAGE, lambda tmp: np.savez(
            tmp, epochs=np.array(epochs), rows=rows)), part="picture")
        shown = montage_epochs(epochs, self.max_rows)
        self.ctx.save_grid("montage", "images/evolution.png",
                           np.concatenate([self.rows[e] for e in shown]), cols=self.montage_cols)


def montage_epochs(epochs: list[int], max_rows: int) -> list[int]:
    """At most max_rows of the epochs, spread evenly, first and last included."""
    if len(epochs) <= max_rows:
        return list(epochs)
    picks = np.linspace(0, len(epochs) - 1, max_rows).round().astype(int)
    return [epochs[i] for i in sorted(set(picks))]
