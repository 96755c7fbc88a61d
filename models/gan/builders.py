"""The networks of the dense GAN and the DCGAN."""

from __future__ import annotations

import math
from typing import Optional

import keras
import numpy as np

from latentq.models.layers.gan import MinibatchDiscrimination
from latentq.models.gan.model import GAN, ema_options
from latentq.recipes import gans as recipes


def discriminator_head(params) -> list[keras.layers.Layer]:
    """[minibatch discrimination] + the unit saying "real": a probability (sigmoid) for loss=bce, a
    logit (linear) for the logit losses."""
    head = []
    if params.minibatch_discrimination:
        head.append(MinibatchDiscrimination(params.mbd_kernels, params.mbd_kernel_dim, name="minibatch_discrimination"))
    head.append(keras.layers.Dense(1, activation="sigmoid" if params.loss == "bce" else None,
                                   dtype="float32", name="real"))
    return head


def make_gan(params, generator, discriminator, seed: Optional[int], name: str) -> GAN:
    return GAN(generator, discriminator, params.codings, replay_size=params.replay_size,
               replay_fraction=params.replay_fraction, seed=seed, name=name,
               **ema_options(params))


def build_dense_gan(params: recipes.DenseGANParams, shape: tuple[int, ...], seed: Optional[int] = None) -> GAN:
    """The notes' GAN: codings -> 100 -> 150 -> image (sigmoid) and image -> 150 -> 100 -> real?"""
    generator = keras.Sequential(
        [
            keras.Input((params.codings,)),
            keras.layers.Dense(100, activation="selu"),
            keras.layers.Dense(150, activation="selu"),
            keras.layers.Dense(int(np.prod(shape)), activation="sigmoid"),
            keras.layers.Reshape(shape, dtype="float32"),
        ],
        name="generator",
    )
    discriminator = keras.Sequential(
        [
            keras.Input(shape),
            keras.layers.Flatten(),
            keras.layers.Dense(150, activation="selu"),
            keras.layers.Dense(100, activation="selu"),
            *discriminator_head(params),
        ],
        name="discriminator",
    )
    return make_gan(params, generator, discriminator, seed, "gan")


def upsampling_plan(height: int, width: int, upsamplings: Optional[int] = None) -> tuple[int, tuple[int, int]]:
    """How a DCGAN generator reaches (height, width): (number of stride-2 upsamplings, start size).

    start * 2**n covers the image; the generator crops what is over. Without an explicit count:
    the most upsamplings (3 at most) that divide the size exactly and leave a start of at least
    4x4 (28 -> 7x7 and 2; 32 -> 4x4 and 3), else 2 (1 below 8 pixels) and a crop
    (8 -> 2x2 and 2; 30 -> 8x8 and 2, 32 cropped to 30)."""
    if upsamplings is None:
        upsamplings = 2 if min(height, width) >= 8 else 1
        for n in (3, 2):
            if height % 2**n == 0 and width % 2**n == 0 and min(height, width) // 2**n >= 4:
                upsamplings = n
                break
    start = (math.ceil(height / 2**upsamplings), math.ceil(width / 2**upsamplings))
    return upsamplings, start


def build_dcgan(params: recipes.DCGANParams, shape: tuple[int, ...], seed: Optional[int] = None) -> GAN:
    """The notes' DCGAN, sized from the image: Dense -> start x start -> batch norm -> stride-2
    Conv2DTranspose (selu, batch norm) ... -> tanh, and stride-2 Conv2D + LeakyReLU(0.2) +
    dropout -> sigmoid. The networks work in [-1, 1] (tanh); the generator ends with a
    rescaling to [0, 1] and the discriminator starts with the inverse, so the data, the saved
    generator, its pictures and the replay buffer all stay in [0, 1]."""
    height, width = shape[0], shape[1]
    channels = shape[2] if len(shape) == 3 else 1
    n, (sh, sw) = upsampling_plan(height, width, params.upsamplings)
    f, k = params.filters, params.kernel_size
    g_layers = [
        keras.Input((params.codings,)),
        keras.layers.Dense(sh * sw * f * 2 ** (n - 1)),
        keras.layers.Reshape((sh, sw, f * 2 ** (n - 1))),
        keras.layers.BatchNormalization(momentum=0.9),
    ]
    for i in range(n - 1):
        g_layers += [
            keras.layers.Conv2DTranspose(f * 2 ** (n - 2 - i), k, strides=2, padding="same", activation="selu"),
            keras.layers.BatchNormalization(momentum=0.9),
        ]
    g_layers.append(keras.layers.Conv2DTranspose(channels, k, strides=2, padding="same", activation="tanh"))
    over_h, over_w = sh * 2**n - height, sw * 2**n - width
    if over_h or over_w:
        crop = ((over_h // 2, over_h - over_h // 2), (over_w // 2, over_w - over_w // 2))
        g_layers.append(keras.layers.Cropping2D(crop))
    g_layers += [keras.layers.Rescaling(0.5, offset=0.5, name="to_unit_range"), keras.layers.Reshape(shape, dtype="float32")]
    generator = keras.Sequential(g_layers, name="generator")

    d_layers = [keras.Input(shape), keras.layers.Reshape((height, width, channels)),
                keras.layers.Rescaling(2.0, offset=-1.0, name="to_tanh_range")]
    for i in range(n):
        d_layers += [keras.layers.Conv2D(f * 2**i, k, strides=2, padding="same"), keras.layers.LeakyReLU(0.2),
                     keras.layers.Dropout(params.dropout)]
    d_layers += [keras.layers.Flatten(), *discriminator_head(params)]
    discriminator = keras.Sequential(d_layers, name="discriminator")
    return make_gan(params, generator, discriminator, seed, "dcgan")
