"""The GAN recipes: networks, the two-phase train step, saving, the monitors, and whole runs."""

from __future__ import annotations

import contextlib

import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest

import latentq.models  # noqa: F401  (registers the custom objects)
from latentq import pictures
from latentq.models import samples
from latentq.models.gan import model as gan
from latentq.models.gan import builders as gan_builders
from latentq.models.gan import monitors as gan_monitors
from latentq.recipes.gans import DCGANParams, DenseGANParams
from latentq.runtime.timings import Timings
from support import artifact_paths, cli

GAN_METRICS = ("loss", "val_loss", "d_loss", "g_loss", "d_real_accuracy", "d_fake_accuracy")
QUALITY_METRICS = ("fcd", "class_coverage", "class_kl", "mode_collapse")


def weights(variables) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(v).copy() for v in variables]


def same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def tiny_dense(shape=(8, 8), **params) -> gan.GAN:
    p = DenseGANParams(codings=4, **params)
    return gan.compile_gan(gan_builders.build_dense_gan(p, shape, seed=0), p)


# ---- networks ------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape, plan", [
    ((28, 28), (2, (7, 7))),
    ((8, 8), (2, (2, 2))),
    ((32, 32, 3), (3, (4, 4))),
    ((30, 30), (2, (8, 8))),
    ((5, 7), (1, (3, 4))),
])
def test_dcgan_networks_fit_the_image_size(shape, plan):
    assert gan_builders.upsampling_plan(shape[0], shape[1]) == plan
    params = DCGANParams(codings=3, filters=2, kernel_size=3)
    model = gan_builders.build_dcgan(params, shape, seed=0)
    assert model.generator.output_shape == (None, *shape)
    assert model.discriminator.output_shape == (None, 1)
    images = keras.ops.convert_to_numpy(model.generator(np.random.default_rng(0).normal(size=(4, 3)), training=False))
    assert images.shape == (4, *shape) and images.min() >= 0.0 and images.max() <= 1.0  # tanh mapped to [0, 1]


def test_gan_checks_its_networks():
    p = DenseGANParams(codings=4)
    model = gan_builders.build_dense_gan(p, (8, 8))
    with pytest.raises(ValueError, match="Received: codings=5"):
        gan.GAN(model.generator, model.discriminator, codings=5)
    other = gan_builders.build_dense_gan(p, (6, 6))
    with pytest.raises(ValueError, match="Received: discriminator="):
        gan.GAN(model.generator, other.discriminator, codings=4)
    with pytest.raises(ValueError, match="Received: the same optimizer"):
        opt = keras.optimizers.RMSprop()
        model.compile(d_optimizer=opt, g_optimizer=opt)


# ---- the two phases ------------------------------------------------------------------------------


@pytest.mark.parametrize("build", ["gan", "dcgan"])
def test_each_phase_updates_one_network(build):
    if build == "gan":
        model = tiny_dense(minibatch_discrimination=True)
    else:
        p = DCGANParams(codings=4, filters=4, kernel_size=3)
        model = gan.compile_gan(gan_builders.build_dcgan(p, (8, 8), seed=0), p)
    real = np.random.default_rng(0).random((16, 8, 8)).astype("float32")
    g0, d0 = weights(model.generator.trainable_weights), weights(model.discriminator.weights)

    model.generator_step(16)  # phase 2: gradients through the discriminator into the generator only
    g1, d1 = weights(model.generator.trainable_weights), weights(model.discriminator.weights)
    assert same(d0, d1), "phase 2 changed the discriminator"
    assert not same(g0, g1), "phase 2 did not train the generator"
    assert int(model.g_optimizer.iterations) == 1 and int(model.d_optimizer.iterations) == 0

    model.discriminator_step(real)  # phase 1: the discriminator only
    g2, d2 = weights(model.generator.trainable_weights), weights(model.discriminator.weights)
    assert same(g1, g2), "phase 1 changed the generator's weights"
    assert not same(d1, d2), "phase 1 did not train the discriminator"
    assert int(model.d_optimizer.iterations) == 1


def test_fit_logs_both_phases_and_validation():
    model = tiny_dense()
    rng = np.random.default_rng(1)
    history = model.fit(rng.random((96, 8, 8)), epochs=2, batch_size=32, verbose=0,
                        validation_data=(rng.random((40, 8, 8)),)).history
    for name in GAN_METRICS + ("val_d_real_accuracy", "val_d_fake_accuracy"):
        assert len(history[name]) == 2 and np.all(np.isfinite(history[name])), name
    assert history["loss"] == history["d_loss"]
    assert all(0.0 <= a <= 1.0 for a in history["d_real_accuracy"] + history["d_fake_accuracy"])
    assert int(model.d_optimizer.iterations) == int(model.g_optimizer.iterations) == 6  # one of each per batch


