"""Recipe name → the function that trains it. Names match latentq.recipes (a test checks)."""

from __future__ import annotations

from latentq.models import autoencoders, gans, training, vae
from latentq.models import progan, stylegan
from latentq.errors import UserError

TRAINERS = {
    **autoencoders.TRAINERS,
    **vae.TRAINERS,
    **gans.TRAINERS,
    **progan.TRAINERS, **stylegan.TRAINERS,
}


def run(ctx) -> None:
    """Run a job: train a recipe, or (kind generate) generate from a trained run."""
    training.configure_backend(ctx.spec.seed)
    if ctx.spec.kind == "generate":
        from latentq.models import generation

        generation.run(ctx)
        return
    try:
        trainer = TRAINERS[ctx.spec.recipe]
    except KeyError:
        raise UserError(f"recipe {ctx.spec.recipe!r} has no trainer in this worker's version of latentq") from None
    trainer(ctx)
