"""ProGAN: sizes and the growth plan, the networks at each stage, growing and fading in, saving
mid-fade, and whole runs (growing through two resolutions, resuming mid-stage, generating)."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

import latentq.models  # noqa: F401  (registers the custom objects)
from latentq.models.gan.progressive import canvas
from latentq.models.gan.progressive.canvas import Frame
from latentq.models.gan.progressive.growth import GrowthPlan
from latentq.models.gan.progressive.model import ProGAN
from support import artifact_paths, cli

GAN_METRICS = ("loss", "val_loss", "d_loss", "g_loss", "d_real_accuracy", "d_fake_accuracy")


def np_(x) -> np.ndarray:
    return keras.ops.convert_to_numpy(x)


def weights(variables) -> list[np.ndarray]:
    return [np_(v).copy() for v in variables]


def tiny(shape=(8, 8), **kw) -> ProGAN:
    model = ProGAN(shape, 4, filters=4, seed=0, **kw)
    model.compile(d_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.0),
                  g_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.0))
    return model


# ---- sizes and the plan --------------------------------------------------------------------------


@pytest.mark.parametrize("shape, size", [((28, 28), 32), ((8, 8), 8), ((32, 32, 3), 32), ((5, 7), 8), ((3, 3), 4)])
def test_canvas_is_the_next_power_of_two(shape, size):
    assert Frame.of(shape).size == size


def test_resolutions_and_filters():
    assert canvas.stage_resolutions(4, 32) == [4, 8, 16, 32]
    assert canvas.stage_resolutions(8, 8) == [8]
    assert [canvas.stage_filters(64, r) for r in (4, 8, 16, 32, 64)] == [64, 64, 32, 16, 8]
    assert canvas.stage_filters(64, 1024) == 8 and canvas.stage_filters(4, 32) == 4
    with pytest.raises(ValueError, match="Received: start=6"):
        canvas.stage_resolutions(6, 32)


def test_growth_plan_splits_the_epochs_or_follows_epochs_per_stage():
    even = GrowthPlan.make([4, 8, 16, 32], epochs=8, epochs_per_stage=None, fade_in=0.5)
    assert [even.resolution_at(e) for e in range(8)] == [4, 4, 8, 8, 16, 16, 32, 32]
    assert even.fade_epochs == (0.0, 1.0, 1.0, 1.0)
    assert [e for e in range(8) if even.ends_stage(e)] == [1, 3, 5, 7]
    short = GrowthPlan.make([4, 8, 16, 32], epochs=2, epochs_per_stage=None, fade_in=1.0)
    assert [short.resolution_at(e) for e in range(2)] == [8, 32] and short.final_reached  # skips stages
    fixed = GrowthPlan.make([4, 8], epochs=5, epochs_per_stage=2, fade_in=0.25)
    assert [fixed.resolution_at(e) for e in range(5)] == [4, 4, 8, 8, 8]  # the last stage trains to the end
    assert fixed.fade_epochs == (0.0, 0.5)
    assert not GrowthPlan.make([4, 8, 16], epochs=3, epochs_per_stage=2, fade_in=0.5).final_reached


# ---- the networks --------------------------------------------------------------------------------


def test_every_stage_keeps_the_gan_contract_and_crops_back():
    model = ProGAN((28, 28), 5, filters=4, seed=0)
    z = np.random.default_rng(0).normal(size=(3, 5)).astype("float32")
    assert model.resolutions == [4, 8, 16, 32]
    for resolution in model.resolutions:
        model.grow(resolution)
        images = np_(model.get_layer("generator")(z))
        assert images.shape == (3, 28, 28) and 0.0 <= images.min() <= images.max() <= 1.0
        assert model.discriminator.input_shape == (None, 28, 28) and model.discriminator.output_shape == (None, 1)
        block = 32 // resolution  # the stage's pixels, upsampled (nearest) to 32x32 and cropped by 2
        padded = np.pad(images, ((0, 0), (2, 2), (2, 2)), constant_values=np.nan)
        tiles = padded.reshape(3, resolution, block, resolution, block)
        with warnings.catch_warnings():  # tiles wholly in the cropped margin are all-NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            spread = np.nanmax(tiles, axis=(2, 4)) - np.nanmin(tiles, axis=(2, 4))
        assert np.all(np.nan_to_num(spread) == 0.0)
    assert [layer.name for layer in model.layers].count("generator") == 1  # old wirings are dropped


def test_grow_wires_the_blocks_of_the_stage_and_keeps_the_gan_checks():
    model = tiny()
    assert model.resolution == 4 and model.stage == 0
    names = {layer.name for layer in model.generator.layers}
    assert {"g_block_4", "to_rgb_4"} <= names and "g_block_8" not in names
    model.grow(8, fade_steps=10)
    g_names = {layer.name for layer in model.generator.layers}
    d_names = {layer.name for layer in model.discriminator.layers}
    assert {"g_block_4", "g_block_8", "to_rgb_4", "to_rgb_8", "g_fade"} <= g_names
    assert {"from_rgb_4", "from_rgb_8", "d_block_8", "d_block_4", "d_fade"} <= d_names
    assert model.get_layer("generator") is model.generator
    assert float(model.alpha) == 0.0 and float(model.g_fade.alpha) == 0.0 and float(model.fade_steps) == 10
    # alpha 0: the new stage shows only the old one's image, upsampled: 2x2 blocks of one value
    images = np_(model.generator(np.random.default_rng(1).normal(size=(2, 4)).astype("float32")))
    np.testing.assert_allclose(images[:, ::2, ::2], images[:, 1::2, 1::2], atol=1e-6)
    with pytest.raises(ValueError, match="Received: resolution=16"):
        model.grow(16)
    with pytest.raises(ValueError, match="Received: fade_steps=-1"):
        model.grow(8, fade_steps=-1)
    with pytest.raises(ValueError, match="Received: start_resolution=16"):
        ProGAN((8, 8), 4, start_resolution=16)
    with pytest.raises(ValueError, match="Received: codings=0"):
        ProGAN((8, 8), 0)


def test_train_step_fades_in_and_each_phase_trains_the_stage_blocks():
    model = tiny()
    x = np.random.default_rng(2).random((64, 8, 8)).astype("float32")
    model.fit(x, epochs=1, batch_size=16, verbose=0)
    model.grow(8, fade_steps=8)
    new_block = weights(model.get_layer("generator").get_layer("g_block_8").trainable_weights)
    history = model.fit(x, epochs=3, batch_size=16, verbose=0).history  # 4 steps an epoch
    assert history["alpha"] == [0.5, 1.0, 1.0] and history["resolution"] == [8.0] * 3
    assert all(np.isfinite(history[name]).all() for name in ("d_loss", "g_loss"))
    assert float(model.stage_step) == 12
    assert not np.allclose(new_block[0], np_(model.generator.get_layer("g_block_8").trainable_weights[0]))
    # the optimizers were built once on every block, and each phase only moved its own network
    assert int(model.d_optimizer.iterations) == int(model.g_optimizer.iterations) == 16


def test_saved_mid_fade_it_reloads_at_its_stage_and_goes_on(tmp_path):
    model = tiny()
    model.grow(8, fade_steps=8)
    x = np.random.default_rng(3).random((64, 8, 8)).astype("float32")
    model.fit(x, epochs=1, batch_size=16, verbose=0)  # alpha 0.5
    path = tmp_path / "progan.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, ProGAN) and loaded.resolution == 8 and loaded.stage == 1
    assert float(loaded.alpha) == float(loaded.g_fade.alpha) == float(loaded.d_fade.alpha) == 0.5
    assert float(loaded.stage_step) == 4 and float(loaded.fade_steps) == 8
    for a, b in zip(weights(model.weights), weights(loaded.weights)):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(weights(model.g_optimizer.variables), weights(loaded.g_optimizer.variables)):
        np.testing.assert_array_equal(a, b)
    z = np.random.default_rng(4).normal(size=(3, 4)).astype("float32")
    np.testing.assert_allclose(np_(loaded.get_layer("generator")(z)), np_(model.generator(z)), atol=1e-6)
    history = loaded.fit(x, epochs=1, batch_size=16, verbose=0).history
    assert history["alpha"] == [1.0] and int(loaded.g_optimizer.iterations) == 8


# ---- whole runs ----------------------------------------------------------------------------------


SMALL = dict(filters=4, codings=8, eval_samples=200)


def history(store, run_id: str) -> dict[str, dict[int, float]]:
    series: dict[str, dict[int, float]] = {}
    for m in store.metrics(run_id):
        series.setdefault(m.name, {})[m.step] = m.value
    return series


def png_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        return image.size


def test_a_run_grows_through_two_resolutions_and_generates(train_digits, store):
    status = train_digits("progan", epochs=2, batch_size=64, fade_in=0.5, **SMALL)
    assert status["status"] == "succeeded", status["error"]
    series = history(store, status["id"])
    assert series["resolution"] == {1: 4.0, 2: 8.0}
    assert series["alpha"] == {1: 1.0, 2: 1.0}  # the 8x8 stage faded in over its first half
    for name in GAN_METRICS + ("fcd", "class_coverage"):
        assert set(series[name]) >= {1, 2} and all(np.isfinite(list(series[name].values()))), name
    stages = sorted(p.name for p in artifact_paths(status, "stage_samples"))
    assert stages == ["res_004.png", "res_008.png"]
    assert all(png_size(p)[0] > 0 for p in artifact_paths(status, "stage_samples"))
    events = [e.message for e in store.events(status["id"])]
    assert any("grew to 8x8, fading in over 13 steps" in m for m in events), events  # 26 steps an epoch

    gen = cli("generate", status["id"], "--n", "6", "--local", "--json")  # a fresh process loads model.keras
    assert gen.returncode == 0, gen.stdout[-1000:] + gen.stderr[-2000:]
    generated = json.loads(gen.stdout)
    assert generated["status"] == "succeeded"
    (samples,) = artifact_paths(generated, "samples")
    assert png_size(samples)[0] > 0 and np.isfinite(generated["metrics"]["fcd"])


def test_a_resumed_run_continues_mid_fade(train_digits, store, settings):
    """Attempt 1 stops after epoch 3 halfway through the 8x8 fade-in; attempt 2 (the same
    checkpoint, 4 epochs) goes on at 8x8 from alpha 0.5, not from a fresh stage."""
    from latentq.spec import build_spec
    from latentq.worker.jobs import execute_run

    params = {**SMALL, "epochs_per_stage": 2, "fade_in": 1.0, "eval_every": 0}
    first = train_digits("progan", epochs=3, batch_size=64, **params)
    assert first["status"] == "succeeded", first["error"]
    assert history(store, first["id"])["alpha"][3] == pytest.approx(0.5)
    checkpoint = keras.models.load_model(settings.run_dir(first["id"]) / "checkpoints" / "latest.keras")
    assert checkpoint.resolution == 8 and float(checkpoint.alpha) == pytest.approx(0.5)

    spec = build_spec(kind="train", recipe="progan", dataset="digits", epochs=4, batch_size=64,
                      params={k: str(v) for k, v in params.items()})
    run_id, _ = store.create_run(spec.model_dump(mode="json"))
    shutil.copytree(settings.run_dir(first["id"]) / "checkpoints", settings.run_dir(run_id) / "checkpoints")
    status = execute_run(run_id, settings)
    assert status["status"] == "succeeded", status["error"]
    assert status["resumed_from_epoch"] == 3
    series = history(store, run_id)
    assert series["resolution"] == {4: 8.0} and series["alpha"] == {4: 1.0}
    assert not any("grew to" in e.message for e in store.events(run_id))  # it was at its stage already


def test_start_resolution_must_fit_the_images(train):
    status = train("progan", dataset="digits", epochs=1, start_resolution=16, filters=4)
    assert status["status"] == "failed"
    assert "start_resolution=16" in status["error"] and "allowed: 4, 8" in status["error"]
    bad = cli("run", "progan", "--set", "start_resolution=12", "--dry-run")
    assert bad.returncode != 0 and "power of two" in (bad.stdout + bad.stderr)
