"""Variational autoencoders of the notes: `vae` (Dense selu) and `conv-vae` (strided convolutions).

The encoder outputs a mean coding μ and γ = log σ²; a `Sampling` layer draws codings
μ + exp(γ/2)·ε; the decoder mirrors the encoder. `VAE` is one keras.Model holding both, with
its own train_step / test_step: loss = reconstruction + kl_weight · kl, where

- reconstruction = binary cross-entropy per pixel (the notes' compile loss), and
- kl = −½ Σ(1 + γ − exp(γ) − μ²) / pixels (the notes' `K.mean(latent_loss) / 784.`),

so with kl_weight = 1 the loss is the negative ELBO per pixel (Bernoulli likelihood), and
`fit` logs `loss`, `reconstruction`, `kl` and their `val_` twins every epoch.
"""

from __future__ import annotations

from typing import Optional

import keras
import numpy as np

from latentq.models.layers import checks


@keras.saving.register_keras_serializable(package="latentq")
class Sampling(keras.layers.Layer):
    """Draws codings from N(mean, exp(log_var)): inputs [mean, log_var], same shapes.

    It samples in training and in inference alike (a VAE is probabilistic even after
    training); use the encoder's mean output where a deterministic coding is wanted."""

    def __init__(self, seed: Optional[int] = None, **kwargs):
        super().__init__(**kwargs)
        checks.seed(seed)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(f"Sampling expects inputs [mean, log_var]. Received: {type(inputs).__name__}")
        mean, log_var = inputs
        noise = keras.random.normal(keras.ops.shape(log_var), dtype=log_var.dtype, seed=self.seed_generator)
        return mean + keras.ops.exp(0.5 * log_var) * noise

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def latent_loss(mean, log_var):
    """−½ Σ(1 + γ − exp(γ) − μ²) per sample, in nats."""
    return -0.5 * keras.ops.sum(1.0 + log_var - keras.ops.exp(log_var) - keras.ops.square(mean), axis=-1)


@keras.saving.register_keras_serializable(package="latentq")
class VAE(keras.Model):
    """encoder: x -> [mean, log_var, codings]; decoder: codings -> x̂ in [0, 1]."""

    def __init__(self, encoder: keras.Model, decoder: keras.Model, kl_weight: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(kl_weight, (int, float)) or isinstance(kl_weight, bool) or kl_weight < 0:
            raise ValueError(f"`kl_weight` must be a non-negative number. Received: kl_weight={kl_weight!r}")
        if len(encoder.outputs) != 3:
            raise ValueError("`encoder` must output [mean, log_var, codings]. "
                             f"Received: an encoder with {len(encoder.outputs)} output(s)")
        self.encoder = encoder
        self.decoder = decoder
        self.kl_weight = float(kl_weight)
        self.pixels = int(np.prod(decoder.output_shape[1:]))
        self.codings = int(decoder.input_shape[-1])
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.built = True  # encoder and decoder are functional models, built when made

    @property
    def metrics(self):
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

    def build(self, input_shape=None):
        self.built = True

    def call(self, inputs, training=None):
        _, _, codings = self.encoder(inputs, training=training)
        return self.decoder(codings, training=training)

    def losses_of(self, x, training: bool = False):
        """(total, reconstruction, kl) batch means for images x."""
        mean, log_var, codings = self.encoder(x, training=training)
        reconstructions = self.decoder(codings, training=training)
        # losses in float32, also under a mixed-precision policy
        mean, log_var = keras.ops.cast(mean, "float32"), keras.ops.cast(log_var, "float32")
        flat_x = keras.ops.reshape(keras.ops.cast(x, "float32"), (-1, self.pixels))
        flat_r = keras.ops.reshape(keras.ops.cast(reconstructions, "float32"), (-1, self.pixels))
        reconstruction = keras.ops.mean(keras.losses.binary_crossentropy(flat_x, flat_r))
        kl = keras.ops.mean(latent_loss(mean, log_var)) / self.pixels
        total = reconstruction + self.kl_weight * kl
        if self.losses:
            total = total + keras.ops.sum(self.losses)
        return total, reconstruction, kl

    def _track(self, total, reconstruction, kl):
        self.loss_tracker.update_state(total)
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        import tensorflow as tf  # the one backend-tied place: the gradient tape

        x = data[0] if isinstance(data, (tuple, list)) else data
        with tf.GradientTape() as tape:
            total, reconstruction, kl = self.losses_of(x, training=True)
            scaled = self.optimizer.scale_loss(total)  # mixed precision: a LossScaleOptimizer scales
        grads = tape.gradient(scaled, self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        return self._track(total, reconstruction, kl)

    def test_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        return self._track(*self.losses_of(x, training=False))

    def get_config(self):
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
            "kl_weight": self.kl_weight,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        encoder = keras.saving.deserialize_keras_object(config.pop("encoder"))
        decoder = keras.saving.deserialize_keras_object(config.pop("decoder"))
        return cls(encoder=encoder, decoder=decoder, **config)
