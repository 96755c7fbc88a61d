"""How runs' values are shown, the same in the CLI and on the pages: number cells, ages, the key
metric, the best of several runs. Plain functions, no database: the CLI imports this at startup."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable, Optional

# The metric a run is judged by, first present wins: generators by fcd, the rest by validation loss.
KEY_METRICS = ("fcd", "val_loss", "val_mse", "loss", "g_loss", "accuracy_pretrained")
HIGHER_IS_BETTER = ("class_coverage", "mean_confidence", "accuracy", "explained_variance", "samples_per_second",
                    "sparsity", "classifier_accuracy")


def fmt(value: Any) -> str:
    """A value as a table cell: floats to 4 significant digits, None as nothing."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def age(stamp: Optional[str], now: Optional[datetime] = None) -> str:
    """'12s', '5m', '3h', '2d' since an ISO timestamp of the store (UTC)."""
    if not stamp:
        return ""
    then = datetime.fromisoformat(stamp.rstrip("Z"))
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def key_metric(metrics: dict[str, float]) -> Optional[dict[str, Any]]:
    for name in KEY_METRICS:
        if name in metrics:
            return {"name": name, "value": metrics[name]}
    return None


def label(row: dict[str, Any]) -> str:
    return f"{row['id'][:8]} {row['name']}" if row.get("name") else row["id"]


def best_runs(finals: dict[str, dict[str, Optional[float]]]) -> dict[str, str]:
    """{metric: id of the run with the best final value} (higher is better only for scores)."""
    best = {}
    for name, values in finals.items():
        present = {r: v for r, v in values.items() if v is not None}
        if len(set(present.values())) < 2 or name in ("params", "train_seconds", "epoch"):
            continue
        higher = any(name.startswith(h) or name.endswith(h) for h in HIGHER_IS_BETTER)
        best[name] = (max if higher else min)(present, key=present.get)
    return best


def spec_differences(specs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """{field: {run id: value}} for the spec fields (params flattened) that differ between runs."""
    flat: dict[str, dict[str, Any]] = {}
    for run_id, spec in specs.items():
        items = {k: v for k, v in spec.items() if k not in ("params", "idempotency_key")}
        items.update({f"params.{k}": v for k, v in (spec.get("params") or {}).items()})
        flat[run_id] = items
    keys = sorted({k for items in flat.values() for k in items})
    return {k: {r: flat[r].get(k) for r in flat} for k in keys
            if len({repr(flat[r].get(k)) for r in flat}) > 1}


def ordered_metrics(names: Iterable[str]) -> list[str]:
    """The losses first, then the rest in the order given."""
    names = list(names)
    first = [n for n in ("loss", "val_loss", "d_loss", "g_loss", "fcd") if n in names]
    return first + [n for n in names if n not in first]
