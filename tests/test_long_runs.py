"""Long runs stay light: the montage's rows are appended (one small file per drawn epoch, never a
rewrite), the drawn montage has a bounded number of rows, a resumed run keeps its rows,
pictures_every=K draws at K, 2K, ... and the last epoch, and TensorBoard gets each epoch's sample
grid once (the montage once, at the end)."""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
import pytest

from latentq import pictures
from latentq.models import samples
from support import artifact_paths

SHAPE = (8, 8, 3)  # 8x8 RGB samples: the grid enlarges them 12x (latentq.pictures.grid)
PAD, SCALE = 2, 12


def make_ctx(store, settings, epochs: int, run_id: str = None, **params):
    """A real RunContext of a dcgan run (its own files, writer, TensorBoard events), no training."""
    from latentq.runtime import artifacts
    from latentq.runtime.context import RunContext, Signals
    from latentq.spec import build_spec

    spec = build_spec(kind="train", recipe="dcgan", dataset="digits", epochs=epochs, batch_size=8, seed=0,
                      params={k: str(v) for k, v in params.items()})
    if run_id is None:
        run_id, _ = store.create_run(spec.model_dump(mode="json"))
        assert store.claim(run_id, "owner-1", "test")
    return RunContext(store, run_id, "owner-1", spec, Signals(), runs=artifacts.runs(settings),
                      cache=artifacts.cache_files(settings))


def by_epoch(model, noise):
    """Samples whose every pixel is the epoch being drawn (as a uint8 value): the montage's rows say
    which epochs they are."""
    return np.full((len(noise), *SHAPE), model.epoch / 255.0, "float32")


def monitor(ctx):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    watcher = samples.SampleMonitor(ctx, np.zeros((16, 2), "float32"), by_epoch)
    watcher.set_model(model)
    return watcher


def train_epochs(watcher, first: int, last: int, after_each=None) -> None:
    """Epochs first..last (1-based) as fit would call the monitor, each given the time to write its
    pictures (epochs with no training in them would outrun the writer, which then drops some)."""
    for done in range(first, last + 1):
        watcher.model.epoch = done
        watcher.on_epoch_begin(done - 1)
        watcher.on_epoch_end(done - 1)
        watcher.ctx.flush()
        if after_each is not None:
            after_each(done)


