"""What each page shows, read from the store and the artifact root as plain JSON-ready dicts.

The HTML pages, their `.json` twins, `latentq report` and `latentq compare` all build on these."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

from latentq.db.store import Store
from latentq.files import inside

MOVING = ("queued", "running")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")
# The metric a run is judged by, first present wins: generators by fcd, the rest by validation loss.
KEY_METRICS = ("fcd", "val_loss", "val_mse", "loss", "g_loss", "accuracy_pretrained")
_EPOCH_FILE = re.compile(r"^(?P<stem>.*?)(?P<num>\d+)\.(png|jpe?g|gif|webp)$", re.IGNORECASE)

FileUrl = Callable[[str, str], str]  # (run id, path relative to its run folder) -> URL


def key_metric(metrics: dict[str, float]) -> Optional[dict[str, Any]]:
    for name in KEY_METRICS:
        if name in metrics:
            return {"name": name, "value": metrics[name]}
    return None


def age(iso: Optional[str], now: Optional[datetime] = None) -> str:
    """'12s', '5m', '3h', '2d' since an ISO timestamp of the store (UTC)."""
    if not iso:
        return ""
    then = datetime.fromisoformat(iso.rstrip("Z"))
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def run_row(store: Store, run) -> dict[str, Any]:
    st = store.status(run)
    return {**{k: st[k] for k in ("id", "name", "group", "kind", "recipe", "dataset", "status", "epoch", "epochs",
                                  "attempts", "created_at", "finished_at", "error", "parent")},
            "key_metric": key_metric(st["metrics"]), "age": age(st["created_at"])}


def runs_page(store: Store, status: Optional[str] = None, recipe: Optional[str] = None, group: Optional[str] = None,
              name: Optional[str] = None, limit: int = 200) -> dict[str, Any]:
    runs = [run_row(store, r) for r in store.list_runs(limit=limit, status=status or None, recipe=recipe or None,
                                                       group=group or None, name=name or None)]
    from latentq.recipes import all_recipes

    return {
        "filters": {"status": status or "", "recipe": recipe or "", "group": group or "", "name": name or ""},
        "choices": {"status": ["queued", "running", "succeeded", "failed", "cancelled"],
                    "recipe": [r.name for r in all_recipes()], "group": store.groups()},
        "runs": runs,
        "live": any(r["status"] in MOVING for r in runs),
    }


# ---- one run ---------------------------------------------------------------------------------


def metric_series(store: Store, run_id: str) -> tuple[dict[str, list[list[float]]], dict[str, float]]:
    """({name: [[epoch, value], ...]} for per-epoch values, {name: value} for once-per-run numbers)."""
    series: dict[str, list[list[float]]] = defaultdict(list)
    summary: dict[str, float] = {}
    for m in store.metrics(run_id):
        if m.step > 0:
            series[m.name].append([m.step, m.value])
        else:
            summary[m.name] = m.value
    return dict(series), summary


def chart_groups(names: list[str]) -> list[list[str]]:
    """Each training metric charted with its validation twin (loss with val_loss); others alone."""
    names = sorted(names)
    groups, used = [], set()
    for name in names:
        if name in used or (name.startswith("val_") and name[4:] in names):
            continue
        group = [name] + ([f"val_{name}"] if f"val_{name}" in names else [])
        used.update(group)
        groups.append(group)
    lead = ("loss", "d_loss", "g_loss", "fcd")
    first = sorted((g for g in groups if g[0] in lead), key=lambda g: lead.index(g[0]))
    return first + [g for g in groups if g not in first]


def image_artifacts(status: dict[str, Any], run_dir: Path, file_url: FileUrl) -> dict[str, Any]:
    """Every image of the run: numbered files in one folder (per-epoch samples) become a sequence to
    step through; the others are shown one by one."""
    folders: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    singles = []
    for art in status["artifacts"]:
        path = Path(art["path"])
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        rel = path.relative_to(run_dir).as_posix() if path.is_relative_to(run_dir) else path.name
        match = _EPOCH_FILE.match(path.name)
        if match and "/" in rel:
            folders[(rel.rsplit("/", 1)[0], art["kind"])].append((int(match["num"]), rel, art["kind"]))
        else:
            singles.append({"kind": art["kind"], "path": rel, "url": file_url(status["id"], rel)})
    sequences = []
    for (folder, kind), frames in sorted(folders.items()):
        if len(frames) == 1:
            _, rel, kind = frames[0]
            singles.append({"kind": kind, "path": rel, "url": file_url(status["id"], rel)})
            continue
        frames.sort()
        sequences.append({"kind": kind, "folder": folder,
                          "frames": [{"step": n, "path": rel, "url": file_url(status["id"], rel)}
                                     for n, rel, _ in frames]})
    return {"sequences": sequences, "singles": singles}


def timeline(status: dict[str, Any], events: list) -> list[dict[str, Any]]:
    items = [{"at": status["created_at"], "level": "info", "message": "created, queued"}]
    if status["started_at"]:
        items.append({"at": status["started_at"], "level": "info", "message": f"started on {status['worker']}"})
    items += [{"at": e.at.isoformat(timespec="seconds") + "Z", "level": e.level,
               "message": e.message.strip().splitlines()[-1] if e.message.strip() else "",
               "detail": e.message if "\n" in e.message.strip() else None} for e in events]
    if status["finished_at"]:
        items.append({"at": status["finished_at"], "level": "error" if status["status"] == "failed" else "info",
                      "message": status["status"] + (f": {status['error']}" if status["error"] else "")})
    return sorted(items, key=lambda item: item["at"] or "")


def run_page(store: Store, run_id: str, file_url: FileUrl) -> dict[str, Any]:
    status = store.status(run_id)
    run_dir = store.artifact_root / status["id"]
    series, summary = metric_series(store, status["id"])
    files = {}
    for art in status["artifacts"]:
        if art["kind"] in ("model", "spec"):
            rel = Path(art["path"]).relative_to(run_dir).as_posix()
            files[art["kind"]] = {"path": art["path"], "url": file_url(status["id"], rel)}
    children = [run_row(store, r) for r in store.list_runs(limit=500, parent=status["id"])]
    parent = run_row(store, store.get(status["parent"])) if status["parent"] else None
    return {
        "run": {**status, "key_metric": key_metric(status["metrics"]), "age": age(status["created_at"])},
        "spec": store.spec(status["id"]),
        "timeline": timeline(status, store.events(status["id"])),
        "series": series,
        "summary": summary,
        "charts": chart_groups([n for n, points in series.items() if len(points) > 1]),
        "images": image_artifacts(status, run_dir, file_url),
        "files": files,
        "tensorboard": str(run_dir / "tensorboard"),
        "parent": parent,
        "children": children,
        "live": status["status"] in MOVING or any(c["status"] in MOVING for c in children),
    }


# ---- several runs ----------------------------------------------------------------------------


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


def last_grid(images: dict[str, Any]) -> Optional[dict[str, Any]]:
    """The picture that best says what a run makes now: its newest per-epoch grid, else its samples."""
    for seq in images["sequences"]:
        if "sample" in seq["kind"] or "sample" in seq["folder"]:
            return {**seq["frames"][-1], "kind": seq["kind"]}
    for kind in ("samples", "reconstructions", "stage_samples", "denoised"):
        for single in images["singles"]:
            if single["kind"] == kind:
                return single
    if images["sequences"]:
        return {**images["sequences"][0]["frames"][-1], "kind": images["sequences"][0]["kind"]}
    return next((s for s in images["singles"] if s["kind"] not in ("curve", "plot", "loss_curve")), None)


def compare_page(store: Store, ids: list[str], group: Optional[str], file_url: FileUrl,
                 metric: Optional[str] = None) -> dict[str, Any]:
    resolved = [store.resolve(i) for i in ids]
    if group:
        resolved += [r.id for r in reversed(store.list_runs(limit=1000, group=group)) if r.id not in resolved]
    runs, all_series, finals, grids, specs = [], {}, {}, {}, {}
    for run_id in dict.fromkeys(resolved):
        status = store.status(run_id)
        row = run_row(store, run_id)
        runs.append(row)
        series, summary = metric_series(store, run_id)
        all_series[run_id] = series
        finals[run_id] = {**summary, **status["metrics"]}
        specs[run_id] = store.spec(run_id)
        grids[run_id] = last_grid(image_artifacts(status, store.artifact_root / run_id, file_url))
    names = sorted({n for s in all_series.values() for n, points in s.items() if len(points) > 1 or metric})
    if metric:
        names = [n for n in names if n == metric]
    metric_names = sorted({n for f in finals.values() for n in f})
    return {
        "ids": [r["id"] for r in runs],
        "group": group or "",
        "metric": metric or "",
        "runs": runs,
        "series": all_series,
        "charts": [[n] for n in _ordered(names)],
        "finals": {n: {r: finals[r].get(n) for r in finals} for n in metric_names},
        "differences": spec_differences(specs),
        "grids": grids,
        "live": any(r["status"] in MOVING for r in runs),
    }


def _ordered(names: list[str]) -> list[str]:
    first = [n for n in ("loss", "val_loss", "d_loss", "g_loss", "fcd") if n in names]
    return first + [n for n in names if n not in first]


def label(row: dict[str, Any]) -> str:
    return f"{row['id'][:8]} {row['name']}" if row.get("name") else row["id"]


def file_path(store: Store, run_id: str, rel: str) -> Path:
    """A run's file, refusing any path that leaves the artifact root (.., absolute, symlinks)."""
    return inside(store.artifact_root, f"{run_id}/{rel}")


HIGHER_IS_BETTER = ("class_coverage", "mean_confidence", "accuracy", "explained_variance", "samples_per_second",
                    "sparsity", "classifier_accuracy")


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


def template_helpers(template: str, context: dict[str, Any]) -> dict[str, Any]:
    """What a template needs beyond the page's JSON: the curves as (label, points) series."""
    if template == "run.html":
        series = context["series"]
        return {"series_for": lambda group: [(n, series.get(n, [])) for n in group]}
    if template == "compare.html":
        rows = {r["id"]: r for r in context["runs"]}
        order = list(context["series"])  # one colour per run on every chart
        return {"overlay": lambda name: [(label(rows[r]), s.get(name, []), order.index(r))
                                         for r, s in context["series"].items()],
                "best": best_runs(context["finals"])}
    return {}
