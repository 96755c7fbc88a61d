"""What `latentq search` shares between the driver, the training process and the pages: the search
space (`--param codings=int:2..64:log`), checked against the recipe's own bounds before anything
exists; which metrics a recipe records (a search's objective must be one); and the Optuna pieces
(its sampler and pruner; the study's storage, in the run store's own database, is
latentq.db.studies)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal, Optional, get_args, get_origin

from latentq.errors import UserError, clip
from latentq.recipes import get_recipe

SPEC_FIELDS = ("dataset", "epochs", "batch_size", "seed")
MAX_TRIALS = 10_000
SAMPLERS = ("tpe", "random", "cmaes")
PRUNERS = ("median", "asha", "none")

# Pruners: the median rule waits for this many finished trials, then may stop a trial after any
# epoch; ASHA (successive halving) keeps the best third at epochs 1, 3, 9, ...
MEDIAN_STARTUP_TRIALS = 2
ASHA_REDUCTION = 3


# ---- the space -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One searched parameter: an int or float range (log-uniform with `log`), or choices."""

    name: str
    kind: Literal["int", "float", "choice"]
    low: Optional[float] = None
    high: Optional[float] = None
    log: bool = False
    choices: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.kind == "choice":
            return f"{self.name}=choice:{','.join(self.choices)}"
        low, high = (int(self.low), int(self.high)) if self.kind == "int" else (self.low, self.high)
        return f"{self.name}={self.kind}:{low:g}..{high:g}" + (":log" if self.log else "")

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "low": self.low, "high": self.high, "log": self.log,
                "choices": list(self.choices)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Param":
        return cls(data["name"], data["kind"], data.get("low"), data.get("high"), bool(data.get("log")),
                   tuple(data.get("choices") or ()))

    def suggest(self, trial) -> Any:
        """The trial's value of this parameter (Optuna's suggest_*)."""
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        if self.kind == "float":
            return trial.suggest_float(self.name, float(self.low), float(self.high), log=self.log)
        return trial.suggest_categorical(self.name, list(self.choices))


_PARAM = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(int|float|choice):(.+)$")


def parse_param(text: str) -> Param:
    """`name=int:LOW..HIGH[:log]`, `name=float:LOW..HIGH[:log]` or `name=choice:a,b,c`."""
    found = _PARAM.match(text.strip())
    example = "for example --param codings=int:2..64:log, learning_rate=float:1e-4..1e-2:log, optimizer=choice:adam,sgd"
    if not found:
        raise UserError(f"--param {clip(text)}: expected NAME=int:LOW..HIGH[:log], NAME=float:LOW..HIGH[:log] "
                        f"or NAME=choice:A,B; {example}")
    name, kind, rest = found.groups()
    if kind == "choice":
        choices = tuple(dict.fromkeys(c.strip() for c in rest.split(",") if c.strip()))
        if len(choices) < 2:
            raise UserError(f"--param {clip(text)}: a choice needs at least two values")
        return Param(name, "choice", choices=choices)
    bounds, _, flag = rest.partition(":")
    if flag not in ("", "log"):
        raise UserError(f"--param {clip(text)}: unknown flag {clip(flag)!r}; the only one is :log")
    low_text, sep, high_text = bounds.partition("..")
    try:
        if not sep:
            raise ValueError
        low, high = (int(low_text), int(high_text)) if kind == "int" else (float(low_text), float(high_text))
    except ValueError:
        raise UserError(f"--param {clip(text)}: expected {kind} bounds LOW..HIGH; {example}") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise UserError(f"--param {clip(text)}: bounds must be finite numbers")
    if low >= high:
        what = "empty" if low == high else "inverted"
        raise UserError(f"--param {clip(text)}: the range is {what} ({low:g}..{high:g}); give LOW < HIGH")
    if flag == "log" and low <= 0:
        raise UserError(f"--param {clip(text)}: a log range must lie above zero (received {low:g}..{high:g})")
    return Param(name, kind, float(low), float(high), log=flag == "log")


def parse_space(texts: tuple[str, ...] | list[str]) -> list[Param]:
    space = [parse_param(t) for t in texts]
    if not space:
        raise UserError("give the search space with --param, for example --param codings=int:2..64:log")
    seen: set[str] = set()
    for p in space:
        if p.name in seen:
            raise UserError(f"--param {p.name}: given twice")
        seen.add(p.name)
    return space


def check_space(recipe: str, space: list[Param], fixed: dict[str, Any], build) -> None:
    """Every parameter names a recipe parameter (or dataset/epochs/batch_size/seed), of a type
    its range fits, with both ends (every choice) inside the recipe's bounds: `build(point)` builds
    the job spec of a point (a UserError naming what is wrong). Nothing is created."""
    info = get_recipe(recipe)
    fields = info.params.model_fields
    allowed = [*SPEC_FIELDS, *fields]
    for p in space:
        if p.name not in fields and p.name not in SPEC_FIELDS:
            raise UserError(f"--param {p.name}: recipe {recipe!r} has no parameter {p.name!r}; allowed: "
                            f"{', '.join(allowed)}")
        if p.name in fixed:
            raise UserError(f"--param {p.name}: also given with --set; keep one")
        annotation = _field_type(fields[p.name].annotation) if p.name in fields else (
            str if p.name == "dataset" else int)
        if p.kind == "float" and annotation is int:
            raise UserError(f"--param {p.describe()}: {p.name} is an integer; use int:LOW..HIGH")
        if p.kind in ("int", "float") and annotation not in (int, float):
            raise UserError(f"--param {p.describe()}: {p.name} is not a number; use choice:A,B")
        ends = list(p.choices) if p.kind == "choice" else [
            int(p.low) if p.kind == "int" else p.low, int(p.high) if p.kind == "int" else p.high]
        for value in ends:
            try:
                build({p.name: value})
            except UserError as exc:
                raise UserError(f"--param {p.describe()}: {exc}") from None


