"""The read model: the one place runs are listed and shown, for the CLI and the web pages alike.

Each reader costs a fixed number of queries whatever the number of runs or epochs: the latest
value of each metric comes from one grouped query that returns one row per (run, name), never
every row; per-epoch values are read only by `history`, when a page or `show --history` asks.
The functions take any store-like object (`connect()` and an `artifact_root`): a `Reader`, or the
writers' Store. They query the Core tables of latentq.db.tables and never import the ORM, so a
read-only command (`status`, `list`, `show`) does not pay for its import."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Optional, Protocol

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection, Row

from latentq.db import tables as t
from latentq.db.tables import RunStatus, utcnow
from latentq.formatting import age, key_metric, ordered_metrics, spec_differences

# The tables' columns: R.id is runs.id, M.step metrics.step, and so on.
R, M, A, E = t.runs.c, t.metrics.c, t.artifacts.c, t.events.c

# What the live progress display shows, and all that `progress` reads of a run's metrics.
PROGRESS_METRICS = ("loss", "val_loss", "d_loss", "g_loss")
ROW_KEYS = ("id", "name", "group", "kind", "recipe", "dataset", "status", "epoch", "epochs", "attempts", "created_at",
            "finished_at", "error", "parent")


class StoreLike(Protocol):
    db_url: str
    artifact_root: Path

    def connect(self) -> Connection: ...


class Reader:
    """The read side of the run store behind one database URL (Core only; the writers' Store
    in latentq.db.store has the same `connect()` and `artifact_root`)."""

    def __init__(self, db_url: str, artifact_root: Path):
        from latentq.db.engine import engine_for

        self.db_url = db_url
        self.artifact_root = artifact_root
        self.engine = engine_for(db_url)

    def connect(self) -> Connection:
        return self.engine.connect()


def iso(value: Optional[datetime]) -> Optional[str]:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


# ---- the status object --------------------------------------------------------------------------


def waiting(run: Any, now: Optional[datetime] = None,
            workers_note: Optional[str] = None) -> tuple[Optional[float], Optional[str]]:
    """How long a queued run has waited (seconds) and why; (None, None) for other runs.
    `run` is a runs row (or the writers' Run) with its status, queued_at, created_at, pid, host,
    sent_at, sends and queue.
    `workers_note` says what the queue's workers are doing (queue_notes); without it the note
    says only that the run waits for a worker."""
    if run.status != RunStatus.QUEUED:
        return None, None
    now = now or utcnow()
    seconds = round((now - (run.queued_at or run.created_at)).total_seconds(), 1)
    if run.pid is not None:
        return seconds, f"waiting to start in process {run.pid} on {run.host}"
    refused = getattr(run, "error", None)  # a queued run's error: why a worker released it unclaimed
    if refused:
        return seconds, f"waiting for a worker that can see its artifact root (refused: {refused})"
    if run.sent_at is None:
        return seconds, "message not sent (the broker was unreachable): the sweep re-sends it"
    why = workers_note or f"waiting for a worker on queue {run.queue}"
    if run.sends > 1:
        why += f"; message re-sent at {iso(run.sent_at)}"
    return seconds, why


def queue_notes(store: StoreLike, statuses: list[dict[str, Any]], workers: Optional[list[dict[str, Any]]] = None,
                stale_after: float = 120.0) -> list[dict[str, Any]]:
    """Make the waiting notes of the queued runs among `statuses` (status objects or progress
    reads, changed in place and returned) say what their queue's workers are doing:
    "waiting: every worker on queue Q is busy (N ahead)", "no live worker consumes queue Q", or
    "waiting for a free worker on queue Q to take it (N ahead)". `workers`: the live workers'
    presence (name, queues, runs: latentq.worker.live), or None when unknown: then a run running
    on Q under a heartbeat fresher than `stale_after` seconds stands for a live, busy worker of Q.
    Three queries, only when some run is queued."""
    queued = [st for st in statuses if st.get("status") == RunStatus.QUEUED]
    if not queued:
        return statuses
    ids = [st["id"] for st in queued]
    cutoff = utcnow() - timedelta(seconds=stale_after)
    with store.connect() as s:
        rows = {r.id: r for r in s.execute(select(
            R.id, R.status, R.queue, R.created_at, R.queued_at, R.sent_at, R.sends, R.pid, R.host, R.error)
            .where(R.id.in_(ids)))}
        queues = {r.queue for r in rows.values()}
        line = list(s.execute(select(R.id, R.queue).where(
            R.status == RunStatus.QUEUED, R.pid.is_(None), R.cancel_requested.is_(False),
            R.queue.in_(queues)).order_by(func.coalesce(R.queued_at, R.created_at), R.id)))
        busy_in_sql = dict(s.execute(select(R.queue, func.count()).where(
            R.status == RunStatus.RUNNING, R.pid.is_(None), R.heartbeat_at >= cutoff,
            R.queue.in_(queues)).group_by(R.queue)).all())
    ahead: dict[str, int] = {}
    seen: dict[str, int] = defaultdict(int)
    for run_id, queue in line:  # in the order they became queued: those before a run are ahead of it
        ahead[run_id] = seen[queue]
        seen[queue] += 1
    for st in queued:
        row = rows.get(st["id"])
        if row is None:
            continue
        q, n = row.queue, ahead.get(row.id, 0)
        if workers is not None:
            consumers = [w for w in workers if q in (w.get("queues") or [])]
            free = [w for w in consumers if len(w.get("runs") or []) < int(w.get("concurrency") or 1)]
            if not consumers:
                note = f"no live worker consumes queue {q}"
            elif not free:
                note = f"waiting: every worker on queue {q} is busy ({n} ahead)"
            else:
                note = f"waiting for a free worker on queue {q} to take it ({n} ahead)"
        elif busy_in_sql.get(q):
            note = f"waiting: every worker on queue {q} is busy ({n} ahead)"
        else:
            note = None
        st["waiting_seconds"], st["waiting_reason"] = waiting(row, workers_note=note)
    return statuses


def _latest_rows(s: Connection, ids, names: Optional[Iterable[str]] = None) -> dict[str, dict[str, float]]:
    """{run id: {name: value at its highest step}} for the runs `ids` (a list or a SELECT of ids):
    one query, one row back per (run, name), however many epochs the runs have."""
    where = [M.run_id.in_(ids)]
    if names is not None:
        where.append(M.name.in_(list(names)))
    last = (select(M.run_id, M.name, func.max(M.step).label("step"))
            .where(*where).group_by(M.run_id, M.name).subquery())
    query = (select(M.run_id, M.name, M.value)
             .join(last, and_(M.run_id == last.c.run_id, M.name == last.c.name, M.step == last.c.step))
             .order_by(M.run_id, M.name))
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for run_id, name, value in s.execute(query):
        out[run_id][name] = value
    return out


def _artifact_rows(s: Connection, ids) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for run_id, kind, path in s.execute(select(A.run_id, A.kind, A.path)
                                        .where(A.run_id.in_(ids)).order_by(A.id)):
        out[run_id].append((kind, path))
    return out


def status_object(run: Row, metrics: dict[str, float], artifacts: list[tuple[str, str]],
                  artifact_root: Path) -> dict[str, Any]:
    """A run's status object (README's "status object"): its columns, latest metrics and files."""
    queue_seconds = None
    if run.started_at is not None:
        queue_seconds = round((run.started_at - run.created_at).total_seconds(), 3)
    run_dir = artifact_root / run.id
    waited, why = waiting(run)
    return {
        "id": run.id,
        "kind": run.kind,
        "name": run.name,
        "group": run.group_name,
        "status": run.status,
        "recipe": run.recipe,
        "dataset": run.dataset,
        "parent": run.parent_id,
        "epoch": run.epoch,
        "epochs": run.epochs,
        "attempts": run.attempts,
        "worker": run.worker,
        "queue": run.queue,
        "created_at": iso(run.created_at),
        "started_at": iso(run.started_at),
        "heartbeat_at": iso(run.heartbeat_at),
        "finished_at": iso(run.finished_at),
        "queue_seconds": queue_seconds,
        "resumed_from_epoch": run.resumed_from_epoch,
        "cancel_requested": run.cancel_requested,
        "error": run.error,
        "waiting_seconds": waited,
        "waiting_reason": why,
        "sent_at": iso(run.sent_at),
        "host": run.host,
        "pid": run.pid,
        "checkpoint_epoch": run.checkpoint_epoch,
        "step": run.step,
        "steps": run.steps,
        "phase": run.phase,
        "metrics": metrics,
        "artifacts": [{"kind": kind, "path": str(run_dir / path)} for kind, path in artifacts],
    }


def _get(s: Connection, run_id: str) -> Row:
    from latentq.errors import NotFound

    run = s.execute(select(t.runs).where(R.id == run_id)).one_or_none()
    if run is None:
        raise NotFound(f"no run with id {run_id!r} (see `latentq list`)")
    return run


def status(store: StoreLike, run: Row | str) -> dict[str, Any]:
    """One run's status object: three queries (run, latest metrics, artifacts), whatever its epoch."""
    with store.connect() as s:
        if isinstance(run, str):
            run = _get(s, run)
        metrics = _latest_rows(s, [run.id]).get(run.id, {})
        artifacts = _artifact_rows(s, [run.id]).get(run.id, [])
    return status_object(run, metrics, artifacts, store.artifact_root)


