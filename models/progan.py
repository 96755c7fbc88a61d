"""Progressive growing of GANs (the notes' ProGAN), on latentq's GAN model.

Training starts with 4x4 images (`start_resolution`) and, stage by stage, doubles the
resolution of both networks until it reaches the dataset's image size, padded to a power of
two (28x28 -> 32x32; 8x8 digits: 4 then 8). Every block is built once, in the constructor;
`ProGAN.grow(resolution)` wires the existing blocks into a new "generator" and
"discriminator" for that resolution, as keras-io's StyleGAN example does. While a new stage
grows in, its output is blended with the previous stage's, upsampled (generator) or
downsampled (discriminator) (`FadeIn` layers); the blend weight `alpha` is a non-trainable
variable that the train step moves from 0 to 1 over the first `fade_in` share of the stage.

The two networks, at every stage, keep latentq's GAN contract, so `GAN.train_step` (both
phases in one compiled step), the monitors and `latentq generate` work unchanged:
- "generator" maps (n, codings) noise to (n, *image shape) in [0, 1]: the stage's image
  (tanh) upsampled (nearest) to the padded size, mapped to [0, 1] and cropped back;
- "discriminator" reads (n, *image shape) in [0, 1]: padded with black, mapped to [-1, 1],
  average-pooled down to the stage's resolution. Average pooling undoes nearest upsampling
  exactly, so the discriminator sees real and generated images at the stage's resolution.

The notes' techniques (latentq.models.style_layers): equalized learning rate in every dense
and conv layer, pixelwise normalisation after each generator conv, a minibatch standard
deviation layer before the discriminator's last block. The loss stays latentq's (binary
cross-entropy on the discriminator's probability, the generator's labels all "real").

The current resolution is part of the model's config, alpha and the stage's step count are
variables: a checkpoint reloads at the stage, and the point of the fade-in, where it was.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import keras
import numpy as np
from keras import ops

from latentq.errors import UserError
from latentq.models import gans
from latentq.models.autoencoders import require_images
from latentq.models.gans import GAN, fixed_noise, generate_images
from latentq.models.style_layers import (EqualizedConv2D, EqualizedDense, FadeIn, MinibatchStdDev, PixelNorm)

LEAK = 0.2


# ---- image sizes ---------------------------------------------------------------------------------


def canvas_size(height: int, width: int) -> int:
    """The power of two (at least 4) the networks work at: the image is padded up to it."""
    return max(4, 2 ** math.ceil(math.log2(max(height, width))))


def stage_resolutions(start: int, size: int) -> list[int]:
    """start, 2 * start, ..., size (both powers of two)."""
    if start < 4 or start & (start - 1) or size & (size - 1):
        raise ValueError(f"resolutions must be powers of two >= 4. Received: start={start}, size={size}")
    if start > size:
        raise ValueError(f"the first stage cannot be larger than the images. Received: start={start}, size={size}")
    return [2**k for k in range(int(math.log2(start)), int(math.log2(size)) + 1)]


def stage_filters(filters: int, resolution: int) -> int:
    """Filters of the blocks at `resolution`: `filters` up to 8x8, halved with each doubling
    after that, never below min(8, filters)."""
    return max(min(8, filters), filters // max(1, resolution // 8))


@dataclass(frozen=True)
class Frame:
    """Where the dataset's images sit in the networks' square power-of-two canvas."""

    shape: tuple[int, ...]  # the dataset's sample shape: (H, W) or (H, W, C)
    size: int

    @classmethod
    def of(cls, shape: Sequence[int]) -> "Frame":
        shape = tuple(int(d) for d in shape)
        if len(shape) not in (2, 3) or min(shape) < 1:
            raise ValueError(f"images must have shape (height, width) or (height, width, channels). "
                             f"Received: image_shape={shape}")
        return cls(shape, canvas_size(shape[0], shape[1]))

    @property
    def channels(self) -> int:
        return self.shape[2] if len(self.shape) == 3 else 1

    def _margins(self) -> tuple[tuple[int, int], tuple[int, int]]:
        dh, dw = self.size - self.shape[0], self.size - self.shape[1]
        return (dh // 2, dh - dh // 2), (dw // 2, dw - dw // 2)

    def to_canvas(self, images):
        """Images in [0, 1] -> (size, size, channels) in [-1, 1], padded with black."""
        x = keras.layers.Reshape((self.shape[0], self.shape[1], self.channels))(images)
        margins = self._margins()
        if any(sum(m) for m in margins):
            x = keras.layers.ZeroPadding2D(margins)(x)
        return keras.layers.Rescaling(2.0, offset=-1.0, name="to_tanh_range")(x)

    def to_images(self, canvas):
        """(size, size, channels) in [-1, 1] -> images of the dataset's shape in [0, 1]."""
        x = keras.layers.Rescaling(0.5, offset=0.5, name="to_unit_range")(canvas)
        margins = self._margins()
        if any(sum(m) for m in margins):
            x = keras.layers.Cropping2D(margins)(x)
        return keras.layers.Reshape(self.shape)(x)


