"""Run a job: the trainer attached to the recipe's declaration (latentq.recipes), or generation."""

from __future__ import annotations

from typing import TYPE_CHECKING

import latentq.models  # noqa: F401  (attaches every trainer to its declaration)
from latentq.errors import UserError
from latentq.models import training
from latentq.recipes import get_recipe

if TYPE_CHECKING:
    from latentq.runtime.context import RunContext


def run(ctx: RunContext) -> None:
    """Run a job: train a recipe, or (kind generate) generate from a trained run."""
    training.configure_backend(ctx.spec.seed, ctx.params.precision, ctx.params.deterministic)
    if ctx.spec.kind == "generate":
        from latentq.models import generation

        generation.run(ctx)
        return
    recipe = get_recipe(ctx.spec.recipe)
    if recipe.train is None:
        raise UserError(f"recipe {ctx.spec.recipe!r} has no trainer in this worker's version of latentq")
    recipe.train(ctx, ctx.params)