def resolve(store: StoreLike, prefix: str) -> str:
    """The full id of the one run whose id is or starts with `prefix`."""
    from latentq.errors import NotFound, UserError

    with store.connect() as s:
        if s.scalar(select(R.id).where(R.id == prefix)) is not None:
            return prefix
        matches = list(s.scalars(select(R.id).where(R.id.startswith(prefix, autoescape=True))
                                 .order_by(R.id).limit(11)))
    if not matches:
        raise NotFound(f"no run with id {prefix!r} (see `latentq list`)")
    if len(matches) > 1:
        shown = ", ".join(matches[:10]) + (", ..." if len(matches) > 10 else "")
        raise UserError(f"run id prefix {prefix!r} is ambiguous: it matches {shown}")
    return matches[0]


def spec(store: StoreLike, run_id: str) -> dict[str, Any]:
    import json

    with store.connect() as s:
        return json.loads(_get(s, run_id).spec)


def events(store: StoreLike, run_id: str) -> list[Row]:
    """The run's events, oldest first (at, level, message)."""
    with store.connect() as s:
        return list(s.execute(select(t.events).where(E.run_id == run_id).order_by(E.id)))


def local_runs(store: StoreLike, host: str) -> list[Row]:
    """Queued or running embedded runs (`latentq run`) owned by processes on `host`."""
    with store.connect() as s:
        return list(s.execute(select(R.id, R.status, R.host, R.pid).where(
            R.host == host, R.pid.is_not(None), R.status.in_(list(RunStatus.ACTIVE)))))


