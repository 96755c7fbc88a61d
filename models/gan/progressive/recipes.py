"""The progan recipe: ProGAN (latentq.models.gan.progressive.model) built from its parameters and
trained by the shared adversarial loop, growing stage by stage (growth.GrowthSchedule)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from latentq.models.gan.model import ema_options
from latentq.models.gan.progressive.growth import growth_schedule
from latentq.models.gan.progressive.model import ProGAN
from latentq.models.gan.recipes import train_adversarial
from latentq.recipes import gans as recipes

if TYPE_CHECKING:
    from latentq.runtime.context import RunContext


def build_progan(params: recipes.ProGANParams, shape: tuple[int, ...], seed: Optional[int] = None) -> ProGAN:
    return ProGAN(shape, params.codings, filters=params.filters, start_resolution=params.start_resolution,
                  seed=seed, logits=params.loss != "bce", name="progan", **ema_options(params))


@recipes.PROGAN.trainer
def train_progan(ctx: RunContext, params: recipes.ProGANParams) -> None:
    train_adversarial(ctx, build_progan, extra_callbacks=(growth_schedule(ctx, params),))
