"""What each page shows, as plain JSON-ready dicts: the runs and their numbers come from the read
model (latentq.db.reads, shared with the CLI); this module adds what only pages need (pictures,
charts, file URLs, the timeline).

The HTML pages, their `.json` twins and `latentq report` all build on these."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Optional

from latentq.db import reads
from latentq.db.tables import RunStatus
from latentq.db.store import Store
from latentq.formatting import age, best_runs, key_metric, label
from latentq.runtime.artifacts import LocalArtifacts

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")
_EPOCH_FILE = re.compile(r"^(?P<stem>.*?)(?P<num>\d+)\.(png|jpe?g|gif|webp)$", re.IGNORECASE)
PER_PAGE = 100

FileUrl = Callable[[str, str], str]  # (run id, path relative to its run folder) -> URL


def runs_page(store: Store, status: Optional[str] = None, recipe: Optional[str] = None, group: Optional[str] = None,
              name: Optional[str] = None, page: int = 1, per_page: int = PER_PAGE) -> dict[str, Any]:
    return reads.runs_page(store, status=status, recipe=recipe, group=group, name=name, page=page,
                           per_page=per_page)


# ---- one run ---------------------------------------------------------------------------------


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
        items.append({"at": status["finished_at"], "level": "error" if status["status"] == RunStatus.FAILED else "info",
                      "message": status["status"] + (f": {status['error']}" if status["error"] else "")})
    return sorted(items, key=lambda item: item["at"] or "")


def run_page(store: Store, run_id: str, file_url: FileUrl) -> dict[str, Any]:
    status = reads.status(store, run_id)
    run_dir = store.artifact_root / status["id"]
    series, summary = reads.histories(store, [status["id"]])[status["id"]]
    files = {}
    for art in status["artifacts"]:
        if art["kind"] in ("model", "spec"):
            rel = Path(art["path"]).relative_to(run_dir).as_posix()
            files[art["kind"]] = {"path": art["path"], "url": file_url(status["id"], rel)}
    children = [reads.row(st) for st in reads.list_statuses(store, limit=500, artifacts=False, parent=status["id"])]
    parent = [reads.row(st) for st in reads.statuses(store, [status["parent"]], artifacts=False)] if status["parent"] else []
    return {
        "run": {**status, "key_metric": key_metric(status["metrics"]), "age": age(status["created_at"])},
        "spec": store.spec(status["id"]),
        "timeline": timeline(status, store.events(status["id"])),
        "series": series,
        "summary": summary,
        "charts": chart_groups(list(series)),  # a once-recorded metric too: charts.line_chart marks it
        "images": image_artifacts(status, run_dir, file_url),
        "files": files,
        "tensorboard": str(run_dir / "tensorboard"),
        "parent": parent[0] if parent else None,
        "children": children,
        "live": status["status"] in RunStatus.ACTIVE or any(c["status"] in RunStatus.ACTIVE for c in children),
    }


# ---- several runs ----------------------------------------------------------------------------


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
    page, found = reads.compare_data(store, [store.resolve(i) for i in ids], group, metric)
    page["grids"] = {st["id"]: last_grid(image_artifacts(st, store.artifact_root / st["id"], file_url))
                     for st in found}
    page["search"] = None
    if group:  # a search's group: its best trial and its picture (latentq search show)
        from latentq.worker.search import page_summary

        page["search"] = page_summary(store, group)
        if page["search"] and page["search"]["picture"]:
            picture = page["search"]["picture"]
            picture["url"] = file_url(picture["run"], picture["path"])
    return page


def file_path(store: Store, run_id: str, rel: str) -> Path:
    """A run's file through the artifact store, refusing any path that leaves the run's folder
    (.., absolute, symlinks): a UserError."""
    return LocalArtifacts(store.artifact_root).scope(run_id).path(rel)


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