def latest_metrics(store: StoreLike, run_id: str, names: Optional[Iterable[str]] = None) -> dict[str, float]:
    with store.connect() as s:
        return _latest_rows(s, [run_id], names).get(run_id, {})


def _statuses_of(s: Connection, store: StoreLike, runs: list[Row], artifacts: bool) -> list[dict[str, Any]]:
    ids = [r.id for r in runs]
    if not ids:
        return []
    metrics = _latest_rows(s, ids)
    files = _artifact_rows(s, ids) if artifacts else {}
    return [status_object(r, metrics.get(r.id, {}), files.get(r.id, []), store.artifact_root) for r in runs]


def statuses(store: StoreLike, run_ids: list[str], artifacts: bool = True) -> list[dict[str, Any]]:
    """The status objects of these runs, in this order (missing ones left out): three queries."""
    with store.connect() as s:
        found = {r.id: r for r in s.execute(select(t.runs).where(R.id.in_(run_ids)))}
        return _statuses_of(s, store, [found[i] for i in dict.fromkeys(run_ids) if i in found], artifacts)


def filtered(status: Optional[str] = None, recipe: Optional[str] = None, name: Optional[str] = None,
              group: Optional[str] = None, parent: Optional[str] = None, of: Any = t.runs):
    """Runs newest first; `name` matches part of a run's name, the other filters exactly. `of`:
    what to select (the table's rows; the Store passes its ORM class)."""
    query = select(of).order_by(R.created_at.desc(), R.id)
    if status:
        query = query.where(R.status == RunStatus(status))
    if recipe:
        query = query.where(R.recipe == recipe)
    if name:
        query = query.where(R.name.contains(name, autoescape=True))
    if group:
        query = query.where(R.group_name == group)
    if parent:
        query = query.where(R.parent_id == parent)
    return query