# ---- the blocks (built once) ---------------------------------------------------------------------


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


def discriminator_base(resolution: int, filters: int) -> keras.Model:
    """Minibatch stddev -> 3x3 conv -> dense -> the probability that the image is real."""
    inputs = keras.Input((resolution, resolution, filters))
    x = _conv(MinibatchStdDev()(inputs), filters)
    x = keras.layers.Flatten()(x)
    x = keras.layers.LeakyReLU(LEAK)(EqualizedDense(filters)(x))
    x = EqualizedDense(1, gain=1.0)(x)
    return keras.Model(inputs, keras.layers.Activation("sigmoid", name="real")(x), name=f"d_block_{resolution}")


@dataclass
class Blocks:
    """Every block of both networks, lowest resolution first."""

    resolutions: list[int]
    g_blocks: list[keras.Model]
    to_rgb: list[keras.Model]
    from_rgb: list[keras.Model]
    d_blocks: list[keras.Model]  # d_blocks[0] is the base (4x4: minibatch stddev, dense, sigmoid)

    @classmethod
    def build(cls, frame: Frame, codings: int, filters: int, start: int) -> "Blocks":
        resolutions = stage_resolutions(start, frame.size)
        f = [stage_filters(filters, r) for r in resolutions]
        channels = frame.channels
        g_blocks = [generator_base(codings, resolutions[0], f[0])]
        g_blocks += [generator_block(r, f[i - 1], f[i]) for i, r in enumerate(resolutions) if i]
        d_blocks = [discriminator_base(resolutions[0], f[0])]
        d_blocks += [discriminator_block(r, f[i], f[i - 1]) for i, r in enumerate(resolutions) if i]
        return cls(resolutions, g_blocks, [to_rgb(r, f[i], channels) for i, r in enumerate(resolutions)],
                   [from_rgb(r, channels, f[i]) for i, r in enumerate(resolutions)], d_blocks)


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


