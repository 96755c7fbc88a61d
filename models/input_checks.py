"""Checks of a run's dataset that recipes of every family share."""

from __future__ import annotations

from latentq.errors import UserError


def require_images(ctx) -> None:
    data = ctx.dataset()
    if not data.is_image:
        raise UserError(
            f"recipe {ctx.spec.recipe!r} needs image data in [0, 1]; dataset {data.name!r} has samples "
            f"of shape {data.sample_shape} (use linear-ae for vectors)"
        )


def require_unit_range(ctx) -> None:
    data = ctx.dataset()
    low, high = float(data.x_train.min()), float(data.x_train.max())
    if low < 0 or high > 1:
        raise UserError(
            f"recipe {ctx.spec.recipe!r} reconstructs with a sigmoid and needs values in [0, 1]; dataset "
            f"{data.name!r} has values in {low:g}..{high:g} (use linear-ae)"
        )
