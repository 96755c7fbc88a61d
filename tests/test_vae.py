"""VAE recipes: the Sampling layer, the VAE model's save/load round trip, training through the job."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from support import artifact_paths

keras = pytest.importorskip("keras")

from latentq.models.vae import model as vae  # noqa: E402
from latentq.models.vae import builders as vae_builders  # noqa: E402
from latentq.models.vae import recipes as vae_recipes  # noqa: E402
from latentq.recipes.vae import ConvVAEParams, VAEParams  # noqa: E402

SMALL = dict(hidden1=24, hidden2=12, codings=4, eval_samples=200)
PER_EPOCH = ("loss", "reconstruction", "kl", "val_loss", "val_reconstruction", "val_kl")
QUALITY = ("fcd", "class_coverage", "class_kl", "mean_confidence", "classifier_accuracy")


# ---- Sampling ------------------------------------------------------------------------------


def test_sampling_draws_from_the_given_gaussian_and_round_trips():
    layer = vae.Sampling(seed=3)
    mean = np.full((20000, 2), [1.0, -2.0], dtype=np.float32)
    log_var = np.full((20000, 2), [0.0, np.log(4.0)], dtype=np.float32)
    draws = keras.ops.convert_to_numpy(layer([mean, log_var]))
    assert draws.shape == (20000, 2)
    np.testing.assert_allclose(draws.mean(axis=0), [1.0, -2.0], atol=0.05)
    np.testing.assert_allclose(draws.std(axis=0), [1.0, 2.0], rtol=0.05)

    clone = vae.Sampling.from_config(layer.get_config())
    assert clone.seed == 3
    first = keras.ops.convert_to_numpy(vae.Sampling(seed=3)([mean[:5], log_var[:5]]))
    again = keras.ops.convert_to_numpy(clone([mean[:5], log_var[:5]]))
    np.testing.assert_allclose(first, again)  # same seed, same draws
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, vae.Sampling) and restored.get_config() == layer.get_config()


@pytest.mark.parametrize("seed", [-1, 1.5, "x", True])
def test_sampling_refuses_a_bad_seed(seed):
    with pytest.raises(ValueError, match="Received: seed="):
        vae.Sampling(seed=seed)


def test_vae_refuses_a_negative_kl_weight():
    model = vae_builders.build_vae(VAEParams(**{k: v for k, v in SMALL.items() if k != "eval_samples"}), (8, 8))
    with pytest.raises(ValueError, match="Received: kl_weight=-1"):
        vae.VAE(model.encoder, model.decoder, kl_weight=-1)


@pytest.mark.parametrize("shape", [(8, 8), (28, 28), (10, 10, 3), (9, 7)])
def test_conv_vae_decoder_mirrors_any_image_shape(shape):
    model = vae_builders.build_conv_vae(ConvVAEParams(codings=3, filters1=4, filters2=8, hidden=8), shape)
    assert model.decoder.output_shape[1:] == shape
    mean, log_var, codings = model.encoder(np.zeros((2, *shape), np.float32))
    assert mean.shape == log_var.shape == codings.shape == (2, 3)


# ---- the model saved and loaded (in this process, then in a fresh one) ---------------------


def test_vae_save_load_keeps_weights_and_optimizer_state_and_trains_on(tmp_path):
    from latentq import datasets

    data = datasets.load("digits", 0)
    params = VAEParams(**{k: v for k, v in SMALL.items() if k != "eval_samples"}, kl_weight=0.5)
    model = vae_builders.build_vae(params, data.sample_shape, seed=1)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(data.x_train, data.x_train, validation_data=(data.x_val, data.x_val), epochs=1,
                        batch_size=64, verbose=0).history
    assert set(PER_EPOCH) <= set(history)
    np.testing.assert_allclose(history["loss"][0], history["reconstruction"][0] + 0.5 * history["kl"][0], rtol=1e-4)

    path = tmp_path / "vae.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, vae.VAE) and loaded.kl_weight == 0.5
    np.testing.assert_allclose(vae_recipes.mean_codings(loaded.encoder, data.x_val), vae_recipes.mean_codings(model.encoder, data.x_val),
                               rtol=1e-6)
    assert int(loaded.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy()) > 0
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    more = loaded.fit(data.x_train, data.x_train, epochs=1, batch_size=64, verbose=0).history
    assert np.isfinite(more["loss"][0]) and more["loss"][0] < history["loss"][0]


# ---- training runs -------------------------------------------------------------------------


def test_vae_trains_and_records_every_metric(train, store):
    status = train("vae", dataset="digits", epochs=2, **SMALL)
    assert status["status"] == "succeeded", status.get("error")
    metrics = status["metrics"]
    for name in (*PER_EPOCH, *QUALITY, "val_mse", "val_neg_elbo_nats", "params", "train_seconds"):
        assert name in metrics and np.isfinite(metrics[name]), name
    steps = {}
    for metric in store.metrics(status["id"]):
        steps.setdefault(metric.name, {})[metric.step] = metric.value
    for name in PER_EPOCH:
        assert sorted(steps[name]) == [1, 2], name
    assert steps["loss"][2] < steps["loss"][1]  # it learns
    kl_weight = VAEParams().kl_weight  # the default, 2 (a beta-VAE) since issue 12
    assert metrics["val_loss"] == pytest.approx(metrics["val_reconstruction"] + kl_weight * metrics["val_kl"],
                                                rel=1e-4)
    assert metrics["val_neg_elbo_nats"] == pytest.approx(64 * (metrics["val_reconstruction"] + metrics["val_kl"]),
                                                         rel=1e-4)
    assert 0 <= metrics["class_coverage"] <= 1 and metrics["fcd"] >= 0

    epoch_grids = artifact_paths(status, "samples_epoch")
    assert [p.name for p in epoch_grids] == ["epoch_001.png", "epoch_002.png"]
    first, second = (np.asarray(Image.open(p)) for p in epoch_grids)
    assert first.shape == second.shape and not np.array_equal(first, second)  # generation changed
    for kind in ("samples", "reconstructions", "model", "loss_curve", "loss_terms"):
        (path,) = artifact_paths(status, kind)
        assert path.is_file() and path.stat().st_size > 0, kind
        if path.suffix == ".png":
            assert Image.open(path).format == "PNG"
    assert_loads_in_a_fresh_process(artifact_paths(status, "model")[0])


def assert_loads_in_a_fresh_process(path) -> None:
    """The saved VAE loads with keras.models.load_model in a new interpreter (custom objects
    registered by importing latentq.models), optimizer state included."""
    code = (
        "import json, sys, numpy as np, latentq.models, keras; "
        "m = keras.models.load_model(sys.argv[1]); "
        "x = m.decoder(np.zeros((3, 4), 'float32')); "
        "print(json.dumps({'cls': type(m).__name__, 'shape': list(x.shape), "
        "'iterations': int(m.optimizer.iterations.numpy())}))"
    )
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["cls"] == "VAE" and loaded["shape"] == [3, 8, 8] and loaded["iterations"] > 0


def test_conv_vae_trains_with_kl_weight_zero(train):
    status = train("conv-vae", dataset="digits", epochs=1, codings=3, filters1=4, filters2=8, hidden=8,
                   kl_weight=0, eval_samples=0)
    assert status["status"] == "succeeded", status.get("error")
    metrics = status["metrics"]
    assert metrics["loss"] == pytest.approx(metrics["reconstruction"], rel=1e-5)  # the KL does not count
    assert metrics["kl"] > 0 and "fcd" not in metrics  # eval_samples=0 skips the quality numbers
    assert artifact_paths(status, "samples")[0].is_file()


def test_vae_refuses_vectors_in_one_line(train):
    status = train("vae", dataset="synthetic-3d", epochs=1)
    assert status["status"] == "failed"
    assert "needs image data" in status["error"] and "\n" not in status["error"]


def test_a_resumed_vae_run_continues_from_its_checkpoint(train, store, settings):
    """A second attempt finds checkpoints/latest.keras (the VAE, loaded) and trains epoch 2 only."""
    from latentq.spec import build_spec
    from latentq.worker.jobs import execute_run

    small = {**SMALL, "eval_samples": 0}
    first = train("vae", dataset="digits", epochs=1, **small)
    spec = build_spec(kind="train", recipe="vae", dataset="digits", epochs=2, batch_size=64,
                      params={k: str(v) for k, v in small.items()})
    run_id, _ = store.create_run(spec.model_dump(mode="json"))
    shutil.copytree(settings.run_dir(first["id"]) / "checkpoints", settings.run_dir(run_id) / "checkpoints")
    status = execute_run(run_id, settings)
    assert status["status"] == "succeeded", status.get("error")
    assert status["resumed_from_epoch"] == 1
    loss_steps = sorted(m.step for m in store.metrics(run_id) if m.name == "loss")
    assert loss_steps == [2]
    assert status["metrics"]["loss"] < first["metrics"]["loss"]  # it went on from epoch 1's weights