def montage_rows(path: Path) -> list[int]:
    """The epochs shown in images/evolution.png, top to bottom (each row's pixel value)."""
    from PIL import Image

    with Image.open(path) as image:
        picture = np.asarray(image.convert("RGB"))
    h = SHAPE[0]
    rows = (picture.shape[0] // SCALE - PAD) // (h + PAD)
    x = (PAD + SHAPE[1] // 2) * SCALE
    return [int(picture[(PAD + r * (h + PAD) + h // 2) * SCALE, x, 0]) for r in range(rows)]


def row_files(ctx) -> dict[str, os.stat_result]:
    folder = Path(ctx.files.location(samples.MONTAGE_ROWS))
    return {p.name: p.stat() for p in sorted(folder.glob("*.npy"))}


def test_the_montage_appends_one_row_file_per_epoch_and_never_rewrites_one(store, settings):
    ctx = make_ctx(store, settings, epochs=30, pictures_every=1)
    watcher = monitor(ctx)
    seen: list[dict[str, os.stat_result]] = []

    try:
        train_epochs(watcher, 1, 30, lambda done: seen.append(row_files(ctx)))
    finally:
        ctx.close()
    sizes = set()
    for done, files in enumerate(seen, start=1):
        assert len(files) == done  # one more row per epoch
        newest = files[f"epoch_{done:06d}.npy"]
        sizes.add(newest.st_size)
        for name, stat in seen[done - 2].items() if done > 1 else ():  # the earlier rows untouched
            assert (files[name].st_ino, files[name].st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns), name
    assert len(sizes) == 1  # the same bytes at epoch 30 as at epoch 1
    assert sizes.pop() < samples.MONTAGE_COLS * np.prod(SHAPE) + 256  # the row as uint8, plus a small header
    assert not ctx.files.exists("checkpoints/montage.npz")


def test_the_drawn_montage_has_at_most_the_bounded_rows_spread_evenly(store, settings):
    ctx = make_ctx(store, settings, epochs=40, pictures_every=1)
    watcher = monitor(ctx)
    try:
        train_epochs(watcher, 1, 10)
        ctx.flush()
        evolution = Path(ctx.files.location(samples.EVOLUTION))
        assert montage_rows(evolution) == list(range(1, 11))  # fewer than the bound: every epoch
        train_epochs(watcher, 11, 40)
        ctx.flush()
    finally:
        ctx.close()
    shown = montage_rows(evolution)
    assert len(shown) == samples.MONTAGE_MAX_ROWS == 16
    assert shown == samples.montage_epochs(list(range(1, 41)), 16)
    assert shown[0] == 1 and shown[-1] == 40 and shown == sorted(shown)
    assert max(np.diff(shown)) - min(np.diff(shown)) <= 1  # evenly spread


def test_a_resumed_run_keeps_its_rows_and_drops_those_past_its_checkpoint(store, settings):
    first = make_ctx(store, settings, epochs=9, pictures_every=1)
    try:
        train_epochs(monitor(first), 1, 6)  # killed after epoch 6, its checkpoint after epoch 4
    finally:
        first.close()
    assert len(row_files(first)) == 6
    second = make_ctx(store, settings, epochs=9, run_id=first.run_id, pictures_every=1)  # the next attempt
    watcher = monitor(second)
    try:
        watcher.model.epoch = 5
        watcher.on_epoch_begin(4)  # fit(initial_epoch=4)
        assert sorted(row_files(second)) == [f"epoch_{e:06d}.npy" for e in range(1, 5)]
        watcher.on_epoch_end(4)
        train_epochs(watcher, 6, 9)
        second.flush()
    finally:
        second.close()
    assert montage_rows(Path(second.files.location(samples.EVOLUTION))) == list(range(1, 10))


@pytest.mark.parametrize("every, drawn", [(3, [3, 6, 9, 10]), (4, [4, 8, 10]), (1, list(range(1, 11)))])
def test_pictures_every_k_draws_at_k_2k_and_the_last_epoch(store, settings, every, drawn):
    ctx = make_ctx(store, settings, epochs=10, pictures_every=every)
    watcher = monitor(ctx)
    try:
        train_epochs(watcher, 1, 10)
        ctx.flush()
    finally:
        ctx.close()
    grids = sorted(ctx.files.list("images/samples"))
    assert grids == [f"images/samples/epoch_{e:03d}.png" for e in drawn]
    assert watcher.drawn == drawn
    assert montage_rows(Path(ctx.files.location(samples.EVOLUTION))) == drawn
    assert sorted(row_files(ctx)) == [f"epoch_{e:06d}.npy" for e in drawn]


def test_pictures_every_takes_auto_and_refuses_a_negative(store, settings):
    from latentq.errors import UserError
    from latentq.spec import build_spec

    spec = build_spec(kind="train", recipe="vae", dataset="digits", epochs=1, params={"pictures_every": "auto"})
    assert spec.recipe_params().pictures_every == 0
    with pytest.raises(UserError, match="pictures_every"):
        build_spec(kind="train", recipe="dcgan", dataset="digits", epochs=1, params={"pictures_every": "-2"})


def test_tensorboard_holds_one_sample_grid_per_epoch_and_the_montage_once(train_digits, settings):
    import tensorflow as tf
    from tensorboard.backend.event_processing import event_accumulator

    epochs = 4
    status = train_digits("gan", epochs=epochs, batch_size=256, eval_every=0, eval_samples=100, pictures_every=1)
    assert status["status"] == "succeeded", status["error"]
    logdir = settings.run_dir(status["id"]) / "tensorboard"
    acc = event_accumulator.EventAccumulator(str(logdir), size_guidance={event_accumulator.TENSORS: 0})
    acc.Reload()
    assert [e.step for e in acc.Tensors("samples")] == list(range(1, epochs + 1))  # once each
    montage = acc.Tensors("images/evolution")
    assert len(montage) == 1
    width, height = (int(v) for v in tf.make_ndarray(montage[0].tensor_proto)[:2])
    rows = np.zeros((epochs * samples.MONTAGE_COLS, 8, 8), "float32")  # digits are 8x8
    assert (height, width) == pictures.grid(rows, samples.MONTAGE_COLS).shape[:2]  # every epoch's row, once
    assert status["metrics"]["pictures_dropped"] >= 0  # recorded with the timings (step 0)
    assert len(artifact_paths(status, "montage")) == 1
    rows = sorted(p.name for p in (settings.run_dir(status["id"]) / "checkpoints" / "montage").glob("*.npy"))
    assert rows == [f"epoch_{e:06d}.npy" for e in range(1, epochs + 1)]
