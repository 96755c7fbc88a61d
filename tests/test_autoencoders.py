"""Each autoencoder recipe trained briefly through the shared job function (the `train`
fixture): its metrics, its files, and its saved model."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from support import artifact_paths

keras = pytest.importorskip("keras")

import latentq.models  # noqa: E402,F401
from latentq.models import training  # noqa: E402
from latentq.models.autoencoders import builders as ae_builders  # noqa: E402
from latentq.models.autoencoders import greedy  # noqa: E402
from latentq.models.autoencoders import pretraining  # noqa: E402

SMALL = {"hidden": 16, "codings": 4}
AE_METRICS = ("loss", "val_loss", "val_mse", "params", "baseline_mse", "train_seconds")


def _png(path):
    assert path.is_file() and path.stat().st_size > 0, path
    with Image.open(path) as img:
        assert img.format == "PNG" and img.size[0] > 10 and img.size[1] > 10
        img.verify()


def check_ae_run(status, metrics=AE_METRICS, pictures=("reconstructions", "loss_curve", "tsne")):
    """The contract of every AE run: succeeded, finite numbers, the pictures, a loadable
    model.keras with an `encoder` sub-model. Returns the loaded model."""
    assert status["status"] == "succeeded", status["error"]
    m = status["metrics"]
    for name in metrics:
        assert name in m and math.isfinite(m[name]), (name, m.get(name))
    assert m["params"] > 0 and 0 < m["val_mse"] and 0 < m["baseline_mse"] < 1
    for kind in pictures:
        paths = artifact_paths(status, kind)
        assert paths, f"no {kind} artifact"
        _png(paths[0])
    (model_path,) = artifact_paths(status, "model")
    model = keras.models.load_model(model_path)
    assert isinstance(model.get_layer("encoder"), keras.Model)
    return model


def test_two_dimensional_codings_are_drawn_as_they_are_not_through_tsne(train):
    status = train("linear-ae", dataset="digits", epochs=1, codings=2)
    kinds = [a["kind"] for a in status["artifacts"]]
    assert status["status"] == "succeeded" and "tsne" not in kinds and kinds.count("codings") == 1, kinds
    _png(artifact_paths(status, "codings")[0])
    wider = train("linear-ae", dataset="digits", epochs=1, codings=3)
    kinds = [a["kind"] for a in wider["artifacts"]]
    assert "tsne" in kinds and kinds.count("codings") == 1, kinds  # t-SNE, and the first two codings


def _epoch_values(store, run_id, name):
    return [m.value for m in store.metrics(run_id) if m.name == name and m.step > 0]


def test_stacked_ae_gets_baseline_and_tsne(train):
    status = train("stacked-ae", dataset="digits", epochs=2, learning_rate=0.01, **SMALL)
    model = check_ae_run(status)
    m = status["metrics"]
    assert m["val_mse"] < m["baseline_mse"]
    assert model.predict(np.zeros((2, 8, 8), "float32"), verbose=0).shape == (2, 8, 8)


def test_tied_ae_has_under_60_percent_of_stacked_weights(train):
    status = train("tied-ae", dataset="digits", epochs=2, learning_rate=0.01, **SMALL)
    model = check_ae_run(status)
    m = status["metrics"]
    stacked = ae_builders.build_stacked_ae(SimpleNamespace(**SMALL), (8, 8))
    assert m["params"] < 0.6 * training.count_params(stacked)
    assert m["val_mse"] < m["baseline_mse"]
    assert type(model).__name__ == "TiedAutoencoder"


def test_greedy_ae_records_each_phase_and_stacks(train, store):
    status = train("greedy-ae", dataset="digits", epochs=2, phases=3, learning_rate=0.01, hidden=24, codings=6)
    model = check_ae_run(status)
    m = status["metrics"]
    for phase in (1, 2, 3):
        for name in ("loss", "val_loss"):
            values = _epoch_values(store, status["id"], f"phase{phase}_{name}")
            assert len(values) == 2 and all(map(math.isfinite, values)), (phase, name, values)
    assert _epoch_values(store, status["id"], "phase1_loss")[1] < _epoch_values(store, status["id"], "phase1_loss")[0]
    events = " | ".join(e.message for e in store.events(status["id"]))
    assert "phase 3/3" in events and "phase 3 done" in events
    # the stacked model: Flatten + 3 Dense (24 → 12 → 6) in the encoder, mirrored decoder
    encoder = model.get_layer("encoder")
    assert [layer.units for layer in encoder.layers if isinstance(layer, keras.layers.Dense)] == [24, 12, 6]
    assert status["epoch"] == 2 and m["val_mse"] < m["baseline_mse"]


@pytest.mark.parametrize("shape", [(8, 8), (10, 13, 3)])
def test_conv_ae_any_image_size(train, tmp_path, shape):
    if len(shape) == 2:
        dataset = "digits"
    else:  # odd-sized colour images, unlabelled: no t-SNE then
        path = tmp_path / "colour.npz"
        rng = np.random.default_rng(0)
        np.savez(path, x=(rng.random((120, *shape)) * 255).astype("uint8"))
        dataset = f"npz:{path}"
    status = train("conv-ae", dataset=dataset, epochs=2, filters=4, stages=2, learning_rate=0.01)
    model = check_ae_run(status, pictures=("reconstructions", "loss_curve", "tsne") if len(shape) == 2
                         else ("reconstructions", "loss_curve"))
    assert model.predict(np.zeros((1, *shape), "float32"), verbose=0).shape == (1, *shape)
    if len(shape) == 2:
        assert status["metrics"]["val_mse"] < status["metrics"]["baseline_mse"]


def test_conv_ae_refuses_too_many_stages(train):
    status = train("conv-ae", dataset="digits", epochs=1, stages=4)
    assert status["status"] == "failed" and "stages <= 3" in status["error"]


def test_recurrent_ae_encodes_sequences_of_any_length(train, store):
    status = train("recurrent-ae", dataset="digits", epochs=2, learning_rate=0.01, **SMALL)
    model = check_ae_run(status)
    loss = _epoch_values(store, status["id"], "loss")
    assert loss[1] < loss[0]
    assert status["metrics"]["val_mse"] < status["metrics"]["baseline_mse"]
    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    for steps in (5, 8, 20):  # rows of 8 pixels, any number of them
        assert encoder.predict(np.random.rand(3, steps, 8).astype("float32"), verbose=0).shape == (3, 4)
    x = np.random.rand(3, 8, 8).astype("float32")  # what generation's --reconstruct does
    assert keras.ops.convert_to_numpy(decoder(encoder(x))).shape == (3, 8, 8)


def test_recurrent_ae_on_plain_sequences(train, tmp_path):
    path = tmp_path / "waves.npz"
    t = np.linspace(0, 2 * np.pi, 24)
    phase = np.random.default_rng(0).random((150, 1)) * 2 * np.pi
    np.savez(path, x=(0.5 + 0.4 * np.sin(t + phase)).astype("float32"))
    status = train("recurrent-ae", dataset=f"npz:{path}", epochs=2, learning_rate=0.01, **SMALL)
    model = check_ae_run(status, pictures=("loss_curve",))
    encoder = model.get_layer("encoder")
    assert encoder.predict(np.random.rand(2, 40).astype("float32"), verbose=0).shape == (2, 4)


@pytest.mark.parametrize("noise", ["gaussian", "dropout"])
def test_denoising_ae_noise_only_in_training(train, noise):
    status = train("denoising-ae", dataset="digits", epochs=2, noise=noise, noise_std=0.3, dropout=0.3,
                   learning_rate=0.01, **SMALL)
    model = check_ae_run(status, pictures=("reconstructions", "loss_curve", "tsne", "denoised"))
    m = status["metrics"]
    assert m["val_mse"] < m["baseline_mse"]
    assert m["val_mse_denoised"] < m["noisy_mse"]  # it removes some of the noise
    x = np.random.default_rng(1).random((4, 8, 8)).astype("float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    noisy = keras.ops.convert_to_numpy(model(x, training=True))
    assert not np.allclose(noisy, model.predict(x, verbose=0))
    noise_layer = model.get_layer("encoder").get_layer("input_noise")
    assert type(noise_layer).__name__ == {"gaussian": "GaussianNoise", "dropout": "Dropout"}[noise]


def test_sparse_ae_records_sparsity(train, store):
    status = train("sparse-ae", dataset="digits", epochs=2, hidden=16, codings=40, l1=0.01, learning_rate=0.01)
    check_ae_run(status, metrics=AE_METRICS + ("mean_activation", "active_fraction"),
                 pictures=("reconstructions", "loss_curve", "tsne", "sparsity_curve"))
    m = status["metrics"]
    assert 0 < m["mean_activation"] < 1 and 0 <= m["active_fraction"] <= 1
    assert len(_epoch_values(store, status["id"], "mean_activation")) == 2


def test_sparse_kl_ae_pulls_activations_to_its_target(train, store):
    common = dict(dataset="digits", epochs=2, hidden=16, codings=40, learning_rate=0.01)
    plain = train("sparse-ae", l1=0, **common)  # a plain sigmoid coding layer
    status = train("sparse-kl-ae", sparsity_target=0.1, sparsity_weight=1.0, **common)
    model = check_ae_run(status, metrics=AE_METRICS + ("mean_activation", "active_fraction"))
    per_epoch = _epoch_values(store, status["id"], "mean_activation")
    assert len(per_epoch) == 2
    kl_mean, plain_mean = status["metrics"]["mean_activation"], plain["metrics"]["mean_activation"]
    assert kl_mean < 0.6 * plain_mean
    assert abs(kl_mean - 0.1) < 0.05 < abs(plain_mean - 0.1)
    reg = model.get_layer("encoder").get_layer("codings").activity_regularizer
    assert type(reg).__name__ == "KLDivergenceRegularizer" and reg.target == 0.1


def test_pretrain_classifier_records_both_accuracies(train, store):
    status = train("pretrain-classifier", dataset="digits", epochs=2, labels=50, classifier_epochs=10,
                   learning_rate=0.01, classifier_learning_rate=0.01, **SMALL)
    check_ae_run(status, pictures=("reconstructions", "loss_curve", "tsne", "classifier_curve"))
    m = status["metrics"]
    for name in ("accuracy_pretrained", "accuracy_scratch"):
        assert 0.1 < m[name] <= 1, (name, m[name])  # better than chance on 10 classes
    assert m["labels"] == 50
    classifiers = artifact_paths(status, "classifier")
    assert len(classifiers) == 2
    clf = keras.models.load_model(classifiers[0])
    assert clf.predict(np.zeros((2, 8, 8), "float32"), verbose=0).shape == (2, 10)
    assert len(_epoch_values(store, status["id"], "pretrained_loss")) == 10


def test_pretrain_classifier_refuses_fewer_labels_than_classes(train):
    status = train("pretrain-classifier", dataset="digits", epochs=1, labels=5, **SMALL)
    assert status["status"] == "failed"
    assert "labels must be at least the number of classes 10" in status["error"]


def test_balanced_indices():
    y = np.repeat(np.arange(4), 10)
    picked = pretraining.balanced_indices(y, 10, 4, seed=0)
    assert len(picked) == len(set(picked)) == 10
    assert sorted(np.bincount(y[picked]).tolist()) == [2, 2, 3, 3]


def test_greedy_units():
    assert greedy.greedy_units(100, 30, 2) == [100, 30]
    assert greedy.greedy_units(100, 25, 3) == [100, 50, 25]