@pytest.mark.parametrize("loss", ["bce", "hinge"])
def test_held_out_scores_are_the_loss_and_accuracies_of_every_image(loss):
    model = tiny_dense(loss=loss)
    rng = np.random.default_rng(2)
    real = rng.random((300, 8, 8)).astype(np.float32)  # more than one eager batch
    codings = rng.standard_normal((300, 4)).astype(np.float32)
    scores = model.held_out_scores(real, codings, batch_size=128)

    d = model.discriminator.predict(real, verbose=0)[:, 0].astype(np.float64)
    f = model.discriminator.predict(model.generator.predict(codings, verbose=0), verbose=0)[:, 0].astype(np.float64)
    if loss == "bce":
        eps = 1e-7
        expected = 0.5 * (np.mean(-np.log(np.clip(d, eps, 1))) + np.mean(-np.log(np.clip(1 - f, eps, 1))))
        threshold = 0.5
    else:
        expected = np.mean(np.maximum(0, 1 - d)) + np.mean(np.maximum(0, 1 + f))
        threshold = 0.0
    assert scores["loss"] == pytest.approx(expected, rel=1e-4)
    assert scores["d_real_accuracy"] == pytest.approx(np.mean(d > threshold))
    assert scores["d_fake_accuracy"] == pytest.approx(np.mean(f <= threshold))


def test_saved_gan_keeps_replay_buffer_and_optimizer_state(tmp_path):
    model = tiny_dense(replay_size=50, replay_fraction=0.5)
    model.fit(np.random.default_rng(2).random((64, 8, 8)), epochs=1, batch_size=16, verbose=0)
    assert int(model.replay.filled) == 50 and int(model.replay.position) == 14  # 64 fakes through a ring of 50
    path = tmp_path / "gan.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, gan.GAN) and loaded.codings == 4 and loaded.replay_size == 50
    assert same(weights(model.weights), weights(loaded.weights))  # networks, buffer, seed state
    assert same(weights(model.d_optimizer.variables), weights(loaded.d_optimizer.variables))
    assert same(weights(model.g_optimizer.variables), weights(loaded.g_optimizer.variables))
    assert int(loaded.g_optimizer.iterations) == 4
    assert isinstance(loaded.d_optimizer, keras.optimizers.RMSprop)
    assert loaded.steps_per_execution == 32 and loaded.get_compile_config()["jit_compile"] == "auto"  # the recipe's
    loaded.fit(np.random.default_rng(3).random((32, 8, 8)), epochs=1, batch_size=16, verbose=0)  # and trains on
    assert int(loaded.d_optimizer.iterations) == 6 and int(loaded.replay.position) == 46


# ---- the mode-collapse alarm ---------------------------------------------------------------------


def test_mode_collapse_watcher():
    watcher = gan_monitors.ModeCollapseWatcher(threshold=0.8)
    assert watcher.update(1, 0.5) is None and not watcher.collapsed  # never was above: not a collapse
    assert watcher.update(2, 0.8) is None and watcher.update(3, 0.7) is None  # at it is not above it
    assert watcher.update(2, 0.9) is None
    message = watcher.update(3, 0.6)
    assert watcher.collapsed and "epoch 3" in message and "0.600" in message
    assert watcher.update(4, 0.4) is None and watcher.collapsed  # one warning per collapse
    assert watcher.update(5, 0.85) is None and not watcher.collapsed
    resumed = gan_monitors.ModeCollapseWatcher.from_history(
        0.8, {"class_coverage": [0.9, 0.6], "mode_collapse": [0, 1]})
    assert resumed.best == 0.9 and resumed.collapsed


def test_mode_collapse_watcher_on_recall():
    watcher = gan_monitors.ModeCollapseWatcher(threshold=0.5)
    assert watcher.update(1, 0.9, recall=0.08) is None and watcher.update(2, 0.9, recall=0.03) is None  # never reached the floor
    assert watcher.update(3, 0.9, recall=0.4) is None and watcher.update(4, 0.9, recall=0.25) is None  # above half its best
    message = watcher.update(5, 0.9, recall=0.15)  # coverage unchanged: recall alone tells
    assert watcher.collapsed and "recall fell to 0.150" in message and "0.400" in message
    assert watcher.update(6, 0.9, recall=0.1) is None and watcher.collapsed
    assert watcher.update(7, 0.9, recall=0.3) is None and not watcher.collapsed
    resumed = gan_monitors.ModeCollapseWatcher.from_history(0.5, {"class_coverage": [0.9], "recall": [0.4, 0.1]})
    assert resumed.best_recall == 0.4
    assert resumed.update(3, 0.9, recall=0.1) is not None


