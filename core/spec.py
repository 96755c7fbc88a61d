"""The job specification: one validated, JSON-serialisable object per run."""

from __future__ import annotations

import math
import re
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from latentq import datasets
from latentq.errors import UserError, clip
from latentq.recipes import get_recipe

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class GenerateOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    n: int = Field(16, ge=1, le=1024)
    interpolate: bool = False
    reconstruct: bool = False
    truncation: Optional[float] = Field(None, ge=0, le=1.5)  # StyleGAN: psi of the truncation trick
    style_mix: bool = False  # StyleGAN: the style-mixing grid
    crossover: Optional[int] = Field(None, ge=1, le=64)  # first layer taking the fine styles (default: half)
    fid: bool = False  # also an Inception-v3 FID (where the weights exist)


class SearchTrial(BaseModel):
    """A run that is one trial of a `latentq search`: which Optuna study (in the run store's own
    database) and trial it reports to after each epoch, the metric it reports, and the pruner
    that may stop it (latentq.search has the study logic)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    study: str = Field(..., min_length=1, max_length=200)
    trial: int = Field(..., ge=0)
    objective: str = Field(..., min_length=1, max_length=64)
    prune: Literal["median", "asha", "none"] = "median"


class JobSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["train", "generate"] = "train"
    recipe: str
    dataset: str
    epochs: int = Field(10, ge=1, le=100_000)
    batch_size: int = Field(32, ge=1, le=65_536)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    params: dict[str, Any] = Field(default_factory=dict)
    queue: str = Field("latentq", pattern=NAME_PATTERN)
    priority: int = Field(5, ge=0, le=9)
    idempotency_key: Optional[str] = Field(None, min_length=1, max_length=200)
    name: Optional[str] = Field(None, pattern=NAME_PATTERN)
    parent: Optional[str] = Field(None, pattern=NAME_PATTERN)  # a run id: never a path
    generate: Optional[GenerateOptions] = None
    search: Optional[SearchTrial] = None
    # The recipe's parameter object, validated once per spec (build_spec sets it).
    _recipe_params: Any = PrivateAttr(default=None)

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        """As pydantic's, without `search` on a run that is no search's trial: the specs (and
        idempotency keys) of every other run stay as they were before searches existed."""
        data = super().model_dump(**kwargs)
        if data.get("search") is None:
            data.pop("search", None)
        return data

    def __eq__(self, other: object) -> bool:
        """Equal when they say the same: the cached parameter object is not part of a spec."""
        return isinstance(other, JobSpec) and self.model_dump(mode="json") == other.model_dump(mode="json")

    __hash__ = None  # mutable, like every pydantic model

    def recipe_params(self):
        """The recipe's typed parameter object (defaults filled in), validated once per spec."""
        if self._recipe_params is None:
            self._recipe_params = get_recipe(self.recipe).params(**self.params)
        return self._recipe_params


