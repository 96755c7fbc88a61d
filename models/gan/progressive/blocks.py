"""The blocks of the progressive GANs (built once) and their wiring at one resolution."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import keras

from latentq.models.layers.progressive import (EqualizedConv2D, EqualizedDense, FadeIn, MinibatchStdDev, PixelNorm)
from latentq.models.gan.progressive.canvas import Frame, stage_filters, stage_resolutions

LEAK = 0.2


def _conv(x, filters: int, kernel_size: int = 3):
    return keras.layers.LeakyReLU(LEAK)(EqualizedConv2D(filters, kernel_size)(x))


def generator_base(codings: int, resolution: int, filters: int) -> keras.Model:
    """codings -> PixelNorm -> dense to resolution^2 x filters -> conv, each followed by
    LeakyReLU and PixelNorm."""
    z = keras.Input((codings,), name="codings")
    x = PixelNorm()(z)
    x = EqualizedDense(resolution * resolution * filters)(x)
    x = keras.layers.Reshape((resolution, resolution, filters))(x)
    x = PixelNorm()(keras.layers.LeakyReLU(LEAK)(x))
    x = PixelNorm()(_conv(x, filters))
    return keras.Model(z, x, name=f"g_block_{resolution}")


def generator_block(resolution: int, in_filters: int, filters: int) -> keras.Model:
    """Upsample (nearest) to `resolution`, two 3x3 convs, each + LeakyReLU + PixelNorm."""
    inputs = keras.Input((resolution // 2, resolution // 2, in_filters))
    x = keras.layers.UpSampling2D(2)(inputs)
    x = PixelNorm()(_conv(x, filters))
    x = PixelNorm()(_conv(x, filters))
    return keras.Model(inputs, x, name=f"g_block_{resolution}")


def to_rgb(resolution: int, filters: int, channels: int) -> keras.Model:
    inputs = keras.Input((resolution, resolution, filters))
    x = EqualizedConv2D(channels, 1, gain=1.0)(inputs)
    return keras.Model(inputs, keras.layers.Activation("tanh")(x), name=f"to_rgb_{resolution}")


def from_rgb(resolution: int, channels: int, filters: int) -> keras.Model:
    inputs = keras.Input((resolution, resolution, channels))
    return keras.Model(inputs, _conv(inputs, filters, 1), name=f"from_rgb_{resolution}")


def discriminator_block(resolution: int, filters: int, out_filters: int) -> keras.Model:
    """Two 3x3 convs + LeakyReLU, then 2x2 average pooling down to resolution / 2."""
    inputs = keras.Input((resolution, resolution, filters))
    x = _conv(_conv(inputs, filters), out_filters)
    return keras.Model(inputs, keras.layers.AveragePooling2D(2)(x), name=f"d_block_{resolution}")


def discriminator_base(resolution: int, filters: int, logits: bool = False) -> keras.Model:
    """Minibatch stddev -> 3x3 conv -> dense -> the probability that the image is real (its logit
    when `logits`, for the logit losses)."""
    inputs = keras.Input((resolution, resolution, filters))
    x = _conv(MinibatchStdDev()(inputs), filters)
    x = keras.layers.Flatten()(x)
    x = keras.layers.LeakyReLU(LEAK)(EqualizedDense(filters)(x))
    x = EqualizedDense(1, gain=1.0)(x)
    head = keras.layers.Activation("linear" if logits else "sigmoid", name="real")
    return keras.Model(inputs, head(x), name=f"d_block_{resolution}")


@dataclass
class DiscriminatorBlocks:
    """Every block of a progressive discriminator, lowest resolution first (ProGAN's, also
    StyleGAN's when it grows)."""

    resolutions: list[int]
    from_rgb: list[keras.Model]
    d_blocks: list[keras.Model]  # d_blocks[0] is the base (minibatch stddev, dense, the score)

    @classmethod
    def build(cls, frame: Frame, filters: int, start: int, logits: bool = False) -> "DiscriminatorBlocks":
        resolutions = stage_resolutions(start, frame.size)
        f = [stage_filters(filters, r) for r in resolutions]
        d_blocks = [discriminator_base(resolutions[0], f[0], logits)]
        d_blocks += [discriminator_block(r, f[i], f[i - 1]) for i, r in enumerate(resolutions) if i]
        return cls(resolutions, [from_rgb(r, frame.channels, f[i]) for i, r in enumerate(resolutions)], d_blocks)


@dataclass
class Blocks(DiscriminatorBlocks):
    """Every block of both ProGAN networks, lowest resolution first."""

    g_blocks: list[keras.Model] = field(default_factory=list)
    to_rgb: list[keras.Model] = field(default_factory=list)

    @classmethod
    def build(cls, frame: Frame, codings: int, filters: int, start: int, logits: bool = False) -> "Blocks":
        d = DiscriminatorBlocks.build(frame, filters, start, logits)
        f = [stage_filters(filters, r) for r in d.resolutions]
        g_blocks = [generator_base(codings, d.resolutions[0], f[0])]
        g_blocks += [generator_block(r, f[i - 1], f[i]) for i, r in enumerate(d.resolutions) if i]
        return cls(d.resolutions, d.from_rgb, d.d_blocks, g_blocks,
                   [to_rgb(r, f[i], frame.channels) for i, r in enumerate(d.resolutions)])


def discriminate_canvas(x, stage: int, from_rgb_layers: Sequence, d_blocks: Sequence, fade: Optional[FadeIn]):
    """The discriminator at stage `stage` on images x at that stage's resolution ([-1, 1]):
    from-RGB, the stage's block, then (blended with the half-size image's from-RGB while it
    fades in) the blocks below, down to the base's probability."""
    h = d_blocks[stage](from_rgb_layers[stage](x))
    if stage == 0:
        return h
    if fade is not None:
        h = fade([from_rgb_layers[stage - 1](keras.layers.AveragePooling2D(2)(x)), h])
    for i in range(stage - 1, -1, -1):
        h = d_blocks[i](h)
    return h


def wire_generator(frame: Frame, codings: int, blocks: Blocks, resolution: int, fade: FadeIn) -> keras.Model:
    """The "generator" for one stage: (n, codings) -> (n, *image shape) in [0, 1]."""
    stage = blocks.resolutions.index(resolution)
    z = keras.Input((codings,), name="codings")
    x = blocks.g_blocks[0](z)
    for i in range(1, stage):
        x = blocks.g_blocks[i](x)
    if stage == 0:
        rgb = blocks.to_rgb[0](x)
    else:
        old = keras.layers.UpSampling2D(2)(blocks.to_rgb[stage - 1](x))
        rgb = fade([old, blocks.to_rgb[stage](blocks.g_blocks[stage](x))])
    if resolution < frame.size:
        rgb = keras.layers.UpSampling2D(frame.size // resolution)(rgb)
    return keras.Model(z, frame.to_images(rgb), name="generator")


def wire_discriminator(frame: Frame, blocks: DiscriminatorBlocks, resolution: int, fade: FadeIn) -> keras.Model:
    """The "discriminator" for one stage: (n, *image shape) in [0, 1] -> (n, 1) probability."""
    stage = blocks.resolutions.index(resolution)
    images = keras.Input(frame.shape, name="images")
    x = frame.to_canvas(images)
    if resolution < frame.size:
        x = keras.layers.AveragePooling2D(frame.size // resolution)(x)
    return keras.Model(images, discriminate_canvas(x, stage, blocks.from_rgb, blocks.d_blocks, fade),
                       name="discriminator")