def test_quality_monitor_records_collapse(monkeypatch):
    recorded, events = [], []
    ctx = SimpleNamespace(
        spec=SimpleNamespace(epochs=5, seed=0), timings=Timings(0.0),
        history=lambda *names: {}, phase=lambda name: contextlib.nullcontext(),
        record=lambda step, **values: recorded.append((step, values)),
        event=lambda level, message: events.append((level, message)),
    )
    coverage = iter([0.9, 0.3, 0.95])
    monkeypatch.setattr(gan_monitors, "evaluate", lambda ctx, images: {"class_coverage": next(coverage), "fcd": 1.0})
    monitor = gan_monitors.QualityMonitor(ctx, every=2, noise=np.zeros((3, 2), "float32"), threshold=0.8,
                                          sample_fn=lambda model, noise: np.zeros((3, 8, 8), "float32"))
    monitor.set_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    for epoch in range(5):
        monitor.on_epoch_end(epoch)
    flags = {step: values["mode_collapse"] for step, values in recorded if "mode_collapse" in values}
    assert flags == {2: 0.0, 4: 1.0, 5: 0.0}  # every 2 epochs and after the last
    assert [level for level, _ in events] == ["warning"] and "mode collapse at epoch 4" in events[0][1]


def test_quality_monitor_on_unlabelled_data_says_so_once(monkeypatch):
    recorded, events, calls = [], [], []
    ctx = SimpleNamespace(spec=SimpleNamespace(epochs=3, seed=0, dataset="npz:x.npz"), history=lambda *names: {},
                          timings=Timings(0.0), phase=lambda name: contextlib.nullcontext(),
                          record=lambda step, **values: recorded.append(step),
                          event=lambda level, message: events.append((level, message)))
    monkeypatch.setattr(gan_monitors, "evaluate", lambda ctx, images: calls.append(1) or {})
    monitor = gan_monitors.QualityMonitor(ctx, every=1, noise=np.zeros((3, 2), "float32"), threshold=0.7,
                                          sample_fn=lambda model, noise: np.zeros((3, 8, 8), "float32"))
    monitor.set_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    for epoch in range(3):
        monitor.on_epoch_end(epoch)
    assert len(calls) == 1 and not recorded
    assert len(events) == 1 and events[0][0] == "info" and "no class labels" in events[0][1]


# ---- whole runs through the job function ---------------------------------------------------------


def png_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        return image.size


SMALL_DCGAN = dict(filters=8, kernel_size=3, codings=8)
OPTIONS = dict(replay_size=200, replay_fraction=0.5, minibatch_discrimination="true", mbd_kernels=4)


def grid_size(n: int, cols: int, sample_shape: tuple[int, int]) -> tuple[int, int]:
    """(width, height) of the PNG of n samples tiled in cols columns (pad and enlargement included)."""
    height, width = pictures.grid(np.zeros((n, *sample_shape), "float32"), cols).shape[:2]
    return width, height


# One end-to-end run per recipe; the second also covers each option (replay buffer, minibatch discrimination).
@pytest.mark.parametrize("recipe, params", [
    ("gan", {}),
    ("dcgan", {**SMALL_DCGAN, **OPTIONS}),
], ids=["gan", "dcgan-replay-mbd"])
def test_recipe_trains_and_records(train_digits, store, settings, recipe, params):
    status = train_digits(recipe, epochs=2, batch_size=64, eval_samples=200, **params)
    assert status["status"] == "succeeded", status["error"]
    metrics = status["metrics"]
    for name in GAN_METRICS + QUALITY_METRICS + ("params", "samples_per_second"):
        assert np.isfinite(metrics[name]), name
    history = {}
    for m in store.metrics(status["id"]):
        history.setdefault(m.name, {})[m.step] = m.value
    assert set(history["d_loss"]) == set(history["g_loss"]) == set(history["val_loss"]) == {1, 2}
    assert set(history["class_coverage"]) == {1, 2}  # the first epoch (its cost measured) and the last
    assert 0.0 <= metrics["class_coverage"] <= 1.0 and metrics["fcd"] >= 0.0

    grids = sorted(p.name for p in artifact_paths(status, "samples"))
    assert grids == ["epoch_001.png", "epoch_002.png", "samples.png"]
    for path in artifact_paths(status, "samples"):  # 64 fixed-noise samples of 8x8 digits, 8 a row
        assert png_size(path) == grid_size(samples.SAMPLE_GRID, 8, (8, 8)), path.name
    (montage,) = artifact_paths(status, "montage")
    width, height = png_size(montage)
    assert width > 3 * height  # 8 samples per row, 2 rows (one per epoch)
    assert artifact_paths(status, "model") and artifact_paths(status, "loss_curve")
    assert sorted(p.name for p in artifact_paths(status, "quality_curve")) == ["coverage.png", "fcd.png",
                                                                              "precision_recall.png"]
    assert 0.0 <= metrics["precision"] <= 1.0 and 0.0 <= metrics["recall"] <= 1.0

    checkpoint = keras.models.load_model(settings.run_dir(status["id"]) / "checkpoints" / "latest.keras")
    assert int(checkpoint.d_optimizer.iterations) == 2 * int(np.ceil(1617 / 64))  # digits' training split
    if "replay_size" in params:
        assert int(checkpoint.replay.filled) == 200  # the buffer is in the checkpoint


