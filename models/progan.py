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
deviation layer before the discriminator's last block. The loss is the run's
(latentq.models.gan_losses; WGAN-GP with the drift term by default, as in the paper, on the
discriminator's linear output), and a generator EMA averages every stage's blocks.

The current resolution is part of the model's config, alpha and the stage's step count are
variables: a checkpoint reloads at the stage, and the point of the fade-in, where it was.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Optional

import keras
from keras import ops

from latentq.errors import UserError
from latentq.models.style_layers import FadeIn
from latentq.models.canvas import Frame, stage_resolutions
from latentq.models.gan_recipes import train_adversarial
from latentq.models.growth import GrowthPlan, GrowthSchedule
from latentq.models.progan_blocks import Blocks, wire_discriminator, wire_generator
from latentq.models.samples import SAMPLE_GRID
from latentq.models.data_checks import require_images
from latentq.models.gan import GAN, ema_options
from latentq.models.samples import fixed_noise
from latentq.recipes import gans as recipes
from latentq.models import arg_checks

if TYPE_CHECKING:
    from latentq.worker.context import RunContext


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
                 resolution: Optional[int] = None, seed: Optional[int] = None, logits: bool = False, **kwargs):
        frame = Frame.of(image_shape)
        arg_checks.positive_int("codings", codings)
        arg_checks.positive_int("filters", filters)
        arg_checks.positive_int("start_resolution", start_resolution)
        if start_resolution < 4 or start_resolution & (start_resolution - 1) or start_resolution > frame.size:
            raise ValueError(f"`start_resolution` must be a power of two from 4 to {frame.size} (the images' "
                             f"padded size). Received: start_resolution={start_resolution!r}")
        blocks = Blocks.build(frame, codings, filters, start_resolution, logits=logits)
        resolution = start_resolution if resolution is None else resolution
        if resolution not in blocks.resolutions:
            raise ValueError(f"`resolution` must be one of the stages {blocks.resolutions}. "
                             f"Received: resolution={resolution!r}")
        g_fade, d_fade = FadeIn(name="g_fade"), FadeIn(name="d_fade")
        super().__init__(wire_generator(frame, codings, blocks, resolution, g_fade),
                         wire_discriminator(frame, blocks, resolution, d_fade), codings, seed=seed, **kwargs)
        self.frame = frame
        self.logits = bool(logits)
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
        self.ema = self.make_ema()  # now that the blocks of every stage are known

    def make_ema(self):
        return super().make_ema() if hasattr(self, "g_to_rgb") else None

    def ema_source(self):
        """Every stage's generator blocks: the average survives growing."""
        return self.all_variables(self.g_blocks, self.g_to_rgb)

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
            "logits": self.logits,
            "ema": self.ema_half_life,
            "ema_rampup": self.ema_rampup,
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


def build_progan(params: recipes.ProGANParams, shape: tuple[int, ...], seed: Optional[int] = None) -> ProGAN:
    return ProGAN(shape, params.codings, filters=params.filters, start_resolution=params.start_resolution,
                  seed=seed, logits=params.loss != "bce", name="progan", **ema_options(params))


@recipes.PROGAN.trainer
def train_progan(ctx: RunContext, params: recipes.ProGANParams) -> None:
    require_images(ctx)
    data = ctx.dataset()
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
    noise = fixed_noise(ctx.spec.seed, SAMPLE_GRID, params.codings, stream=0)
    train_adversarial(ctx, build_progan, extra_callbacks=(GrowthSchedule(ctx, plan, steps, noise),))
