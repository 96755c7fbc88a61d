"""RecipeInfo and the registry that family modules add themselves to."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field

from latentq.errors import UserError

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

    The two job-control parameters here apply to every recipe."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    checkpoint_minutes: float = Field(10.0, gt=0, le=1440, description="checkpoint within an epoch this often")
    max_minutes: Optional[float] = Field(None, gt=0, le=525600, description="fail the run after this long")


@dataclass(frozen=True)
class RecipeInfo:
    name: str
    family: str  # autoencoder | vae | gan
    summary: str
    params: type[RecipeParams]
    default_dataset: str = "mnist-5k"
    # What a generation job may ask of a trained run: sample, interpolate, reconstruct.
    can: frozenset[str] = field(default_factory=frozenset)

    def param_table(self) -> list[dict[str, Any]]:
        """One row per parameter: name, type, default, bounds, help."""
        rows = []
        for name, info in self.params.model_fields.items():
            bounds = []
            for meta in info.metadata:
                for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
                    value = getattr(meta, attr, None)
                    if value is not None:
                        bounds.append(f"{sign}{value}")
            annotation = info.annotation
            type_name = getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")
            rows.append(
                {
                    "name": name,
                    "type": type_name,
                    "default": info.default,
                    "bounds": " ".join(bounds),
                    "help": info.description or "",
                }
            )
        return rows


def register(info: RecipeInfo) -> RecipeInfo:
    if info.name in _REGISTRY:
        raise ValueError(f"recipe {info.name!r} registered twice")
    _REGISTRY[info.name] = info
    return info


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