def test_dcgan_generator_loads_in_a_fresh_process_and_generates(train_digits, settings, store):
    status = train_digits("dcgan", epochs=1, batch_size=64, eval_every=0, eval_samples=100, **SMALL_DCGAN)
    assert status["status"] == "succeeded", status["error"]
    (model_path,) = artifact_paths(status, "model")
    script = (
        "import sys, json, numpy as np, keras, latentq.models\n"
        "g = keras.models.load_model(sys.argv[1], compile=False).get_layer('generator')\n"
        "x = keras.ops.convert_to_numpy(g(np.random.default_rng(0).normal(size=(5, 8)).astype('float32')))\n"
        "print(json.dumps({'shape': list(x.shape), 'min': float(x.min()), 'max': float(x.max())}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(model_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["shape"] == [5, 8, 8] and 0.0 <= result["min"] <= result["max"] <= 1.0

    gen = cli("generate", status["id"], "--n", "6", "--fid", "--local", "--json")
    assert gen.returncode == 0, gen.stdout[-1000:] + gen.stderr[-2000:]
    generated = json.loads(gen.stdout)
    assert generated["status"] == "succeeded"
    (picture,) = artifact_paths(generated, "samples")
    assert png_size(picture) == grid_size(6, 3, (8, 8))  # 6 samples, 3 a row
    assert np.isfinite(generated["metrics"]["fcd"]) and np.isfinite(generated["metrics"]["recall"])
    # an offline machine: one line says why there is no FID, and the job still succeeds
    if "fid" not in generated["metrics"]:
        lines = [e.message for e in store.events(generated["id"]) if e.message.startswith("FID skipped")]
        assert len(lines) == 1 and "\n" not in lines[0]


def test_a_resumed_run_continues_with_its_buffer_optimizer_and_montage(train_digits, store, settings):
    """Attempt 2 starts from attempt 1's checkpoint folder: the replay ring goes on where it was
    (1,617 fakes an epoch through 200 slots: position 17, then 34), so do the optimizer's steps and
    the generator EMA (never reset to the raw generator: it has seen both epochs' images)."""
    from latentq.spec import build_spec
    from latentq.worker.jobs import execute_run

    params = {"replay_size": 200, "eval_every": 0, "eval_samples": 100, "ema": 500}
    first = train_digits("gan", epochs=1, batch_size=64, **params)
    assert first["status"] == "succeeded", first["error"]
    spec = build_spec(kind="train", recipe="gan", dataset="digits", epochs=2, batch_size=64,
                      params={k: str(v) for k, v in params.items()})
    run_id, _ = store.create_run(spec.model_dump(mode="json"))
    shutil.copytree(settings.run_dir(first["id"]) / "checkpoints", settings.run_dir(run_id) / "checkpoints")
    status = execute_run(run_id, settings)
    assert status["status"] == "succeeded", status["error"]
    assert status["resumed_from_epoch"] == 1
    model = keras.models.load_model(settings.run_dir(run_id) / "model.keras")
    assert int(model.replay.position) == 34 and int(model.replay.filled) == 200
    assert int(model.d_optimizer.iterations) == 2 * 26
    assert float(model.ema.images_seen) == 2 * 1617
    checkpointed = keras.models.load_model(settings.run_dir(first["id"]) / "checkpoints" / "latest.keras")
    assert float(checkpointed.ema.images_seen) == 1617
    (montage,) = artifact_paths(status, "montage")
    width, height = png_size(montage)
    assert 3 * height < width < 5 * height  # two rows: epoch 1 (from attempt 1) and epoch 2
