"""The stylegan recipe: StyleGAN or GrowingStyleGAN (latentq.models.gan.stylegan.model) built from
its parameters, trained by the shared adversarial loop (growing with grow=true), then the
style-mixing picture images/style_mixing.png (kind style_mixing)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from latentq.models.gan.model import ema_options
from latentq.models.gan.progressive.canvas import Frame
from latentq.models.gan.progressive.growth import growth_schedule
from latentq.models.gan.recipes import train_adversarial
from latentq.models.gan.stylegan.model import GrowingStyleGAN, StyleGAN, build_discriminator, build_generator, \
    build_mapping, build_synthesis
from latentq.models.gan.stylegan.sampling import MIXING_COLS, MIXING_ROWS, style_mixing_grid
from latentq.models.samples import fixed_noise
from latentq.recipes import gans as recipes

if TYPE_CHECKING:
    from latentq.runtime.context import RunContext


def save_style_mixing(ctx, model: StyleGAN) -> None:
    a = fixed_noise(ctx.spec.seed, MIXING_ROWS, model.codings, stream=2)
    b = fixed_noise(ctx.spec.seed, MIXING_COLS, model.codings, stream=3)
    with model.sampling_weights():
        grid = style_mixing_grid(model, a, b)
    ctx.save_grid("style_mixing", "images/style_mixing.png", grid, cols=MIXING_COLS + 1)


# ---- the recipe ----------------------------------------------------------------------------------


def build_stylegan(params: recipes.StyleGANParams, shape: tuple[int, ...], seed: Optional[int] = None) -> StyleGAN:
    logits = params.loss != "bce"
    if params.grow:
        return GrowingStyleGAN(shape, params.codings, w_dim=params.w_dim, mapping_layers=params.mapping_layers,
                               mapping_lr_multiplier=params.mapping_lr_multiplier, filters=params.filters,
                               start_resolution=params.start_resolution, mixing_prob=params.mixing_prob, seed=seed,
                               logits=logits, name="stylegan", **ema_options(params))
    frame = Frame.of(shape)
    generator = build_generator(
        build_mapping(params.codings, params.w_dim, params.mapping_layers, params.mapping_lr_multiplier),
        build_synthesis(frame, params.w_dim, params.filters, seed))
    return StyleGAN(generator, build_discriminator(frame, params.filters, logits=logits),
                    params.codings, mixing_prob=params.mixing_prob, seed=seed, name="stylegan", **ema_options(params))


@recipes.STYLEGAN.trainer
def train_stylegan(ctx: RunContext, params: recipes.StyleGANParams) -> None:
    growing = (growth_schedule(ctx, params),) if params.grow else ()
    model = train_adversarial(ctx, build_stylegan, extra_callbacks=growing)
    ctx.record(0, style_layers=model.num_styles)  # what `generate --crossover` may ask, checked before queueing
    with ctx.phase("final pictures"):
        save_style_mixing(ctx, model)
