"""The growth schedule of a progressive GAN: stages, fade-ins, and the callback that applies it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import keras
import numpy as np

from latentq.models.samples import generate_images


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
