"""The recipe catalogue: names, typed parameters, defaults and bounds.

This package is TensorFlow-free so the CLI can validate a job and print `latentq models`
instantly. The Keras code that trains each recipe lives in `latentq.models` and is looked
up by the same name (`latentq.models.registry`).
"""

from latentq.recipes.catalog import RecipeInfo, RecipeParams, all_recipes, get_recipe, register

__all__ = ["RecipeInfo", "RecipeParams", "all_recipes", "get_recipe", "register"]
