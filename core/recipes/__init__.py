"""The recipe catalogue: names, typed parameters, defaults and bounds.

This package is TensorFlow-free so the CLI can validate a job and print `latentq models`
instantly. The Keras code that trains each recipe lives in `latentq.models` and is
attached to the same declaration (`@RECIPE.trainer`, see catalog.RecipeInfo).
"""

from latentq.recipes.catalog import RecipeInfo, RecipeParams, all_recipes, get_recipe, register

__all__ = ["RecipeInfo", "RecipeParams", "all_recipes", "get_recipe", "register"]
