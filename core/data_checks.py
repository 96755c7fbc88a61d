"""A dataset's contents against a recipe's DataNeeds, TensorFlow-free.

The CLI calls `check_job` before a run row, folder or message exists; the worker calls
`check_dataset` when the job starts (the files may have changed since). Reading the dataset
refuses what no recipe can use (missing arrays, NaN, complex values, corrupt or mixed-size
images, absurd labels: latentq.datasets); this module refuses what this recipe cannot use."""

from __future__ import annotations

import math
from typing import Any

from latentq import datasets
from latentq.errors import UserError
from latentq.recipes import RecipeInfo, get_recipe


def facts_for(name: str, seed: int = 0) -> datasets.Facts:
    """The named datasets are known without loading them, a prepared one from its manifest; the
    others are opened and checked (a uint8 .npz from its header, a float one read)."""
    if name in datasets.KNOWN_FACTS:
        return datasets.KNOWN_FACTS[name]
    if name.startswith("data:"):
        return datasets.prepared_facts(name[5:])
    source = datasets.open_source(name, seed)
    try:
        return source.facts()
    finally:
        source.close()


def check_job(spec) -> None:
    """Raise UserError (one line) unless a training job's dataset fits its recipe."""
    if spec.kind != "train":
        return  # a generation job uses its parent's data, checked when the parent trained
    check_facts(facts_for(spec.dataset, spec.seed), get_recipe(spec.recipe), spec.recipe_params())


def check_dataset(data: datasets.Source, spec) -> None:
    """The worker's check, on the dataset it is about to train on."""
    if spec.kind == "train":
        check_facts(data.facts(), get_recipe(spec.recipe), spec.recipe_params())


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape) if shape else "scalar"


def check_facts(facts: datasets.Facts, recipe: RecipeInfo, params: Any) -> None:
    needs, name, data = recipe.needs, recipe.name, facts.name
    shape = facts.sample_shape
    if not shape or 0 in shape or len(shape) > 3:
        raise UserError(f"dataset {data!r}: samples of shape {shape} are neither vectors, sequences nor images")
    if needs.images and not facts.is_image:
        raise UserError(f"recipe {name!r} needs image data (H, W) or (H, W, C); dataset {data!r} has samples of "
                        f"shape {shape} (for vectors use linear-ae or recurrent-ae)")
    if needs.unit_range and (facts.low < 0 or facts.high > 1):
        raise UserError(f"recipe {name!r} outputs values in [0, 1] and needs data in [0, 1]; dataset {data!r} "
                        f"has values in {facts.low:g}..{facts.high:g} (use linear-ae)")
    if needs.labels and facts.classes < 2:
        found = "one class" if facts.classes == 1 else "no labels"
        raise UserError(f"recipe {name!r} needs class labels (at least 2 classes: npz array y, or one "
                        f"sub-folder per class for images:DIR); dataset {data!r} has {found}")
    wanted = needs.min_train_samples(params)
    if facts.train_samples < wanted:
        raise UserError(f"recipe {name!r} needs at least {wanted} training samples with these parameters; "
                        f"dataset {data!r} has {facts.train_samples} (of {facts.samples}, 10% held out)")
    if needs.below_features:
        features, value = math.prod(shape), getattr(params, needs.below_features)
        if value >= features:
            allowed = f"allowed: {needs.below_features} <= {features - 1}" if features > 1 else "no value fits"
            raise UserError(f"recipe {name!r}: {needs.below_features}={value} must be below the {features} values "
                            f"of each sample of dataset {data!r} (shape {shape}); {allowed}")
    rule = needs.side
    if rule and facts.is_image:
        side = max(shape[0], shape[1])
        minimum = rule.minimum(params)
        if side < minimum:
            fits = rule.fits(side)
            allowed = f"allowed: {fits}" if fits else f"no {rule.param} fits them"
            raise UserError(f"recipe {name!r}: {rule.param}={getattr(params, rule.param)} needs images with a "
                            f"longer side of at least {minimum} pixels ({rule.why}); dataset {data!r} has "
                            f"{_shape(shape[:2])} images; {allowed}")