def list_statuses(store: StoreLike, limit: int = 50, offset: int = 0, artifacts: bool = True,
                  **filters: Optional[str]) -> list[dict[str, Any]]:
    """Newest first, filtered (status, recipe, name: part of it, group, parent): the status objects
    of `limit` runs from `offset`, in three queries however many runs and epochs."""
    with store.connect() as s:
        runs = list(s.execute(filtered(**filters).limit(limit).offset(offset)))
        return _statuses_of(s, store, runs, artifacts)


def row(status: dict[str, Any]) -> dict[str, Any]:
    """A run as one line of a runs table: its key columns, key metric and age."""
    return {**{k: status[k] for k in ROW_KEYS}, "key_metric": key_metric(status["metrics"]),
            "age": age(status["created_at"])}


def groups(store: StoreLike) -> list[str]:
    with store.connect() as s:
        return sorted(g for g in s.scalars(select(R.group_name).distinct()) if g)


# ---- what the live display reads, and per-epoch history ----------------------------------------


def progress(store: StoreLike, run_id: str, names: Iterable[str] = PROGRESS_METRICS) -> dict[str, Any]:
    """What `run`/`watch` show while a run trains: status, epoch/epochs, why it waits, the few
    metrics shown. Two small queries, none of them over every metric row."""
    columns = (R.id, R.status, R.epoch, R.epochs, R.error, R.queue, R.created_at, R.queued_at,
               R.sent_at, R.sends, R.pid, R.host, R.step, R.steps, R.phase, R.spec)
    with store.connect() as s:
        found = s.execute(select(*columns).where(R.id == run_id)).one_or_none()
        if found is None:
            _get(s, run_id)  # raises NotFound with the usual words
        metrics = _latest_rows(s, [run_id], names).get(run_id, {})
    waited, why = waiting(found)
    return {"id": found.id, "status": found.status, "epoch": found.epoch, "epochs": found.epochs,
            "error": found.error, "waiting_seconds": waited, "waiting_reason": why, "metrics": metrics,
            "step": found.step, "steps": found.steps, "phase": found.phase,
            "batch_size": _batch_size(found.spec)}


def _batch_size(spec: str) -> Optional[int]:
    """The spec's batch size (samples per step, for samples/s), without validating the spec."""
    import json

    try:
        return int(json.loads(spec).get("batch_size") or 0) or None
    except (ValueError, TypeError, AttributeError):
        return None


