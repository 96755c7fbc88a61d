"""Growing a progressive GAN (ProGAN; StyleGAN with grow=true): the model's growth state
(`Growing`), the plan of stages and fade-ins (`GrowthPlan`), and the callback that applies it
(`GrowthSchedule`, made for a run by `growth_schedule`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import keras
import numpy as np
from keras import ops

from latentq.models.gan.progressive.canvas import Frame, stage_resolutions
from latentq.models.samples import SAMPLE_GRID, fixed_noise, generate_images


def check_start_resolution(start_resolution, frame: Frame) -> None:
    if (isinstance(start_resolution, bool) or not isinstance(start_resolution, int) or start_resolution < 4
            or start_resolution & (start_resolution - 1) or start_resolution > frame.size):
        raise ValueError(f"`start_resolution` must be a power of two from 4 to {frame.size} (the images' "
                         f"padded size). Received: start_resolution={start_resolution!r}")


class Growing:
    """What a GAN whose networks grow adds to latentq's GAN; a mixin placed before the GAN
    class in the bases (`class ProGAN(Growing, GAN)`).

    The subclass builds every block of every stage in its constructor, wires one stage into
    "generator" and "discriminator" for `GAN.__init__`, keeps the two `FadeIn` layers as
    `g_fade` and `d_fade`, then calls `start_growth`. It says how a stage is wired (`wire`)
    and which blocks each network owns over all stages (`generator_groups`,
    `discriminator_groups`: sequences of keras Models).

    State (non-trainable variables, saved): `alpha` (the fade-in's blend, mirrored in the two
    FadeIn layers), `stage_step` (train steps since the last grow), `fade_steps` (steps the
    fade-in lasts; 0 = none). Each train step sets alpha = min(1, stage_step / fade_steps).
    Logs per epoch, besides the GAN's: `alpha` (at the epoch's end) and `resolution`.
    """

    def start_growth(self, resolutions: Sequence[int], resolution: int) -> None:
        self.resolutions = list(resolutions)
        self.resolution = resolution
        self.alpha = keras.Variable(1.0, trainable=False, dtype="float32", name="alpha")
        self.stage_step = keras.Variable(0.0, trainable=False, dtype="float32", name="stage_step")
        self.fade_steps = keras.Variable(0.0, trainable=False, dtype="float32", name="fade_steps")
        self.ema = self.make_ema()  # now that the blocks of every stage are known

    def wire(self, resolution: int) -> tuple[keras.Model, keras.Model]:
        raise NotImplementedError

    def generator_groups(self) -> tuple:
        raise NotImplementedError

    def discriminator_groups(self) -> tuple:
        raise NotImplementedError

    def growth_config(self) -> dict:
        """The config every growing GAN saves (its subclass adds its own networks' knobs)."""
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

    @property
    def stage(self) -> int:
        return self.resolutions.index(self.resolution)

    @staticmethod
    def check_stage(resolution, resolutions: Sequence[int]) -> None:
        if resolution not in resolutions:
            raise ValueError(f"`resolution` must be one of the stages {list(resolutions)}. "
                             f"Received: resolution={resolution!r}")

    def make_ema(self):
        return super().make_ema() if hasattr(self, "fade_steps") else None

    def ema_source(self):
        """Every stage's generator blocks: the average survives growing."""
        return self.all_variables(*self.generator_groups())

    def compile(self, d_optimizer="rmsprop", g_optimizer="rmsprop", loss=None, **kwargs):
        """As GAN.compile, but each optimizer is built on every block of its network (all
        stages), so growing needs no new optimizer and a checkpoint's slots load at any stage."""
        d_optimizer, g_optimizer = keras.optimizers.get(d_optimizer), keras.optimizers.get(g_optimizer)
        if d_optimizer is not g_optimizer:  # (GAN.compile refuses the same object for both)
            if not d_optimizer.built:
                d_optimizer.build(self.all_variables(*self.discriminator_groups()))
            if not g_optimizer.built:
                g_optimizer.build(self.all_variables(*self.generator_groups()))
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
        self.check_stage(resolution, self.resolutions)
        if isinstance(fade_steps, bool) or not isinstance(fade_steps, int) or fade_steps < 0:
            raise ValueError(f"`fade_steps` must be an integer >= 0. Received: fade_steps={fade_steps!r}")
        generator, discriminator = self.wire(resolution)
        self._replace("generator", generator)
        self._replace("discriminator", discriminator)
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
        # train_adversarial counted the first stage's wiring; a growing GAN's networks are all its blocks
        model = self.model
        self.ctx.record(0, generator_params=_count(model.all_variables(*model.generator_groups())),
                        discriminator_params=_count(model.all_variables(*model.discriminator_groups())))

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


def growth_schedule(ctx, knobs) -> GrowthSchedule:
    """The run's GrowthSchedule from its parameters `knobs` (GrowthParams' start_resolution,
    epochs_per_stage, fade_in, and codings; the recipe's data needs keep start_resolution within
    the images' padded size); a plan that never reaches the last stage is a warning."""
    data = ctx.dataset()
    frame = Frame.of(data.sample_shape)
    plan = GrowthPlan.make(stage_resolutions(knobs.start_resolution, frame.size), ctx.spec.epochs,
                           knobs.epochs_per_stage, knobs.fade_in)
    if not plan.final_reached:
        ctx.event("warning", f"{ctx.spec.epochs} epochs at epochs_per_stage={knobs.epochs_per_stage} never reach "
                             f"the last stage ({frame.size}x{frame.size}); samples stay at a lower resolution")
    steps = int(math.ceil(data.train_count / ctx.spec.batch_size))
    return GrowthSchedule(ctx, plan, steps, fixed_noise(ctx.spec.seed, SAMPLE_GRID, knobs.codings, stream=0))
