"""StyleGAN: the mapping and synthesis networks, style mixing, the style-mixing picture, saving,
and a whole run that trains with mixing on, records its metrics and pictures, and generates;
growing progressively (grow=true): the stages, the fade-in, saving mid-fade, a run through two
resolutions that generates, and a run resumed mid-fade."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

import latentq.models  # noqa: F401  (registers the custom objects)
from latentq.models.gan import model as gan
from latentq.models.gan.stylegan import recipes as stylegan
from latentq.models.gan.stylegan.model import GrowingStyleGAN, StyleGAN
from latentq.models.gan.stylegan.sampling import style_mixing_grid
from latentq.recipes.gans import StyleGANParams
from support import artifact_paths, cli

GAN_METRICS = ("loss", "val_loss", "d_loss", "g_loss", "d_real_accuracy", "d_fake_accuracy")


def np_(x) -> np.ndarray:
    return keras.ops.convert_to_numpy(x)


def tiny(shape=(8, 8), **params) -> StyleGAN:
    p = StyleGANParams(**{"codings": 4, "w_dim": 4, "filters": 4, "mapping_layers": 2, **params})
    return gan.compile_gan(stylegan.build_stylegan(p, shape, seed=0), p)


def tiny_growing(shape=(8, 8), **params) -> GrowingStyleGAN:
    return tiny(shape, grow=True, **params)


def codings(n: int, seed: int = 0, size: int = 4) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, size)).astype("float32")


# ---- the networks --------------------------------------------------------------------------------


@pytest.mark.parametrize("shape, styles", [((8, 8), 4), ((28, 28), 8), ((32, 32, 3), 8)])
def test_generator_is_mapping_then_synthesis_with_two_styles_per_resolution(shape, styles):
    model = tiny(shape, mapping_layers=3)
    assert model.num_styles == styles and len(model.synthesis.inputs) == styles
    dense = [l for l in model.mapping.layers if type(l).__name__ == "EqualizedDense"]
    assert len(dense) == 3 and all(l.lr_multiplier == 0.01 for l in dense)
    kinds = [type(l).__name__ for l in model.synthesis.layers]
    assert kinds.count("NoiseInjection") == kinds.count("AdaIN") == styles and "ConstantInput" in kinds
    images = np_(model.get_layer("generator")(codings(3)))
    assert images.shape == (3, *shape) and 0.0 <= images.min() <= images.max() <= 1.0
    assert model.discriminator.output_shape == (None, 1)
    d_kinds = [type(l).__name__ for m in model.discriminator.layers if isinstance(m, keras.Model) for l in m.layers]
    assert "MinibatchStdDev" in d_kinds  # ProGAN's discriminator


def test_stylegan_checks_its_arguments():
    model = tiny()
    with pytest.raises(ValueError, match="Received: mixing_prob=1.5"):
        StyleGAN(model.generator, model.discriminator, 4, mixing_prob=1.5)
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(64), keras.layers.Reshape((8, 8))],
                             name="generator")
    with pytest.raises(ValueError, match="Received: generator with layers"):
        StyleGAN(plain, model.discriminator, 4)


def test_mixed_styles_switch_from_w1_to_w2_at_a_random_layer():
    model = tiny(mixing_prob=1.0)
    z = codings(64, seed=1)
    w1 = np_(model.mapping(z))
    styles = [np_(s) for s in model.mixed_styles(z)]
    assert len(styles) == 4
    from_z = np.stack([np.all(np.isclose(s, w1), axis=1) for s in styles], axis=1)  # (n, layers)
    crossover = from_z.sum(axis=1)
    assert np.all(from_z == (np.arange(4)[None, :] < crossover[:, None]))  # w1 first, then w2 only
    assert set(crossover) == {1, 2, 3}  # every crossover 1 .. L-1 drawn, never all w1 or all w2

    never = tiny(mixing_prob=0.0)
    assert all(np.allclose(np_(s), np_(never.mapping(z))) for s in never.mixed_styles(z))
    half = tiny(mixing_prob=0.5)
    last = np_(half.mixed_styles(z)[-1])
    share = 1.0 - np.mean(np.all(np.isclose(last, np_(half.mapping(z))), axis=1))
    assert 0.25 < share < 0.75  # about half the samples mixed


def test_style_mixing_grid_rows_give_the_coarse_styles_and_columns_the_fine():
    model = tiny()
    a, b = codings(2, seed=2), codings(3, seed=3)
    grid = style_mixing_grid(model, a, b)
    assert grid.shape == (3 * 4, 8, 8)
    rows = grid.reshape(3, 4, 8, 8)
    pure_a, pure_b = np_(model.generator(a)), np_(model.generator(b))
    np.testing.assert_allclose(rows[0, 0], 1.0)  # the blank corner
    np.testing.assert_allclose(rows[0, 1:], np.clip(pure_b, 0, 1), atol=1e-5)
    np.testing.assert_allclose(rows[1:, 0], np.clip(pure_a, 0, 1), atol=1e-5)
    all_a = style_mixing_grid(model, a, b, crossover=4).reshape(3, 4, 8, 8)
    np.testing.assert_allclose(all_a[1:, 1:], np.repeat(all_a[1:, :1], 3, axis=1), atol=1e-5)  # A's styles only
    all_b = style_mixing_grid(model, a, b, crossover=0).reshape(3, 4, 8, 8)
    np.testing.assert_allclose(all_b[1:, 1:], np.repeat(all_b[:1, 1:], 2, axis=0), atol=1e-5)  # B's styles only
    assert not np.allclose(rows[1:, 1:], all_a[1:, 1:], atol=1e-4)  # the half-and-half cells differ from both


def test_training_with_mixing_saves_loads_and_goes_on(tmp_path):
    model = tiny(mixing_prob=0.9)
    x = np.random.default_rng(4).random((64, 8, 8)).astype("float32")
    mapping_before = [np_(v).copy() for v in model.mapping.trainable_weights]
    history = model.fit(x, epochs=1, batch_size=16, verbose=0).history
    assert all(np.isfinite(history[name][0]) for name in ("d_loss", "g_loss", "d_real_accuracy"))
    assert not np.allclose(mapping_before[0], np_(model.mapping.trainable_weights[0]))  # phase 2 reaches w
    scales = [np_(l.scale) for l in model.synthesis.layers if type(l).__name__ == "NoiseInjection"]
    assert any(np.abs(s).max() > 0 for s in scales)  # the noise strengths learn

    path = tmp_path / "stylegan.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, StyleGAN) and loaded.mixing_prob == 0.9 and loaded.num_styles == 4
    z = codings(5, seed=5)
    np.testing.assert_allclose(np_(loaded.get_layer("generator")(z)), np_(model.generator(z)), atol=1e-6)
    for a, b in zip(model.g_optimizer.variables, loaded.g_optimizer.variables):
        np.testing.assert_array_equal(np_(a), np_(b))
    loaded.fit(x, epochs=1, batch_size=16, verbose=0)
    assert int(loaded.g_optimizer.iterations) == 8


# ---- a whole run ---------------------------------------------------------------------------------


def png_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        return image.size


def test_a_run_trains_with_style_mixing_records_and_generates(train, lq_home, quality_cache, store):
    shutil.copytree(quality_cache, lq_home / "cache", dirs_exist_ok=True)
    status = train("stylegan", dataset="digits", epochs=2, batch_size=64, codings=8, w_dim=8, filters=4,
                   mapping_layers=2, mixing_prob=0.9, eval_samples=200)
    assert status["status"] == "succeeded", status["error"]
    series: dict[str, dict[int, float]] = {}
    for m in store.metrics(status["id"]):
        series.setdefault(m.name, {})[m.step] = m.value
    for name in GAN_METRICS + ("fcd", "class_coverage", "class_kl"):
        assert set(series[name]) >= {1, 2} and all(np.isfinite(list(series[name].values()))), name
    assert 0.0 <= status["metrics"]["class_coverage"] <= 1.0
    (mixing,) = artifact_paths(status, "style_mixing")
    width, height = png_size(mixing)
    assert mixing.name == "style_mixing.png" and width > height  # 7 columns by 6 rows
    assert sorted(p.name for p in artifact_paths(status, "samples")) == ["epoch_001.png", "epoch_002.png",
                                                                        "samples.png"]

    gen = cli("generate", status["id"], "--n", "6", "--local", "--json")  # a fresh process loads model.keras
    assert gen.returncode == 0, gen.stdout[-1000:] + gen.stderr[-2000:]
    generated = json.loads(gen.stdout)
    assert generated["status"] == "succeeded"
    (samples,) = artifact_paths(generated, "samples")
    assert png_size(samples)[0] > 0 and np.isfinite(generated["metrics"]["class_coverage"])

    # StyleGAN's generation options: truncation, style mixing with a crossover, w-space interpolation
    from latentq.models.generation import source_for

    run_dir = next(iter(artifact_paths(status, "model"))).parent
    model = keras.models.load_model(run_dir / "model.keras", compile=False)
    assert np.abs(np_(model.w_average.w_avg)).max() > 0  # tracked in training, saved
    average = source_for(model, truncation=0.0).decode(codings(4, seed=1, size=8))
    np.testing.assert_allclose(average, np.repeat(average[:1], 4, axis=0), atol=1e-6)  # psi = 0: the average image
    full = source_for(model, truncation=1.0).decode(codings(4, seed=1, size=8))
    np.testing.assert_allclose(full, np_(model.get_layer("generator")(codings(4, seed=1, size=8))), atol=1e-5)

    pictures = []
    for _ in range(2):  # the same seed twice: the same bytes
        job = cli("generate", status["id"], "--style-mix", "--crossover", "2", "--interpolate", "--truncation", "0.7",
                  "--seed", "3", "--local", "--json")
        assert job.returncode == 0, job.stdout[-1000:] + job.stderr[-2000:]
        done = json.loads(job.stdout)
        assert done["status"] == "succeeded", done.get("error")
        (grid,) = artifact_paths(done, "style_mixing")
        (line,) = artifact_paths(done, "interpolation")
        assert line.name == "interpolation_w.png"
        pictures.append([p.read_bytes() for p in (grid, line, *artifact_paths(done, "samples"))])
    assert pictures[0] == pictures[1]
    bad = cli("generate", status["id"], "--crossover", "2")
    assert bad.returncode == 2 and "--crossover applies to --style-mix only" in bad.stderr
    layers = int(status["metrics"]["style_layers"])  # 8x8 digits: 4x4 and 8x8, two layers each
    runs_before = len(store.list_runs(limit=1000))
    too_far = cli("generate", status["id"], "--style-mix", "--crossover", str(layers), "--local")
    assert too_far.returncode != 0 and f"has {layers} style layers; allowed: 1 to {layers - 1}" in too_far.stderr
    assert "Traceback" not in too_far.stderr and len(store.list_runs(limit=1000)) == runs_before  # nothing created


# ---- growing progressively (grow=true) -----------------------------------------------------------


def test_growing_stages_keep_the_generator_contract_and_fade_in_from_the_previous_rgb():
    model = tiny_growing((28, 28))
    assert isinstance(model, GrowingStyleGAN) and model.resolutions == [4, 8, 16, 32] and model.resolution == 4
    z = codings(3)
    for resolution, styles in ((4, 2), (8, 4), (16, 6), (32, 8)):
        model.grow(resolution)
        assert model.num_styles == styles and len(model.synthesis.inputs) == styles
        images = np_(model.get_layer("generator")(z))
        assert images.shape == (3, 28, 28) and 0.0 <= images.min() <= images.max() <= 1.0
        block = 32 // resolution  # the stage's pixels, upsampled (nearest) to 32x32, cropped by 2
        canvas = np.pad(images, ((0, 0), (2, 2), (2, 2)), mode="edge")[:, ::block, ::block]
        np.testing.assert_allclose(np.repeat(np.repeat(canvas, block, 1), block, 2)[:, 2:30, 2:30], images,
                                   atol=1e-6)
        assert model.discriminator.input_shape == (None, 28, 28) and model.discriminator.output_shape == (None, 1)
    assert [layer.name for layer in model.layers].count("generator") == 1  # old wirings are dropped

    small = tiny_growing()
    small.grow(8, fade_steps=10)
    s_names = {layer.name for layer in small.synthesis.layers}
    d_names = {layer.name for layer in small.discriminator.layers}
    assert {"s_block_4", "s_block_8", "to_rgb_4", "to_rgb_8", "g_fade"} <= s_names
    assert {"from_rgb_4", "from_rgb_8", "d_block_8", "d_block_4", "d_fade"} <= d_names  # ProGAN's blocks
    assert float(small.alpha) == float(small.g_fade.alpha) == 0.0 and float(small.fade_steps) == 10
    faded = np_(small.generator(z))  # alpha 0: only the 4x4 stage's RGB, upsampled: 2x2 blocks of one value
    np.testing.assert_allclose(faded[:, ::2, ::2], faded[:, 1::2, 1::2], atol=1e-6)
    small.set_alpha(1.0)
    assert not np.allclose(np_(small.generator(z))[:, ::2, ::2], np_(small.generator(z))[:, 1::2, 1::2], atol=1e-4)

    grid = style_mixing_grid(small, codings(2, seed=2), codings(3, seed=3))
    assert grid.shape == (3 * 4, 8, 8)  # the current stage's synthesis, its 4 styles split at 2
    with pytest.raises(ValueError, match="Received: resolution=16"):
        small.grow(16)
    with pytest.raises(ValueError, match="Received: start_resolution=16"):
        GrowingStyleGAN((8, 8), 4, w_dim=4, filters=4, start_resolution=16)
    with pytest.raises(ValueError, match="Received: w_dim=0"):
        GrowingStyleGAN((8, 8), 4, w_dim=0)


def test_growing_training_fades_in_saves_mid_fade_reloads_and_goes_on(tmp_path):
    model = tiny_growing(mixing_prob=0.9)
    x = np.random.default_rng(3).random((64, 8, 8)).astype("float32")
    history = model.fit(x, epochs=1, batch_size=16, verbose=0).history
    assert history["resolution"] == [4.0] and history["alpha"] == [1.0]
    model.grow(8, fade_steps=8)
    new_block = np_(model.synthesis.get_layer("s_block_8").trainable_weights[0]).copy()
    history = model.fit(x, epochs=1, batch_size=16, verbose=0).history  # 4 steps: alpha 0.5
    assert history["resolution"] == [8.0] and history["alpha"] == [0.5]
    assert all(np.isfinite(history[name]).all() for name in ("d_loss", "g_loss"))
    assert not np.allclose(new_block, np_(model.synthesis.get_layer("s_block_8").trainable_weights[0]))

    path = tmp_path / "stylegan.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, GrowingStyleGAN) and loaded.resolution == 8 and loaded.num_styles == 4
    assert float(loaded.alpha) == float(loaded.g_fade.alpha) == float(loaded.d_fade.alpha) == 0.5
    assert float(loaded.stage_step) == 4 and float(loaded.fade_steps) == 8 and loaded.mixing_prob == 0.9
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(np_(a), np_(b))
    for a, b in zip(model.g_optimizer.variables, loaded.g_optimizer.variables):
        np.testing.assert_array_equal(np_(a), np_(b))
    z = codings(3, seed=4)
    np.testing.assert_allclose(np_(loaded.get_layer("generator")(z)), np_(model.generator(z)), atol=1e-6)
    history = loaded.fit(x, epochs=1, batch_size=16, verbose=0).history
    assert history["alpha"] == [1.0] and int(loaded.g_optimizer.iterations) == 12


def test_grow_false_ignores_start_resolution_in_the_data_check():
    from latentq.data_checks import check_facts, facts_for
    from latentq.errors import UserError
    from latentq.recipes import get_recipe

    recipe, digits = get_recipe("stylegan"), facts_for("digits")
    check_facts(digits, recipe, StyleGANParams(start_resolution=16))  # fixed resolution: no first stage
    with pytest.raises(UserError, match="start_resolution=16 needs images with a longer side of at least 9"):
        check_facts(digits, recipe, StyleGANParams(start_resolution=16, grow=True))


GROWING = dict(grow=True, codings=8, w_dim=8, filters=4, mapping_layers=1, mixing_prob=0.9, eval_samples=200)


def series_of(store, run_id: str) -> dict[str, dict[int, float]]:
    series: dict[str, dict[int, float]] = {}
    for m in store.metrics(run_id):
        series.setdefault(m.name, {})[m.step] = m.value
    return series


def test_a_growing_run_goes_through_two_resolutions_and_generates(train_digits, store):
    status = train_digits("stylegan", epochs=2, batch_size=64, fade_in=0.5, **GROWING)
    assert status["status"] == "succeeded", status["error"]
    series = series_of(store, status["id"])
    assert series["resolution"] == {1: 4.0, 2: 8.0} and series["alpha"] == {1: 1.0, 2: 1.0}
    for name in GAN_METRICS + ("fcd", "class_coverage"):
        assert set(series[name]) >= {1, 2} and all(np.isfinite(list(series[name].values()))), name
    events = [e.message for e in store.events(status["id"])]
    assert any("grew to 8x8, fading in over 13 steps" in m for m in events), events  # 26 steps an epoch
    assert sorted(p.name for p in artifact_paths(status, "stage_samples")) == ["res_004.png", "res_008.png"]
    (mixing,) = artifact_paths(status, "style_mixing")
    width, height = png_size(mixing)
    assert mixing.name == "style_mixing.png" and width > height  # 7 columns by 6 rows

    for options in (["--style-mix", "--crossover", "3"], ["--truncation", "0.5"]):
        job = cli("generate", status["id"], "--n", "6", *options, "--local", "--json")
        assert job.returncode == 0, job.stdout[-1000:] + job.stderr[-2000:]
        done = json.loads(job.stdout)
        assert done["status"] == "succeeded", done.get("error")
        (samples,) = artifact_paths(done, "samples")
        assert png_size(samples)[0] > 0 and np.isfinite(done["metrics"]["class_coverage"])
    assert artifact_paths(done, "style_mixing") == []
    bad = cli("generate", status["id"], "--style-mix", "--crossover", "4", "--local", "--json")  # 8x8: 4 layers
    assert bad.returncode != 0 and "allowed: 1 to 3" in bad.stderr and not bad.stdout  # refused before a run
