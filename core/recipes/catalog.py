"""RecipeInfo and the registry that family modules add themselves to."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Literal, Optional, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field

from latentq.errors import UserError
from latentq.recipes.fields import deterministic_field, steps_per_execution_field
from latentq.recipes.needs import IMAGES, DataNeeds

# Family modules that register recipes; imported on first lookup.
_FAMILY_MODULES = (
    "latentq.recipes.autoencoders",
    "latentq.recipes.vae",
    "latentq.recipes.gans",
)

_REGISTRY: dict[str, "RecipeInfo"] = {}
_loaded = False


class RecipeParams(BaseModel):
    """Base of every recipe's parameter model: unknown keys are refused.

    The job-control parameters here apply to every recipe."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    checkpoint_minutes: float = Field(10.0, gt=0, le=360, description="checkpoint within an epoch this often")
    # Small networks are bound by the round trip from Python to the compiled step, not arithmetic:
    # several steps per call run their epochs faster than one.
    steps_per_execution: int = steps_per_execution_field(16)
    max_minutes: Optional[float] = Field(None, gt=0, le=525600, description="fail the run after this long")
    deterministic: bool = deterministic_field()
    precision: Literal["float32", "mixed_float16", "mixed_bfloat16"] = Field(
        "float32", description="dtype policy: mixed_* compute in 16 bits, keep weights and outputs float32 "
                               "(mixed_float16 with loss scaling; for GPUs, mixed_bfloat16 also TPUs / recent CPUs)")


class Family(str, Enum):
    AUTOENCODER = "autoencoder"
    VAE = "vae"
    GAN = "gan"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class RecipeInfo:
    """A recipe's declaration. Its trainer (Keras code, in latentq.models) is attached to this
    same object with `@RECIPE.trainer`, so the catalogue and the trainers cannot drift."""

    name: str
    family: Family
    summary: str
    params: type[RecipeParams]
    default_dataset: str = "mnist-5k"
    # What a generation job may ask of a trained run: sample, interpolate, reconstruct.
    can: frozenset[str] = field(default_factory=frozenset)
    # What the recipe needs of its dataset (checked by latentq.data_checks before a run exists).
    needs: DataNeeds = IMAGES
    # Set once by `trainer`; `train(ctx, params)`.
    train: Optional[Callable[..., None]] = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "family", Family(self.family))

    def trainer(self, fn: Callable[..., None]) -> Callable[..., None]:
        """Decorator attaching `fn(ctx, params) -> None` as this recipe's trainer; a second one is refused."""
        if self.train is not None:
            raise ValueError(f"recipe {self.name!r} already has a trainer ({self.train.__qualname__})")
        object.__setattr__(self, "train", fn)
        return fn

    def param_table(self) -> list[dict[str, Any]]:
        """One row per parameter (the recipe's own first, shared ones last): name, type, default, bounds, help."""
        mro = [c for c in self.params.__mro__ if issubclass(c, RecipeParams)]

        def generality(name: str) -> int:  # where a field was first declared: specific first
            return max(i for i, c in enumerate(mro) if name in c.__dict__.get("__annotations__", {}))

        rows = []
        for name in sorted(self.params.model_fields, key=generality):
            info = self.params.model_fields[name]
            bounds = []
            for meta in info.metadata:
                for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
                    value = getattr(meta, attr, None)
                    if value is not None:
                        bounds.append(f"{sign}{value}")
            rows.append({"name": name, "type": _type_name(info.annotation), "default": info.default,
                         "bounds": " ".join(bounds), "help": info.description or ""})
        return rows


def _type_name(annotation: Any) -> str:
    """int, float, bool, 'a|b|c' for a Literal, 'float|None' for an Optional."""
    args = get_args(annotation)
    if get_origin(annotation) is Literal:
        return "|".join(str(a) for a in args)
    if args:
        return "|".join(_type_name(a) for a in args)
    return "None" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


def register(info: RecipeInfo) -> RecipeInfo:
    if info.name in _REGISTRY:
        raise ValueError(f"recipe {info.name!r} registered twice")
    _REGISTRY[info.name] = info
    return info


def declared(name: str) -> RecipeInfo:
    """A declaration by name, for a family module itself (no catalogue loading)."""
    return _REGISTRY[name]


def _load() -> None:
    global _loaded
    if not _loaded:
        for module in _FAMILY_MODULES:
            importlib.import_module(module)
        _loaded = True


def all_recipes() -> list[RecipeInfo]:
    _load()
    return sorted(_REGISTRY.values(), key=lambda r: (r.family, r.name))


def get_recipe(name: str) -> RecipeInfo:
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        allowed = ", ".join(sorted(_REGISTRY))
        raise UserError(f"unknown recipe {name!r}; allowed: {allowed}") from None
