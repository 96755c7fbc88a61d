"""Round trips of the autoencoder family's custom layers, regularizer and model class
(get_config/from_config, save/load of a model using each, a training step), and a plain
Python session that loads every AE recipe's saved model after `import latentq.models`."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import latentq.models  # noqa: E402,F401  (registers the custom objects)
from latentq.models import codings, training  # noqa: E402
from latentq.models.autoencoders import builders as ae_builders  # noqa: E402
from latentq.models.autoencoders import greedy  # noqa: E402
from latentq.models.layers.tied import DenseTranspose, KLDivergenceRegularizer, TiedAutoencoder  # noqa: E402

RNG = np.random.default_rng(0)
X8 = RNG.random((64, 8, 8)).astype("float32")


def _compile(model, loss="binary_crossentropy"):
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss,
                  metrics=[keras.metrics.MeanSquaredError(name="mse")])
    return model


# ---- DenseTranspose ------------------------------------------------------------------------


def test_dense_transpose_checks_its_arguments():
    with pytest.raises(ValueError, match="Received: dense="):
        DenseTranspose("not a layer")
    dense = keras.layers.Dense(4)
    dense.build((None, 6))
    with pytest.raises(ValueError, match="Received: units=5"):
        DenseTranspose(dense, units=5)
    layer = DenseTranspose(dense)
    with pytest.raises(ValueError, match="Received: input_shape"):
        layer.build((None, 3))


def test_dense_transpose_config_round_trip_and_tied_kernel():
    dense = keras.layers.Dense(4, activation="selu")
    dense.build((None, 6))
    layer = DenseTranspose(dense, activation="sigmoid", name="dt")
    x = RNG.random((3, 4)).astype("float32")
    y = keras.ops.convert_to_numpy(layer(x))
    assert y.shape == (3, 6) and ((y > 0) & (y < 1)).all()
    # The kernel is the Dense layer's own variable; the bias is the layer's only own weight.
    assert layer.dense.kernel is dense.kernel and layer.bias.shape == (6,)
    expected = 1 / (1 + np.exp(-(x @ dense.kernel.numpy().T)))
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)

    config = layer.get_config()
    clone = DenseTranspose.from_config(config)
    assert clone.get_config() == config
    assert clone.units == 6 and clone.dense.units == 4
    assert keras.ops.convert_to_numpy(clone(x)).shape == (3, 6)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(again, DenseTranspose) and again.get_config() == config


def test_dense_transpose_in_a_sequential_model_saves_loads_and_trains(tmp_path):
    dense = keras.layers.Dense(5, activation="selu")
    model = keras.Sequential([keras.Input((12,)), dense, DenseTranspose(dense, activation="sigmoid")])
    _compile(model)
    x = RNG.random((32, 12)).astype("float32")
    before = dense.kernel.numpy().copy()
    model.fit(x, x, epochs=1, batch_size=16, verbose=0)
    assert not np.allclose(before, dense.kernel.numpy())  # the decoder's gradient reaches the kernel
    # counted once: 12*5 + 5 (Dense) + 12 (DenseTranspose bias)
    assert training.count_params(model) == 12 * 5 + 5 + 12
    path = tmp_path / "dt.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    history = loaded.fit(x, x, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


# ---- TiedAutoencoder -----------------------------------------------------------------------


def test_tied_autoencoder_checks_its_arguments():
    with pytest.raises(ValueError, match="Received: units=0"):
        TiedAutoencoder((8, 8), units=(10, 0))
    with pytest.raises(ValueError, match="Received: units=5"):
        TiedAutoencoder((8, 8), units=5)
    with pytest.raises(ValueError, match="Received: sample_shape"):
        TiedAutoencoder((8, "x"))


def test_tied_autoencoder_halves_the_weights_and_round_trips(tmp_path):
    stacked = ae_builders.build_stacked_ae(SimpleNamespace(hidden=20, codings=5), (8, 8))
    tied = _compile(TiedAutoencoder((8, 8), units=(20, 5)))
    n_tied, n_stacked = training.count_params(tied), training.count_params(stacked)
    assert n_tied == 64 * 20 + 20 + 20 * 5 + 5 + 20 + 64
    assert n_tied < 0.6 * n_stacked
    assert tied.get_layer("encoder").output_shape == (None, 5)

    config = tied.get_config()
    assert TiedAutoencoder.from_config(config).get_config() == config

    tied.fit(X8, X8, epochs=1, batch_size=16, verbose=0)
    path = tmp_path / "tied.keras"
    tied.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, TiedAutoencoder)
    np.testing.assert_allclose(loaded.predict(X8, verbose=0), tied.predict(X8, verbose=0), atol=1e-6)
    assert int(loaded.optimizer.iterations.numpy()) == int(tied.optimizer.iterations.numpy()) > 0
    # The ties are rebuilt: the decoder's first DenseTranspose uses the encoder's last Dense.
    enc_dense = [layer for layer in loaded.encoder.layers if isinstance(layer, keras.layers.Dense)]
    dec_dt = [layer for layer in loaded.decoder.layers if isinstance(layer, DenseTranspose)]
    assert [d.dense for d in dec_dt] == enc_dense[::-1]
    history = loaded.fit(X8, X8, epochs=1, batch_size=16, verbose=0, validation_data=(X8, X8))
    assert np.isfinite(history.history["val_loss"][0])
    assert dec_dt[0].dense.kernel is enc_dense[-1].kernel


# ---- KLDivergenceRegularizer ---------------------------------------------------------------


def test_kl_regularizer_checks_its_arguments():
    with pytest.raises(ValueError, match="Received: target=1"):
        KLDivergenceRegularizer(target=1)
    with pytest.raises(ValueError, match="Received: target=0"):
        KLDivergenceRegularizer(target=0)
    with pytest.raises(ValueError, match="Received: weight=-1"):
        KLDivergenceRegularizer(weight=-1)


def test_kl_regularizer_value_and_config_round_trip():
    reg = KLDivergenceRegularizer(weight=0.5, target=0.2)
    acts = RNG.uniform(0.05, 0.95, size=(16, 7)).astype("float32")
    q = acts.mean(axis=0)
    expected = 0.5 * np.sum(0.2 * np.log(0.2 / q) + 0.8 * np.log(0.8 / (1 - q)))
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(reg(acts))), expected, rtol=1e-5)
    # zero at the target, positive elsewhere
    assert abs(float(keras.ops.convert_to_numpy(reg(np.full((4, 3), 0.2, "float32"))))) < 1e-6
    assert reg.get_config() == {"weight": 0.5, "target": 0.2}
    again = keras.regularizers.deserialize(keras.regularizers.serialize(reg))
    assert isinstance(again, KLDivergenceRegularizer) and again.get_config() == reg.get_config()
    assert KLDivergenceRegularizer.from_config(reg.get_config()).get_config() == reg.get_config()


def test_kl_regularized_model_reports_val_loss_pulls_toward_target_and_round_trips(tmp_path):
    params = SimpleNamespace(hidden=16, codings=40, sparsity_target=0.1, sparsity_weight=5.0)
    model = _compile(ae_builders.build_sparse_kl_ae(params, (8, 8)))
    encoder = model.get_layer("encoder")
    start = codings.encode(encoder, X8).mean()
    history = model.fit(X8, X8, epochs=4, batch_size=16, verbose=0, validation_data=(X8, X8))
    assert set(history.history) >= {"loss", "val_loss", "val_mse"}
    assert all(np.isfinite(history.history["val_loss"]))
    end = codings.encode(encoder, X8).mean()
    assert abs(end - 0.1) < abs(start - 0.1)  # the mean activation moved toward the target
    path = tmp_path / "kl.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    reg = loaded.get_layer("encoder").get_layer("codings").activity_regularizer
    assert isinstance(reg, KLDivergenceRegularizer) and reg.target == 0.1 and reg.weight == 5.0
    np.testing.assert_allclose(loaded.predict(X8, verbose=0), model.predict(X8, verbose=0), atol=1e-6)
    assert np.isfinite(loaded.fit(X8, X8, epochs=1, verbose=0, validation_data=(X8, X8)).history["val_loss"][0])


# ---- every AE recipe's model in a plain Python session -------------------------------------

LOADER = """
import json, sys
import numpy as np
import keras
import latentq.models
out = {}
for name, path, x in json.loads(sys.argv[1]):
    model = keras.models.load_model(path)
    encoder = model.get_layer("encoder")
    out[name] = [float(np.sum(model.predict(np.load(x), verbose=0))), type(model).__name__, encoder.name]
