"""Samples drawn from fixed noise (VAEs and GANs): the noise itself, the per-epoch grid and the montage."""

from __future__ import annotations

import contextlib
import io
import math
import re
import time
from typing import Callable, Optional

import keras
import numpy as np

from latentq.models.predict import batched
from latentq.runtime.checkpoints import MONTAGE_ROWS

SAMPLE_GRID = 64  # fixed-noise samples drawn each epoch (an 8x8 grid)
MONTAGE_COLS = 8  # of which the montage follows the first 8
MONTAGE_MAX_ROWS = 16  # a longer run shows 16 of its drawn epochs spread evenly, the last one included
EVOLUTION = "images/evolution.png"
# Default cadence: sampling and drawing the per-epoch pictures under this share of the run's wall
# time; half the 10 % the run's pictures may take, the end-of-run ones (curves, t-SNE) being the rest.
PICTURE_SHARE = 0.05


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
_ROW = re.compile(r"epoch_(\d+)\.npy$")


class MontageRows:
    """The montage's rows, one small uint8 .npy file per drawn epoch under checkpoints/montage/:
    appending one writes the same few bytes at epoch 1,000 as at epoch 1 (no file rewritten),
    and a resumed run finds its rows there. In memory: the epochs, and the rows still waiting
    for the background writer (a picture that replaced a waiting one runs in its place, ahead of
    the rows submitted since)."""

    def __init__(self, files):
        self.files = files
        found = (_ROW.search(name) for name in files.list(MONTAGE_ROWS))
        self.epochs: list[int] = sorted(int(m.group(1)) for m in found if m)
        self.pending: dict[int, np.ndarray] = {}

    @staticmethod
    def name(epoch: int) -> str:
        return f"{MONTAGE_ROWS}/epoch_{epoch:06d}.npy"

    def forget_after(self, epoch: int) -> None:
        """Rows past `epoch` came from an attempt that went on beyond its checkpoint: not this run's."""
        for late in [e for e in self.epochs if e > epoch]:
            self.files.delete(self.name(late))
        self.epochs = [e for e in self.epochs if e <= epoch]

    def append(self, epoch: int, images: np.ndarray) -> Callable[[], None]:
        """Note the row of `epoch` now; returns the job that writes it (images in [0, 1])."""
        from latentq import pictures

        row = pictures.to_uint8(images)
        self.epochs = [e for e in self.epochs if e < epoch] + [epoch]
        self.pending[epoch] = row

        def write() -> None:
            out = io.BytesIO()
            np.save(out, row, allow_pickle=False)
            self.files.put(self.name(epoch), out.getvalue())
            self.pending.pop(epoch, None)  # after the file is there: a reader finds one or the other

        return write

    def read(self, epochs: list[int]) -> np.ndarray:
        """The rows of `epochs`, concatenated, as floats in [0, 1]."""
        rows = []
        for epoch in epochs:
            row = self.pending.get(epoch)
            if row is None:
                with self.files.open(self.name(epoch)) as fh:
                    row = np.load(io.BytesIO(fh.read()), allow_pickle=False)
            rows.append(row)
        return np.concatenate(rows).astype(np.float32) / 255.0


class SampleMonitor(keras.callbacks.Callback):
    """At the epochs it draws: images/samples/epoch_NNN.png, a grid from the same fixed noise
    (`cols` a row; a square grid by default), sent to TensorBoard once, and, unless montage_cols=0,
    a montage row (the first few of those samples, MontageRows) and images/evolution.png, at most
    `max_rows` of the rows so far spread evenly (how they evolved; TensorBoard gets it at the last
    epoch only: its per-epoch grids already show the evolution).

    It draws every `pictures_every` epochs (the recipe's parameter), or by default whenever the
    picture work (sampling here, drawing and writing in the background) stays under PICTURE_SHARE
    of the run's time so far and the last epoch's pictures are written; the first epoch and the
    last always."""

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
        self.every = int(getattr(ctx.params, "pictures_every", 0) or 0)
        self.rows = MontageRows(ctx.files) if self.montage_cols else None
        self.drawn: list[int] = []  # the epochs drawn in this attempt
        # Seconds of picture work in this attempt: sampling (the training thread's), drawing and
        # writing (the writer thread's); each thread adds to its own.
        self.sampling = 0.0
        self.background = 0.0
        self.written = 0  # of the drawn epochs, those whose background work is over (the writer's thread counts)
        self._begun = False

    def on_epoch_begin(self, epoch, logs=None):
        if not self._begun:
            self._begun = True
            if self.rows is not None:
                self.rows.forget_after(epoch)

    def due(self, done: int) -> bool:
        if done >= self.ctx.spec.epochs:
            return True
        if self.every:
            return done % self.every == 0
        if not self.drawn:  # the first one tells what one costs
            return True
        if self.written < len(self.drawn):  # the writer has not caught up: its cost is not known yet
            return False
        # this one and the final one must fit in the share of the time so far
        spent = self.sampling + self.background
        return spent + 2 * spent / len(self.drawn) <= PICTURE_SHARE * self.ctx.timings.elapsed()

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if getattr(self.model, "stop_training", False) or not self.due(done):
            return  # a partial epoch (stop requested) is not an epoch's picture
        start = time.perf_counter()
        with self.ctx.timings.measure("picture"):  # the drawing and the files: in the background
            self.draw(done, self.sample_fn(self.model, self.noise))
        self.sampling += time.perf_counter() - start
        self.drawn.append(done)

    def draw(self, done: int, images: np.ndarray) -> None:
        """One picture job (the grid, and the montage) the writer may drop if it falls behind, then
        one job it never drops (the montage row): once that one ran, this epoch's work is over."""
        ctx = self.ctx
        rel = f"images/samples/epoch_{done:03d}.png"
        grid = ctx.grid_job(self.kind, rel, images, self.cols)
        row = None
        if self.rows is not None:
            row = self.rows.append(done, images[: self.montage_cols])
            shown = montage_epochs(self.rows.epochs, self.max_rows)
            montage_cols, final = self.montage_cols, done >= ctx.spec.epochs

        def pictures() -> None:
            grid()
            if row is not None:
                ctx.grid_job("montage", EVOLUTION, self.rows.read(shown), montage_cols, tensorboard=final)()

        def record() -> None:
            if row is not None:
                row()
            self.written += 1

        ctx.writer.submit(self._timed(pictures), part="picture", key=rel)
        ctx.writer.submit(self._timed(record))

    def _timed(self, job: Callable[[], None]) -> Callable[[], None]:
        def timed() -> None:
            start = time.perf_counter()
            try:
                job()
            finally:
                self.background += time.perf_counter() - start

        return timed


def montage_epochs(epochs: list[int], max_rows: int) -> list[int]:
    """At most max_rows of the epochs, spread evenly, first and last included."""
    if len(epochs) <= max_rows:
        return list(epochs)
    picks = np.linspace(0, len(epochs) - 1, max_rows).round().astype(int)
    return [epochs[i] for i in sorted(set(picks))]
