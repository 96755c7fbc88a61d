"""StyleGAN: the mapping and synthesis networks, style mixing, the style-mixing picture, saving,
and a whole run that trains with mixing on, records its metrics and pictures, and generates."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

import latentq.models  # noqa: F401  (registers the custom objects)
from latentq.models import gan, stylegan
from latentq.models.stylegan import StyleGAN
from latentq.recipes.gans import StyleGANParams
from tests.conftest import artifact_paths, cli

GAN_METRICS = ("loss", "val_loss", "d_loss", "g_loss", "d_real_accuracy", "d_fake_accuracy")


def np_(x) -> np.ndarray:
    return keras.ops.convert_to_numpy(x)


def tiny(shape=(8, 8), **params) -> StyleGAN:
    p = StyleGANParams(**{"codings": 4, "w_dim": 4, "filters": 4, "mapping_layers": 2, **params})
    return gan.compile_gan(stylegan.build_stylegan(p, shape, seed=0), p)


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
    grid = stylegan.style_mixing_grid(model, a, b)
    assert grid.shape == (3 * 4, 8, 8)
    rows = grid.reshape(3, 4, 8, 8)
    pure_a, pure_b = np_(model.generator(a)), np_(model.generator(b))
    np.testing.assert_allclose(rows[0, 0], 1.0)  # the blank corner
    np.testing.assert_allclose(rows[0, 1:], np.clip(pure_b, 0, 1), atol=1e-5)
    np.testing.assert_allclose(rows[1:, 0], np.clip(pure_a, 0, 1), atol=1e-5)
    all_a = stylegan.style_mixing_grid(model, a, b, crossover=4).reshape(3, 4, 8, 8)
    np.testing.assert_allclose(all_a[1:, 1:], np.repeat(all_a[1:, :1], 3, axis=1), atol=1e-5)  # A's styles only
    all_b = stylegan.style_mixing_grid(model, a, b, crossover=0).reshape(3, 4, 8, 8)
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
    from latentq.spec import JobSpec

    run_dir = next(iter(artifact_paths(status, "model"))).parent
    model = keras.models.load_model(run_dir / "model.keras", compile=False)
    assert np.abs(np_(model.w_average.w_avg)).max() > 0  # tracked in training, saved
    params = JobSpec(**store.spec(status["id"])).recipe_params()
    average = source_for(model, params, truncation=0.0).decode(codings(4, seed=1, size=8))
    np.testing.assert_allclose(average, np.repeat(average[:1], 4, axis=0), atol=1e-6)  # psi = 0: the average image
    full = source_for(model, params, truncation=1.0).decode(codings(4, seed=1, size=8))
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