print(json.dumps(out))
"""


def _recipe_models():
    p = SimpleNamespace(hidden=12, codings=4, noise="gaussian", noise_std=0.2, dropout=0.5, l1=1e-3,
                        sparsity_target=0.1, sparsity_weight=0.05, filters=4, stages=2)
    colour = RNG.random((16, 10, 13, 3)).astype("float32")
    models = {
        "tied-ae": (ae_builders.build_tied_ae(p, (8, 8)), X8),
        "denoising-ae": (ae_builders.build_denoising_ae(p, (8, 8), seed=1), X8),
        "sparse-ae": (ae_builders.build_sparse_ae(p, (8, 8)), X8),
        "sparse-kl-ae": (ae_builders.build_sparse_kl_ae(p, (8, 8)), X8),
        "conv-ae": (ae_builders.build_conv_ae(p, (10, 13, 3)), colour),
        "recurrent-ae": (ae_builders.build_recurrent_ae(p, (10, 13, 3)), colour),
        "greedy-ae": (greedy.stack_greedy((8, 8), *_greedy_layers()), X8),
    }
    return models


def _greedy_layers():
    enc = [keras.layers.Dense(12, activation="selu"), keras.layers.Dense(4, activation="selu")]
    dec = [keras.layers.Dense(64, activation="sigmoid"), keras.layers.Dense(12, activation="selu")]
    for layer, n in zip(enc + dec, (64, 12, 12, 4)):
        layer.build((None, n))
    return enc, dec


def test_every_ae_model_loads_in_a_plain_python_session(tmp_path):
    jobs, expected = [], {}
    for name, (model, x) in _recipe_models().items():
        _compile(model)
        model.fit(x, x, epochs=1, batch_size=8, verbose=0)
        path, xpath = tmp_path / f"{name}.keras", tmp_path / f"{name}.npy"
        model.save(path)
        np.save(xpath, x)
        jobs.append([name, str(path), str(xpath)])
        expected[name] = float(np.sum(model.predict(x, verbose=0)))
        assert model.predict(x, verbose=0).shape == x.shape
    result = subprocess.run([sys.executable, "-c", LOADER, json.dumps(jobs)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(loaded) == set(expected)
    for name, (total, _cls, encoder_name) in loaded.items():
        assert encoder_name == "encoder"
        assert total == pytest.approx(expected[name], rel=1e-4), name
    assert loaded["tied-ae"][1] == "TiedAutoencoder"