def wire_discriminator(frame: Frame, blocks: Blocks, resolution: int, fade: FadeIn) -> keras.Model:
    """The "discriminator" for one stage: (n, *image shape) in [0, 1] -> (n, 1) probability."""
    stage = blocks.resolutions.index(resolution)
    images = keras.Input(frame.shape, name="images")
    x = frame.to_canvas(images)
    if resolution < frame.size:
        x = keras.layers.AveragePooling2D(frame.size // resolution)(x)
    return keras.Model(images, discriminate_canvas(x, stage, blocks.from_rgb, blocks.d_blocks, fade),
                       name="discriminator")


# ---- the model -----------------------------------------------------------------------------------


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return value


@keras.saving.register_keras_serializable(package="latentq")
class ProGAN(GAN):
    """A GAN whose networks grow: `grow(resolution)` wires the blocks for one stage.

    Args:
        image_shape: the dataset's sample shape, (H, W) or (H, W, C).
        codings: size of the generator's Gaussian input.
        filters: filters of the 4x4 and 8x8 blocks, halved with each doubling after that.
        start_resolution: the first stage's resolution (a power of two >= 4).
        resolution: the stage to wire now (default: start_resolution); a saved model's config
            holds the stage it was at.
        seed: seed of the model's noise.

    State (non-trainable variables, saved): `alpha` (the fade-in's blend, also mirrored in the
    two FadeIn layers), `stage_step` (train steps since the last grow), `fade_steps` (steps the
    fade-in lasts; 0 = none). Each train step sets alpha = min(1, stage_step / fade_steps).
    Logs per epoch, besides the GAN's: `alpha` (at the epoch's end) and `resolution`.
    """

    def __init__(self, image_shape, codings: int, filters: int = 64, start_resolution: int = 4,
                 resolution: Optional[int] = None, seed: Optional[int] = None, **kwargs):
        frame = Frame.of(image_shape)
        _positive_int("codings", codings)
        _positive_int("filters", filters)
        _positive_int("start_resolution", start_resolution)
        if start_resolution < 4 or start_resolution & (start_resolution - 1) or start_resolution > frame.size:
            raise ValueError(f"`start_resolution` must be a power of two from 4 to {frame.size} (the images' "
                             f"padded size). Received: start_resolution={start_resolution!r}")
        blocks = Blocks.build(frame, codings, filters, start_resolution)
        resolution = start_resolution if resolution is None else resolution
        if resolution not in blocks.resolutions:
            raise ValueError(f"`resolution` must be one of the stages {blocks.resolutions}. "
                             f"Received: resolution={resolution!r}")
        g_fade, d_fade = FadeIn(name="g_fade"), FadeIn(name="d_fade")
        super().__init__(wire_generator(frame, codings, blocks, resolution, g_fade),
                         wire_discriminator(frame, blocks, resolution, d_fade), codings, seed=seed, **kwargs)
        self.frame = frame
        self.filters = filters
        self.start_resolution = start_resolution
        self.resolutions = list(blocks.resolutions)
        self.resolution = resolution
        self.g_blocks, self.g_to_rgb = blocks.g_blocks, blocks.to_rgb
        self.d_from_rgb, self.d_blocks = blocks.from_rgb, blocks.d_blocks
        self.g_fade, self.d_fade = g_fade, d_fade
        self.alpha = keras.Variable(1.0, trainable=False, dtype="float32", name="alpha")
        self.stage_step = keras.Variable(0.0, trainable=False, dtype="float32", name="stage_step")
        self.fade_steps = keras.Variable(0.0, trainable=False, dtype="float32", name="fade_steps")

    @property
    def blocks(self) -> Blocks:
        return Blocks(self.resolutions, list(self.g_blocks), list(self.g_to_rgb), list(self.d_from_rgb),
                      list(self.d_blocks))

    @property
    def stage(self) -> int:
        return self.resolutions.index(self.resolution)

    # -- configuration ------------------------------------------------------------------------

    def get_config(self):
        return {
            **keras.layers.Layer.get_config(self),
            "image_shape": list(self.frame.shape),
            "codings": self.codings,
            "filters": self.filters,
            "start_resolution": self.start_resolution,
            "resolution": self.resolution,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)

    def compile(self, d_optimizer="rmsprop", g_optimizer="rmsprop", loss=None, **kwargs):
        """As GAN.compile, but each optimizer is built on every block of its network (all
        stages), so growing needs no new optimizer and a checkpoint's slots load at any stage."""
        d_optimizer, g_optimizer = keras.optimizers.get(d_optimizer), keras.optimizers.get(g_optimizer)
        if d_optimizer is not g_optimizer:  # (GAN.compile refuses the same object for both)
            if not d_optimizer.built:
                d_optimizer.build(self.all_variables(self.d_from_rgb, self.d_blocks))
            if not g_optimizer.built:
                g_optimizer.build(self.all_variables(self.g_blocks, self.g_to_rgb))
        super().compile(d_optimizer=d_optimizer, g_optimizer=g_optimizer, loss=loss, **kwargs)

    @staticmethod
    def all_variables(*groups) -> list:
        seen, variables = set(), []
        for group in groups:
            for block in group:
                for v in block.trainable_variables:
                    if id(v) not in seen:
                        seen.add(id(v))
                        variables.append(v)
        return variables

    # -- growing ------------------------------------------------------------------------------

    def grow(self, resolution: int, fade_steps: int = 0) -> None:
        """Wire the existing blocks for `resolution` (any stage, larger or smaller) and restart
        the stage's step count; a stage above the first fades in over `fade_steps` train steps
        (0: at once). Compiled train/test/predict functions are rebuilt for the new wiring."""
        if resolution not in self.resolutions:
            raise ValueError(f"`resolution` must be one of the stages {self.resolutions}. "
                             f"Received: resolution={resolution!r}")
        if isinstance(fade_steps, bool) or not isinstance(fade_steps, int) or fade_steps < 0:
            raise ValueError(f"`fade_steps` must be an integer >= 0. Received: fade_steps={fade_steps!r}")
        blocks = self.blocks
        self._replace("generator", wire_generator(self.frame, self.codings, blocks, resolution, self.g_fade))
        self._replace("discriminator", wire_discriminator(self.frame, blocks, resolution, self.d_fade))
        self.resolution = resolution
        fading = self.stage > 0 and fade_steps > 0
        self.fade_steps.assign(float(fade_steps if fading else 0))
        self.stage_step.assign(0.0)
        self.set_alpha(0.0 if fading else 1.0)
        if self.train_function is not None:  # inside fit(): it calls self.train_function each step
            self.make_train_function(force=True)
        self.test_function = None
        self.predict_function = None

    def _replace(self, name: str, network: keras.Model) -> None:
        """Set a network attribute, dropping the old wiring from the tracked layers (else
        `model.layers` and `get_layer("generator")` would still list the previous stage's)."""
        old = getattr(self, name, None)
        if old is None or old is network:
            setattr(self, name, network)
            return
        tracked = self._layers
        index = next((i for i, layer in enumerate(tracked) if layer is old), None)
        self._tracker.untrack(old)
        setattr(self, name, network)
        if index is not None and tracked and tracked[-1] is network:
            # Same place as the old wiring: the saving walk names weights by their position in
            # `model.layers`, so a grown model and one built at that stage must list alike.
            tracked.insert(index, tracked.pop())

    def set_alpha(self, alpha) -> None:
        self.alpha.assign(alpha)
        self.g_fade.alpha.assign(alpha)
        self.d_fade.alpha.assign(alpha)

    # -- training -----------------------------------------------------------------------------

    def train_step(self, data):
        self.stage_step.assign_add(1.0)
        fade = ops.maximum(self.fade_steps, 1.0)
        alpha = ops.where(self.fade_steps > 0, ops.minimum(1.0, self.stage_step / fade), 1.0)
        self.set_alpha(alpha)
        logs = super().train_step(data)
        return {**logs, "alpha": ops.convert_to_tensor(alpha),
                "resolution": ops.convert_to_tensor(float(self.resolution))}


# ---- the schedule --------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrowthPlan:
    """Which stage each epoch trains at, and how long each stage's fade-in lasts (in epochs).

    With `epochs_per_stage` E, stage i starts at epoch i * E and the last stage trains on to
    the job's end; otherwise the job's epochs are split evenly (stage i starts at
    floor(i * epochs / stages); a job with fewer epochs than stages skips some). A stage
    above the first fades in over `fade_in` x its length (E, or its share)."""

    resolutions: tuple[int, ...]
    starts: tuple[int, ...]
    fade_epochs: tuple[float, ...]
    epochs: int

    @classmethod
    def make(cls, resolutions: Sequence[int], epochs: int, epochs_per_stage: Optional[int],
             fade_in: float) -> "GrowthPlan":
        n = len(resolutions)
        if epochs_per_stage:
            starts = [i * epochs_per_stage for i in range(n)]
            lengths = [float(epochs_per_stage)] * n
        else:
            starts = [(i * epochs) // n for i in range(n)]
            ends = starts[1:] + [epochs]
            lengths = [float(e - s) for s, e in zip(starts, ends)]
        fades = [0.0] + [fade_in * length for length in lengths[1:]]
        return cls(tuple(resolutions), tuple(starts), tuple(fades), epochs)

    def stage_at(self, epoch: int) -> int:
        """The stage of a 0-based epoch: the last one starting at or before it."""
        return max(i for i, s in enumerate(self.starts) if s <= epoch)

    def resolution_at(self, epoch: int) -> int:
        return self.resolutions[self.stage_at(epoch)]

    def ends_stage(self, epoch: int) -> bool:
        """Is this 0-based epoch the last one of its stage in this job?"""
        return epoch + 1 == self.epochs or self.stage_at(epoch + 1) != self.stage_at(epoch)

    @property
    def final_reached(self) -> bool:
        return self.starts[-1] < self.epochs


def _count(variables) -> int:
    return int(sum(np.prod(v.shape) for v in variables))


class GrowthSchedule(keras.callbacks.Callback):
    """Grows the model at the start of the epochs where the plan changes stage, and after a
    stage's last epoch writes images/stages/res_RRR.png (kind stage_samples): the fixed-noise
    samples at that stage's resolution (upsampled to the image size)."""

    def __init__(self, ctx, plan: GrowthPlan, steps_per_epoch: int, noise: np.ndarray,
                 sample_fn=generate_images):
        super().__init__()
        self.ctx = ctx
        self.plan = plan
        self.steps_per_epoch = steps_per_epoch
        self.noise = noise
        self.sample_fn = sample_fn

    def on_train_begin(self, logs=None):
        # train_adversarial counted the first stage's wiring; a ProGAN's networks are all its blocks
        model = self.model
        self.ctx.record(0, generator_params=_count(model.all_variables(model.g_blocks, model.g_to_rgb)),
                        discriminator_params=_count(model.all_variables(model.d_from_rgb, model.d_blocks)))

    def on_epoch_begin(self, epoch, logs=None):
        stage = self.plan.stage_at(epoch)
        resolution = self.plan.resolutions[stage]
        if resolution == self.model.resolution:
            return
        fade_steps = int(round(self.plan.fade_epochs[stage] * self.steps_per_epoch))
        self.model.grow(resolution, fade_steps)
        self.ctx.event("info", f"epoch {epoch + 1}: grew to {resolution}x{resolution}"
                               + (f", fading in over {fade_steps} steps" if self.model.stage and fade_steps else ""))

    def on_epoch_end(self, epoch, logs=None):
        if getattr(self.model, "stop_training", False) or not self.plan.ends_stage(epoch):
            return
        res = self.model.resolution
        images = self.sample_fn(self.model, self.noise)
        self.ctx.save_grid("stage_samples", f"images/stages/res_{res:03d}.png", images,
                           cols=int(math.ceil(math.sqrt(len(images)))))


# ---- the recipe ----------------------------------------------------------------------------------


def build_progan(params, shape: tuple[int, ...], seed: Optional[int] = None) -> ProGAN:
    return ProGAN(shape, params.codings, filters=params.filters, start_resolution=params.start_resolution,
                  seed=seed, name="progan")


def train_progan(ctx) -> None:
    require_images(ctx)
    data = ctx.dataset()
    params = ctx.params
    frame = Frame.of(data.sample_shape)
    if params.start_resolution > frame.size:
        raise UserError(f"start_resolution={params.start_resolution} is larger than the images of {data.name} "
                        f"({frame.shape[0]}x{frame.shape[1]}, padded to {frame.size}x{frame.size}); allowed: "
                        f"{', '.join(str(r) for r in stage_resolutions(4, frame.size))}")
    plan = GrowthPlan.make(stage_resolutions(params.start_resolution, frame.size), ctx.spec.epochs,
                           params.epochs_per_stage, params.fade_in)
    if not plan.final_reached:
        ctx.event("warning", f"{ctx.spec.epochs} epochs at epochs_per_stage={params.epochs_per_stage} never reach "
                             f"the last stage ({frame.size}x{frame.size}); samples stay at a lower resolution")
    steps = int(math.ceil(len(data.x_train) / ctx.spec.batch_size))
    noise = fixed_noise(ctx.spec.seed, gans.SAMPLE_GRID, params.codings, stream=0)
    gans.train_adversarial(ctx, build_progan, extra_callbacks=(GrowthSchedule(ctx, plan, steps, noise),))


TRAINERS = {
    "progan": train_progan,
}
