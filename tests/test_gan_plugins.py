"""The new pieces plugged into latentq's GAN as phase 2 will: GANLoss in both phases, the
generator EMA updated inside the compiled train_step, fit + save + load + resume exactness."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("keras")

import keras  # noqa: E402
from keras import ops  # noqa: E402

from latentq.models.ema import WeightAverage  # noqa: E402
from latentq.models.gan_losses import GANLoss  # noqa: E402
from latentq.models.gan import GAN  # noqa: E402


@keras.saving.register_keras_serializable(package="latentq_test")
class PluggedGAN(GAN):
    def __init__(self, generator, discriminator, codings, loss="hinge", r1_gamma=0.0, r1_every=1,
                 ema_half_life=64.0, **kwargs):
        super().__init__(generator, discriminator, codings, **kwargs)
        self.gan_loss = GANLoss(loss, r1_gamma=r1_gamma, r1_every=r1_every)
        self.ema = WeightAverage(ema_half_life, rampup=None, name="generator_ema").track(generator)
        self.d_steps = self.add_weight(shape=(), dtype="int64", initializer="zeros", trainable=False, name="d_steps")

    def get_config(self):
        return {**super().get_config(), "loss": self.gan_loss.loss, "r1_gamma": self.gan_loss.r1_gamma,
                "r1_every": self.gan_loss.r1_every, "ema_half_life": self.ema.half_life_images}

    def discriminator_step(self, real):
        import tensorflow as tf

        fakes = ops.stop_gradient(self.generate(self.noise(ops.shape(real)[0]), training=True))
        variables = self.discriminator.trainable_weights
        with tf.GradientTape() as tape:
            stats = self.gan_loss.discriminator(lambda x: self.discriminate(x, training=True), real, fakes,
                                                step=self.d_steps, seed=self.seed_generator)
        self.d_optimizer.apply_gradients(zip(tape.gradient(stats["d_loss"], variables), variables))
        self.d_steps.assign_add(1)
        return stats["d_loss"], ops.sigmoid(stats["real_score"]), ops.sigmoid(stats["fake_score"])

    def generator_step(self, n):
        import tensorflow as tf

        variables = self.generator.trainable_weights
        with tf.GradientTape() as tape:
            stats = self.gan_loss.generator(lambda x: self.discriminate(self.generate(x, training=True),
                                                                        training=True), self.noise(n))
        self.g_optimizer.apply_gradients(zip(tape.gradient(stats["g_loss"], variables), variables))
        self.ema.update(self.generator, n)
        return stats["g_loss"]


def networks(seed=0):
    keras.utils.set_random_seed(seed)
    g = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(16, activation="sigmoid"), keras.layers.Reshape((4, 4))],
                         name="generator")
    d = keras.Sequential([keras.Input((4, 4)), keras.layers.Flatten(), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(1)], name="discriminator")  # logits
    return g, d


@pytest.mark.parametrize("loss,r1_every", [("hinge", 1), ("nonsaturating", 2), ("wgan-gp", 1)])
def test_fit_save_load_and_resume_with_losses_and_ema(tmp_path, loss, r1_every):
    g, d = networks()
    model = PluggedGAN(g, d, 2, loss=loss, r1_gamma=1.0, r1_every=r1_every, seed=0)
    model.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3))
    data = np.random.default_rng(0).random((64, 4, 4), dtype=np.float32)
    history = model.fit(data, batch_size=16, epochs=2, verbose=0, shuffle=False)
    assert all(np.isfinite(history.history["d_loss"])) and all(np.isfinite(history.history["g_loss"]))
    assert int(ops.convert_to_numpy(model.d_steps)) == 8
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
    loaded.fit(data, batch_size=16, epochs=1, verbose=0)  # resumes: the average keeps counting
    assert float(ops.convert_to_numpy(loaded.ema.images_seen)) == 192.0
