"""The GAN with the run's loss (latentq.models.gan.losses) and a generator EMA: both phases in one
compiled step, fit + save + load + resume exactness of the average, sampling with it."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("keras")

import keras  # noqa: E402
from keras import ops  # noqa: E402

from latentq.models.gan.model import GAN  # noqa: E402
from latentq.models.gan.losses import GANLoss  # noqa: E402
from latentq.models.samples import generate_images  # noqa: E402


def networks(seed=0, batch_norm=False):
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((2,)), keras.layers.Dense(8, activation="relu")]
    if batch_norm:
        layers.append(keras.layers.BatchNormalization())
    g = keras.Sequential(layers + [keras.layers.Dense(16, activation="sigmoid"), keras.layers.Reshape((4, 4))],
                         name="generator")
    d = keras.Sequential([keras.Input((4, 4)), keras.layers.Flatten(), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(1)], name="discriminator")  # logits
    return g, d


def data():
    return np.random.default_rng(0).random((64, 4, 4), dtype=np.float32)


@pytest.mark.parametrize("loss,r1_every", [("hinge", 1), ("nonsaturating", 2), ("wgan-gp", 1)])
def test_fit_save_load_and_resume_with_losses_and_ema(tmp_path, loss, r1_every):
    g, d = networks()
    model = GAN(g, d, 2, seed=0, ema=64.0, ema_rampup=None)
    model.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3),
                  gan_loss=GANLoss(loss, r1_gamma=1.0, r1_every=r1_every))
    history = model.fit(data(), batch_size=16, epochs=2, verbose=0, shuffle=False)
    assert all(np.isfinite(history.history["d_loss"])) and all(np.isfinite(history.history["g_loss"]))
    assert "r1" in history.history and ("wasserstein" in history.history) == (loss == "wgan-gp")
    assert int(ops.convert_to_numpy(model.d_optimizer.iterations)) == 8
    assert float(ops.convert_to_numpy(model.ema.images_seen)) == 128.0
    shadow = [ops.convert_to_numpy(s) for s in model.ema.shadows]
    raw = [ops.convert_to_numpy(w) for w in model.generator.weights]
    assert any(not np.allclose(s, r) for s, r in zip(shadow, raw))  # the average lags the raw weights
    path = tmp_path / "gan.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    for a, b in zip(model.ema.shadows, loaded.ema.shadows):
        np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))
    assert loaded.gan_loss == model.gan_loss
    loaded.fit(data(), batch_size=16, epochs=1, verbose=0)  # resumes: the average keeps counting
    assert float(ops.convert_to_numpy(loaded.ema.images_seen)) == 192.0


def test_samples_come_from_the_average_and_the_raw_weights_come_back():
    g, d = networks(batch_norm=True)
    model = GAN(g, d, 2, seed=0, ema=64.0, ema_rampup=None)
    model.compile(d_optimizer=keras.optimizers.Adam(1e-2), g_optimizer=keras.optimizers.Adam(1e-2),
                  gan_loss=GANLoss("nonsaturating"))
    model.fit(data(), batch_size=16, epochs=2, verbose=0)
    noise = np.random.default_rng(1).standard_normal((8, 2)).astype(np.float32)
    raw_weights = [np.array(ops.convert_to_numpy(w)) for w in model.generator.weights]
    raw = np.clip(ops.convert_to_numpy(model.generator(noise)), 0, 1)
    averaged = generate_images(model, noise)
    for w, before in zip(model.generator.weights, raw_weights):  # swapped back, statistics included
        np.testing.assert_array_equal(ops.convert_to_numpy(w), before)
    assert not np.allclose(raw, averaged)
    with model.sampling_weights():
        inside = [ops.convert_to_numpy(w) for w in model.generator.trainable_weights]
    for w, s in zip(inside, [s for s, a in zip(model.ema.shadows, model.ema._averaged) if a]):
        np.testing.assert_array_equal(w, ops.convert_to_numpy(s))


def test_logit_losses_count_accuracy_around_zero():
    g, d = networks()
    model = GAN(g, d, 2, seed=0)
    model.compile(gan_loss=GANLoss("hinge"))
    assert model.score_threshold == 0.0
    model.compile(gan_loss=GANLoss("bce"))
    assert model.score_threshold == 0.5


def test_without_ema_a_gan_saves_as_before(tmp_path):
    g, d = networks()
    model = GAN(g, d, 2, seed=0)
    assert model.ema is None and model.get_config()["ema"] == 0.0
    model.compile()
    model.fit(data(), batch_size=16, epochs=1, verbose=0)
    model.save(tmp_path / "gan.keras")
    assert keras.models.load_model(tmp_path / "gan.keras").ema is None


def test_ema_parameter_is_a_half_life_or_a_decay_and_recipes_carry_it():
    from latentq.models.gan.model import ema_half_life, loss_of
    from latentq.recipes.gans import DCGANParams, DenseGANParams, ProGANParams, StyleGANParams

    assert ema_half_life(DCGANParams(ema=0.999), 32) == pytest.approx(32 * np.log(0.5) / np.log(0.999))
    assert ema_half_life(DCGANParams(ema=5000), 32) == 5000.0 and ema_half_life(DenseGANParams(), 32) == 0.0
    assert loss_of(StyleGANParams()) == GANLoss("nonsaturating", r1_gamma=1.0, r1_every=4)
    assert loss_of(ProGANParams(loss="wgan-gp", r1_gamma=0)).loss == "wgan-gp"
    with pytest.raises(ValueError):
        DCGANParams(loss="lsgan")