def histories(store: StoreLike, run_ids: list[str], names: Optional[Iterable[str]] = None
              ) -> dict[str, tuple[dict[str, list[list[float]]], dict[str, float]]]:
    """{run id: ({name: [[epoch, value], ...]}, {name: value of step 0})} in one query: the
    per-epoch curves, and the once-per-run numbers (recorded at step 0) apart."""
    query = (select(M.run_id, M.step, M.name, M.value).where(M.run_id.in_(run_ids))
             .order_by(M.run_id, M.step, M.name))
    if names is not None:
        query = query.where(M.name.in_(list(names)))
    out: dict[str, tuple[dict[str, list[list[float]]], dict[str, float]]] = {r: ({}, {}) for r in run_ids}
    with store.connect() as s:
        for run_id, step, name, value in s.execute(query):
            series, summary = out[run_id]
            if step > 0:
                series.setdefault(name, []).append([step, value])
            else:
                summary[name] = value
    return out


def history(store: StoreLike, run_id: str, names: Optional[Iterable[str]] = None) -> dict[str, list[list[float]]]:
    """{name: [[epoch, value], ...]} for every epoch; step 0 (once-per-run numbers) left out."""
    return histories(store, [run_id], names)[run_id][0]


# ---- pages over several runs ------------------------------------------------------------------


def runs_page(store: StoreLike, status: Optional[str] = None, recipe: Optional[str] = None,
              group: Optional[str] = None, name: Optional[str] = None, page: int = 1,
              per_page: int = 100) -> dict[str, Any]:
    """One page of the runs table, newest first; `older`/`newer` are the neighbouring page numbers
    (None at either end). Three queries whatever the page, the number of runs or their epochs."""
    from latentq.recipes import all_recipes

    page = max(1, page)
    filters = {"status": status or None, "recipe": recipe or None, "group": group or None, "name": name or None}
    listed = list_statuses(store, limit=per_page + 1, offset=(page - 1) * per_page, artifacts=False, **filters)
    rows = [row(st) for st in listed[:per_page]]
    return {
        "filters": {k: v or "" for k, v in filters.items()},
        "choices": {"status": [s.value for s in RunStatus], "recipe": [r.name for r in all_recipes()],
                    "group": groups(store)},
        "runs": rows,
        "page": page,
        "per_page": per_page,
        "first": (page - 1) * per_page + 1 if rows else 0,
        "newer": page - 1 if page > 1 else None,
        "older": page + 1 if len(listed) > per_page else None,
        "live": any(r["status"] in RunStatus.ACTIVE for r in rows),
    }


def compare_data(store: StoreLike, ids: list[str], group: Optional[str],
                 metric: Optional[str] = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the comparison of these runs and/or a group's, their status objects). Ids are full ids
    (resolve prefixes first); a constant number of queries however many runs."""
    import json

    resolved = list(ids)
    if group:
        with store.connect() as s:
            in_group = list(s.scalars(filtered(group=group).with_only_columns(R.id).limit(1000)))
        resolved += [r for r in reversed(in_group) if r not in resolved]
    resolved = list(dict.fromkeys(resolved))
    found = statuses(store, resolved)
    with store.connect() as s:
        specs = {r: json.loads(spec) for r, spec in s.execute(select(R.id, R.spec).where(R.id.in_(resolved)))}
    curves = histories(store, [st["id"] for st in found])
    all_series = {st["id"]: curves[st["id"]][0] for st in found}
    finals = {st["id"]: {**curves[st["id"]][1], **st["metrics"]} for st in found}
    names = sorted({n for s in all_series.values() for n in s})  # once-recorded ones too: charts.line_chart marks them
    if metric:
        names = [n for n in names if n == metric]
    metric_names = sorted({n for f in finals.values() for n in f})
    rows = [row(st) for st in found]
    page = {
        "ids": [r["id"] for r in rows],
        "group": group or "",
        "metric": metric or "",
        "runs": rows,
        "series": all_series,
        "charts": [[n] for n in ordered_metrics(names)],
        "finals": {n: {r: finals[r].get(n) for r in finals} for n in metric_names},
        "differences": spec_differences({st["id"]: specs[st["id"]] for st in found}),
        "live": any(r["status"] in RunStatus.ACTIVE for r in rows),
    }
    return page, found
