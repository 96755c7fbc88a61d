"""The networks of the vae (Dense selu) and conv-vae (strided convolutions) recipes."""

from __future__ import annotations


import keras
import numpy as np


from latentq.models.vae.model import VAE, Sampling
from latentq.recipes import vae as recipes

def _encoder_head(inputs, z, codings: int, seed: int) -> keras.Model:
    mean = keras.layers.Dense(codings, name="codings_mean")(z)
    log_var = keras.layers.Dense(codings, name="codings_log_var")(z)
    sampled = Sampling(seed=seed, name="sampling")([mean, log_var])
    return keras.Model(inputs, [mean, log_var, sampled], name="encoder")


def build_vae(params: recipes.VAEParams, shape: tuple[int, ...], seed: int = 0) -> VAE:
    """The notes' VAE: Flatten, Dense 150 selu, Dense 100 selu, (μ, γ) of size 10; mirrored decoder."""
    inputs = keras.Input(shape, name="images")
    z = keras.layers.Flatten()(inputs)
    z = keras.layers.Dense(params.hidden1, activation="selu")(z)
    z = keras.layers.Dense(params.hidden2, activation="selu")(z)
    encoder = _encoder_head(inputs, z, params.codings, seed)

    codings = keras.Input((params.codings,), name="codings")
    x = keras.layers.Dense(params.hidden2, activation="selu")(codings)
    x = keras.layers.Dense(params.hidden1, activation="selu")(x)
    x = keras.layers.Dense(int(np.prod(shape)), activation="sigmoid")(x)
    decoder = keras.Model(codings, keras.layers.Reshape(shape, dtype="float32")(x), name="decoder")
    return VAE(encoder, decoder, kl_weight=params.kl_weight, name="vae")


def build_conv_vae(params: recipes.ConvVAEParams, shape: tuple[int, ...], seed: int = 0) -> VAE:
    """Two strided 3x3 convolutions down, Dense, (μ, γ); Dense and two transposed convolutions up
    (cropped back to the input size when it is not a multiple of 4)."""
    height, width = shape[0], shape[1]
    channels = shape[2] if len(shape) == 3 else 1
    inputs = keras.Input(shape, name="images")
    z = keras.layers.Reshape((height, width, channels))(inputs)
    z = keras.layers.Conv2D(params.filters1, 3, strides=2, padding="same", activation="relu")(z)
    z = keras.layers.Conv2D(params.filters2, 3, strides=2, padding="same", activation="relu")(z)
    small_h, small_w = z.shape[1], z.shape[2]
    z = keras.layers.Flatten()(z)
    z = keras.layers.Dense(params.hidden, activation="relu")(z)
    encoder = _encoder_head(inputs, z, params.codings, seed)

    codings = keras.Input((params.codings,), name="codings")
    x = keras.layers.Dense(small_h * small_w * params.filters2, activation="relu")(codings)
    x = keras.layers.Reshape((small_h, small_w, params.filters2))(x)
    x = keras.layers.Conv2DTranspose(params.filters2, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv2DTranspose(params.filters1, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv2DTranspose(channels, 3, padding="same", activation="sigmoid")(x)
    extra_h, extra_w = 4 * small_h - height, 4 * small_w - width
    if extra_h or extra_w:
        x = keras.layers.Cropping2D(((0, extra_h), (0, extra_w)))(x)
    x = keras.layers.Reshape(shape, dtype="float32")(x)
    decoder = keras.Model(codings, x, name="decoder")
    return VAE(encoder, decoder, kl_weight=params.kl_weight, name="conv_vae")