def _field_type(annotation: Any) -> Any:
    """int, float, bool, str (Literal / str), ignoring Optional."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) is Literal:
        return str
    if args and len(args) == 1:
        return _field_type(args[0])
    return annotation if annotation in (int, float, bool) else str


# ---- what a recipe records -------------------------------------------------------------------

# Recorded after every epoch (Keras's logs: what a pruner can be told), by family; recipes that
# train in phases of their own record theirs at the end only (docs/metrics.md, docs/recipes.md).
_PER_EPOCH = {
    "autoencoder": ("loss", "val_loss", "mse", "val_mse"),
    "vae": ("loss", "val_loss", "reconstruction", "val_reconstruction", "kl", "val_kl"),
    "gan": ("loss", "d_loss", "g_loss", "d_real_accuracy", "d_fake_accuracy"),
}
_AT_END = {
    "autoencoder": ("val_mse", "baseline_mse"),
    "vae": ("val_mse", "val_neg_elbo_nats", "fcd", "class_coverage", "class_kl", "mean_confidence", "precision",
            "recall"),
    "gan": ("val_loss", "val_d_real_accuracy", "val_d_fake_accuracy", "fcd", "class_coverage", "class_kl",
            "mean_confidence", "precision", "recall"),
}
_RECIPE_PER_EPOCH: dict[str, tuple[str, ...]] = {"greedy-ae": (), "pretrain-classifier": ()}
_RECIPE_AT_END = {
    "linear-ae": ("explained_variance", "pca_explained_variance", "explained_variance_vs_pca"),
    "sparse-ae": ("mean_activation", "active_fraction"),
    "sparse-kl-ae": ("mean_activation", "active_fraction"),
    "denoising-ae": ("val_mse_denoised", "noisy_mse"),
    "greedy-ae": ("loss", "mse", "val_loss"),
    "pretrain-classifier": ("accuracy_pretrained", "accuracy_scratch", "accuracy_gain"),
}


def recorded_metrics(recipe: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(per epoch, at the end only) metric names a recipe records."""
    family = str(get_recipe(recipe).family)
    per_epoch = _RECIPE_PER_EPOCH.get(recipe, _PER_EPOCH[family])
    at_end = tuple(m for m in (*_AT_END[family], *_RECIPE_AT_END.get(recipe, ())) if m not in per_epoch)
    return per_epoch, at_end


def check_objective(recipe: str, objective: str, prune: str) -> None:
    per_epoch, at_end = recorded_metrics(recipe)
    if objective in per_epoch:
        return
    if objective in at_end:
        if prune != "none":
            raise UserError(f"--objective {objective}: recipe {recipe!r} records it only at the end, so no pruner "
                            f"can see it per epoch; use --prune none, or one of {', '.join(per_epoch) or '(none)'}")
        return
    raise UserError(f"--objective {clip(objective)}: recipe {recipe!r} never records it; it records per epoch "
                    f"{', '.join(per_epoch) or '(nothing)'} and at the end {', '.join(at_end)}")


# ---- Optuna ----------------------------------------------------------------------------------


def study_name(group: str) -> str:
    return f"latentq:{group}"


def sampler(name: str, seed: int, space: list[Param]):
    import optuna

    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "cmaes":
        choices = [p.name for p in space if p.kind == "choice"]
        if choices:
            raise UserError(f"--sampler cmaes searches numeric spaces only; {', '.join(choices)} is a choice "
                            "(use tpe or random)")
        try:
            import cmaes  # noqa: F401
        except ImportError:
            raise UserError("--sampler cmaes needs the cmaes package (pip install cmaes)") from None
        return optuna.samplers.CmaEsSampler(seed=seed)
    raise UserError(f"--sampler {clip(name)}: allowed: {', '.join(SAMPLERS)}")


def pruner(name: str):
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=MEDIAN_STARTUP_TRIALS, n_warmup_steps=0)
    if name == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=ASHA_REDUCTION)
    return optuna.pruners.NopPruner()


def prune_reason(study, name: str, objective: str, step: int, value: float) -> str:
    """The event line of a pruned trial: "pruned at epoch k: val_loss 0.31 worse than the median
    0.25 of 4 finished trials at epoch k"."""
    from optuna.trial import TrialState

    if name == "median":
        others = [t.intermediate_values[step] for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                  if step in t.intermediate_values and math.isfinite(t.intermediate_values[step])]
        if others:
            import statistics

            return (f"pruned at epoch {step}: {objective} {value:.4g} worse than the median "
                    f"{statistics.median(others):.4g} of {len(others)} finished trials at epoch {step}")
    if name == "asha":
        return (f"pruned at epoch {step}: {objective} {value:.4g} not in the best 1/{ASHA_REDUCTION} of the trials "
                f"that reached epoch {step} (successive halving)")
    return f"pruned at epoch {step}: {objective} {value:.4g}"