def parse_sets(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """`--set key=value` pairs into a dict; values stay strings for pydantic to coerce."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise UserError(f"--set {clip(pair)}: expected key=value, for example --set codings=10")
        out[key] = value.strip()
    return out


def _not_finite(value: Any) -> bool:
    try:
        return isinstance(value, (str, float)) and not math.isfinite(float(value))
    except ValueError:
        return False


def _one_line(exc: ValidationError, prefix: str, allowed_fields: list[str]) -> str:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "value"
    if err["type"] == "extra_forbidden":
        return f"{prefix}unknown parameter {clip(field)}; allowed: {', '.join(allowed_fields) or '(none)'}"
    received = err.get("input")
    message = err["msg"].rstrip(".")
    if _not_finite(received) and err["type"] in ("less_than", "less_than_equal", "greater_than",
                                                 "greater_than_equal", "finite_number"):
        message = "Input should be a finite number"  # not "should be <= 10": nan compares false to any bound
    return f"{prefix}{field}: {message} (received {clip(received)})"


def _recipe_params(recipe: str, raw: dict[str, Any]):
    info = get_recipe(recipe)
    try:
        return info.params(**raw)
    except ValidationError as exc:
        raise UserError(_one_line(exc, f"recipe {recipe!r}: ", list(info.params.model_fields))) from None


def resolve_params(recipe: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Validate recipe parameters; return them with defaults filled in, JSON-ready."""
    return _recipe_params(recipe, raw).model_dump(mode="json")


def build_spec(**fields: Any) -> JobSpec:
    """Validate every field of a job; raise UserError with one line naming what was wrong."""
    recipe = fields.get("recipe")
    info = get_recipe(recipe)
    if fields.get("kind") == "generate":
        if not fields.get("parent"):
            raise UserError("a generate job needs parent: the id of a trained run")
        fields["generate"] = fields.get("generate") or GenerateOptions()
    elif fields.get("generate") is not None:
        raise UserError("generate options apply only to jobs of kind 'generate'")
    if fields.get("dataset") in (None, ""):
        fields["dataset"] = info.default_dataset
    params = _recipe_params(recipe, fields.get("params") or {})
    fields["params"] = params.model_dump(mode="json")
    try:
        spec = JobSpec(**fields)
    except ValidationError as exc:
        raise UserError(_one_line(exc, "", list(JobSpec.model_fields))) from None
    spec._recipe_params = params  # what the trainer and the data checks use: not validated again
    datasets.check(spec.dataset)
    return spec


def validate_spec_dict(data: dict[str, Any]) -> JobSpec:
    """Re-validate a stored spec: once, when a worker (or `latentq run`) starts the run."""
    return build_spec(**data)


# ---- generation jobs: what they ask of their parent run -------------------------------------

_FLAGS = {"sample": "--n", "interpolate": "--interpolate", "reconstruct": "--reconstruct",
          "style_mix": "--style-mix", "truncation": "--truncation"}


def generate_requests(options: GenerateOptions) -> list[str]:
    """The capabilities a generation job needs: interpolate / reconstruct when asked, else sample."""
    asked = [name for name, flag in (("interpolate", options.interpolate), ("reconstruct", options.reconstruct),
                                     ("style_mix", options.style_mix)) if flag]
    asked = asked or ["sample"]
    if options.truncation is not None:
        asked.append("truncation")
    return asked


def check_generate_parent(store, parent_id: str, options: GenerateOptions) -> JobSpec:
    """The parent's spec, if `parent_id` names a succeeded training run whose recipe can do what
    `options` ask; otherwise one UserError line. The CLI calls this before queueing, the worker
    again before generating."""
    run = store.get(parent_id)  # NotFound: no run with id ...
    if run.kind != "train":
        raise UserError(f"run {parent_id} is a {run.kind} job; generate from a training run"
                        + (f" (this one came from run {run.parent_id})" if run.parent_id else ""))
    if run.status != "succeeded":
        hint = f" (follow it with `latentq watch {parent_id}`)" if run.status in ("queued", "running") else ""
        raise UserError(f"run {parent_id} is {run.status}; generate needs a succeeded training run{hint}")
    parent = validate_spec_dict(store.spec(parent_id))
    info = get_recipe(parent.recipe)
    for need in generate_requests(options):
        if need not in info.can:
            can = ", ".join(f"{c} ({_FLAGS[c]})" for c in sorted(info.can)) or "nothing"
            raise UserError(f"run {parent_id} is a {info.name} run (family {info.family}), which cannot {need} "
                            f"({_FLAGS[need]}); it can: {can}")
    if options.crossover is not None:
        layers = store.latest_metrics(parent_id).get("style_layers")  # recorded by a StyleGAN run at its end
        if layers is not None and not 1 <= options.crossover < layers:
            raise UserError(f"--crossover {options.crossover}: run {parent_id}'s generator has {int(layers)} style "
                            f"layers; allowed: 1 to {int(layers) - 1}")
    return parent
