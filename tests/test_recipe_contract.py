"""The recipe contract: every catalogued recipe has exactly one trainer, attached to its declaration."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import latentq.models  # noqa: F401  (attaches every trainer)
from latentq.recipes import RecipeInfo, RecipeParams, all_recipes
from latentq.recipes.catalog import Family


def test_each_recipe_has_exactly_one_trainer_and_each_trainer_a_declaration():
    recipes = all_recipes()
    assert recipes and all(r.train is not None for r in recipes), [r.name for r in recipes if r.train is None]
    trainers = [r.train for r in recipes]
    assert len(set(trainers)) == len(trainers)  # no function trains two recipes
    # Every function in latentq.models that takes (ctx, params) is attached to a declaration.
    attached = set(trainers)
    for module_info in pkgutil.iter_modules(latentq.models.__path__):
        module = importlib.import_module(f"latentq.models.{module_info.name}")
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ == module.__name__ and list(inspect.signature(fn).parameters) == ["ctx", "params"]:
                assert fn in attached, f"{module.__name__}.{name} trains no declared recipe"


def test_trainers_take_the_context_and_their_own_params_class():
    for recipe in all_recipes():
        hints = inspect.signature(recipe.train).parameters
        assert list(hints) == ["ctx", "params"], recipe.name
        annotation = hints["params"].annotation
        assert annotation.endswith(recipe.params.__name__), (recipe.name, annotation)


def test_attaching_a_second_trainer_is_refused():
    info = RecipeInfo(name="x-test", family="autoencoder", summary="", params=RecipeParams)
    assert info.family is Family.AUTOENCODER

    @info.trainer
    def first(ctx, params):
        pass

    with pytest.raises(ValueError, match="already has a trainer"):
        @info.trainer
        def second(ctx, params):
            pass
    assert info.train is first


def test_a_declared_recipe_refuses_a_second_trainer():
    recipe = all_recipes()[0]
    with pytest.raises(ValueError, match="already has a trainer"):
        recipe.trainer(lambda ctx, params: None)


def test_a_recipe_that_can_sample_declares_eval_samples():
    """Generation reads it from the parent's parameters (latentq.models.generation)."""
    for recipe in all_recipes():
        if "sample" in recipe.can:
            assert "eval_samples" in recipe.params.model_fields, recipe.name
