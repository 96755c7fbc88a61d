"""Run-store operations. Every status change is one conditional UPDATE checked by row count."""

from __future__ import annotations

import json
import os
import socket
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Optional

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from latentq.db import reads
from latentq.db.engine import session_factory
from latentq.db.schema import Artifact, Event, Metric, Run, RunStatus, utcnow
from latentq.errors import NotFound, StateError, UserError


class IllegalTransition(StateError):
    """A status change that the run's current status does not allow."""


class IdempotencyConflict(UserError):
    """An idempotency key reused for a different job."""


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def _queued_again() -> dict[str, Any]:
    """Columns of every transition back to queued: a new wait begins, no message sent yet."""
    return {"queued_at": utcnow(), "sent_at": None, "sends": 0}


class Store(reads.Reader):
    """The run store behind one database URL, for writers: ORM sessions on the reader's engine
    (its `connect()` serves the read model); `artifact_root` resolves artifact paths."""

    def __init__(self, db_url: str, artifact_root: Path):
        super().__init__(db_url, artifact_root)
        self._sessions = session_factory(db_url)

    def session(self) -> Session:
        return self._sessions()

    # ---- creating and reading runs -------------------------------------------------------

    def create_run(self, spec: dict[str, Any], max_attempts: int = 3,
                   group: Optional[str] = None) -> tuple[str, bool]:
        """Insert a queued run; return (id, created). An existing idempotency key returns its run."""
        key = spec.get("idempotency_key")
        if key:
            existing = self.find_by_key(key)
            if existing:
                return self._same_spec(existing, spec), False
        run = self._new_run(spec, max_attempts, group)
        try:
            with self.session() as s, s.begin():
                s.add(run)
        except IntegrityError:
            if key and (existing := self.find_by_key(key)):
                return self._same_spec(existing, spec), False  # lost the race to a concurrent submit
            raise
        return run.id, True

    def create_runs(self, specs: list[dict[str, Any]], max_attempts: int = 3,
                    group: Optional[str] = None) -> list[tuple[str, bool]]:
        """create_run for many specs in one transaction: every run is created, or none (an
        interrupted sweep leaves no partial group). Specs whose idempotency key names an existing
        run (the same sweep again) return that run: [(id, created)], in the order given."""
        keys = [spec.get("idempotency_key") for spec in specs]
        for _ in range(2):  # a concurrent submit of the same keys: read them again, once
            existing: dict[str, str] = {}
            wanted = [k for k in keys if k]
            with self.session() as s:
                for start in range(0, len(wanted), 500):
                    chunk = wanted[start:start + 500]
                    existing.update((key, run_id) for key, run_id in s.execute(
                        select(Run.idempotency_key, Run.id).where(Run.idempotency_key.in_(chunk))))
            out: list[tuple[str, bool]] = []
            rows: list[Run] = []
            for spec, key in zip(specs, keys):
                if key and key in existing:
                    out.append((self._same_spec(existing[key], spec), False))
                    continue
                run = self._new_run(spec, max_attempts, group)
                rows.append(run)
                out.append((run.id, True))
            try:
                with self.session() as s, s.begin():
                    s.add_all(rows)
            except IntegrityError:
                continue
            return out
        raise StateError("the runs of this group were being created by another process at the same time; "
                         "submit it again (the runs already created are reused)")

    def _new_run(self, spec: dict[str, Any], max_attempts: int, group: Optional[str]) -> Run:
        return Run(
            id=new_run_id(),
            kind=spec["kind"],
            recipe=spec["recipe"],
            dataset=spec["dataset"],
            name=spec.get("name"),
            spec=json.dumps(spec, sort_keys=True),
            queue=spec.get("queue", "latentq"),
            status=RunStatus.QUEUED.value,
            attempts=0,
            max_attempts=max_attempts,
            idempotency_key=spec.get("idempotency_key"),
            parent_id=spec.get("parent"),
            created_at=utcnow(),
            epoch=0,
            epochs=spec.get("epochs", 0) if spec["kind"] == "train" else 1,
            cancel_requested=False,
            group_name=group,
        )

    def _same_spec(self, run_id: str, spec: dict[str, Any]) -> str:
        """The run an idempotency key names, if it was created with this very spec."""
        stored = self.spec(run_id)
        if stored != json.loads(json.dumps(spec, sort_keys=True)):
            changed = sorted(k for k in set(stored) | set(spec) if stored.get(k) != spec.get(k))
            raise IdempotencyConflict(
                f"idempotency key {stored.get('idempotency_key')!r} already names run {run_id} "
                f"({stored.get('recipe')} on {stored.get('dataset')}), created with a different spec "
                f"(differs in: {', '.join(changed)}); use another key, or the same job to get that run back")
        return run_id

    def find_by_key(self, key: str) -> Optional[str]:
        with self.session() as s:
            return s.scalar(select(Run.id).where(Run.idempotency_key == key))

    def delete_run(self, run_id: str) -> None:
        """Remove a run that never got queued (the broker refused it)."""
        with self.session() as s, s.begin():
            for table in (Metric, Artifact, Event):
                s.execute(delete(table).where(table.run_id == run_id))
            s.execute(delete(Run).where(Run.id == run_id))

    def get(self, run_id: str) -> Run:
        with self.session() as s:
            run = s.get(Run, run_id)
        if run is None:
            raise NotFound(f"no run with id {run_id!r} (see `latentq list`)")
        return run

    def resolve(self, prefix: str) -> str:
        """The full id of the one run whose id is or starts with `prefix`."""
        return reads.resolve(self, prefix)

    def spec(self, run_id: str) -> dict[str, Any]:
        return reads.spec(self, run_id)

    def list_runs(self, limit: int = 50, status: Optional[str] = None, recipe: Optional[str] = None,
                  name: Optional[str] = None, group: Optional[str] = None, ids: Optional[list[str]] = None,
                  parent: Optional[str] = None) -> list[Run]:
        """Newest first; `name` matches part of a run's name, the other filters exactly."""
        query = reads.filtered(status, recipe, name, group, parent, of=Run).limit(limit)
        if ids is not None:
            query = query.where(Run.id.in_(ids))
        with self.session() as s:
            return list(s.scalars(query))

    def groups(self) -> list[str]:
        return reads.groups(self)

    def remove_run(self, run_id: str) -> bool:
        """Delete a run that is not running, with its rows (its files are the caller's). False: it
        is running (or vanished). Its generation runs stay, their parent link cleared."""
        with self.session() as s, s.begin():
            # A running training run has no generation runs yet (they need a succeeded parent).
            s.execute(update(Run).where(Run.parent_id == run_id).values(parent_id=None))
            gone = s.execute(delete(Run).where(Run.id == run_id, Run.status != RunStatus.RUNNING.value))
            if gone.rowcount != 1:
                return False
            for table in (Metric, Artifact, Event):
                s.execute(delete(table).where(table.run_id == run_id))
        return True

    # ---- transitions (conditional updates) -----------------------------------------------

    def _transition(self, run_id: str, where: Iterable, **values: Any) -> bool:
        with self.session() as s, s.begin():
            result = s.execute(update(Run).where(Run.id == run_id, *where).values(**values))
            return result.rowcount == 1

    def claim(self, run_id: str, owner: str, worker: str, task_id: Optional[str] = None) -> bool:
        """queued → running, owned by `owner`. False: someone else owns it, or it is finished."""
        now = utcnow()
        return self._transition(
            run_id,
            [Run.status == RunStatus.QUEUED.value, Run.cancel_requested.is_(False),
             # an embedded run is only ever claimed by its own process, never from a stray message
             or_(Run.pid.is_(None), and_(Run.host == socket.gethostname(), Run.pid == os.getpid()))],
            status=RunStatus.RUNNING.value,
            owner=owner,
            worker=worker,
            task_id=task_id,
            attempts=Run.attempts + 1,
            started_at=func.coalesce(Run.started_at, now),
            heartbeat_at=now,
            error=None,
            step=None, steps=None, phase=None,  # this attempt reports its own
        )

    def heartbeat(self, run_id: str, owner: str, live: Optional[dict[str, Any]] = None) -> tuple[bool, bool]:
        """Renew the lease, and write `live` progress ({"step", "steps", "phase"}) in the same
        UPDATE when given. Returns (still_owner, cancel_requested)."""
        with self.session() as s, s.begin():
            result = s.execute(
                update(Run)
                .where(Run.id == run_id, Run.owner == owner, Run.status == RunStatus.RUNNING.value)
                .values(heartbeat_at=utcnow(), **(live or {}))
            )
            if result.rowcount != 1:
                return False, False
            return True, bool(s.scalar(select(Run.cancel_requested).where(Run.id == run_id)))

    def set_progress(self, run_id: str, owner: str, epoch: int) -> bool:
        """`epoch` epochs done (checkpointed). The batch count, of the epoch before, is cleared:
        the next heartbeat writes the new epoch's."""
        return self._transition(run_id, [Run.owner == owner, Run.status == RunStatus.RUNNING.value],
                                epoch=epoch, step=None, heartbeat_at=utcnow())

    def set_phase(self, run_id: str, owner: str, phase: Optional[str]) -> bool:
        """The end-of-run work under way (None: training), shown at once rather than at the next beat."""
        return self._transition(run_id, [Run.owner == owner, Run.status == RunStatus.RUNNING.value], phase=phase)

    def mark_resumed(self, run_id: str, owner: str, epoch: int) -> bool:
        return self._transition(run_id, [Run.owner == owner], resumed_from_epoch=epoch, epoch=epoch)

    def finish(self, run_id: str, owner: str, status: RunStatus, error: Optional[str] = None) -> bool:
        """running → succeeded | failed | cancelled, only by the run's owner."""
        return self._transition(
            run_id,
            [Run.owner == owner, Run.status == RunStatus.RUNNING.value],
            status=status.value,
            finished_at=utcnow(),
            error=error,
            phase=None,
        )

    def release(self, run_id: str, owner: str, refused: Optional[str] = None) -> bool:
        """running → queued by its owner (warm shutdown, or a run it cannot see): the next
        attempt resumes. A refused run's claim does not count as an attempt, and `refused` (why)
        stays in its error column until a worker claims it: its waiting note says it waits for a
        worker that can see its artifact root. Send its message through latentq.worker.jobs."""
        return self._transition(
            run_id,
            [Run.owner == owner, Run.status == RunStatus.RUNNING.value],
            status=RunStatus.QUEUED.value,
            owner=None,
            **_queued_again(),
            **({"attempts": Run.attempts - 1, "error": refused} if refused else {}),
        )

    def cancel(self, run_id: str) -> str:
        """Cancel a run: a queued one never starts, a running one stops at the next batch."""
        self.get(run_id)  # NotFound for an unknown id
        if self._transition(run_id, [Run.status == RunStatus.QUEUED.value],
                            status=RunStatus.CANCELLED.value, finished_at=utcnow(), cancel_requested=True):
            return RunStatus.CANCELLED.value
        if self._transition(run_id, [Run.status == RunStatus.RUNNING.value], cancel_requested=True):
            return "cancelling"
        raise IllegalTransition(f"run {run_id} is already {self.get(run_id).status}; only queued or running runs can be cancelled")

    def cancel_many(self, run_ids: Iterable[str]) -> dict[str, str]:
        """cancel() for many runs, two conditional UPDATEs per 500 ids (2,000 queued runs: a
        second, not minutes): {id: "cancelled" | "cancelling" | the status it already had}."""
        ids = list(dict.fromkeys(run_ids))
        outcome: dict[str, str] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            with self.session() as s, s.begin():
                queued = s.execute(update(Run).where(Run.id.in_(chunk), Run.status == RunStatus.QUEUED.value)
                                   .values(status=RunStatus.CANCELLED.value, finished_at=utcnow(),
                                           cancel_requested=True)
                                   .returning(Run.id).execution_options(synchronize_session=False)).scalars()
                outcome.update(dict.fromkeys(queued, RunStatus.CANCELLED.value))
                running = s.execute(update(Run).where(Run.id.in_(chunk), Run.status == RunStatus.RUNNING.value)
                                    .values(cancel_requested=True)
                                    .returning(Run.id).execution_options(synchronize_session=False)).scalars()
                outcome.update(dict.fromkeys(running, "cancelling"))
                rest = [i for i in chunk if i not in outcome]
                for run_id, status in s.execute(select(Run.id, Run.status).where(Run.id.in_(rest))):
                    outcome[run_id] = getattr(status, "value", status)
        return {i: outcome.get(i, "gone") for i in ids}

    def requeue(self, run_id: str, local: Optional[tuple[str, int]] = None) -> bool:
        """failed | cancelled → queued (latentq retry). `local` = (host, pid) of the process that
        runs it in the foreground (`retry --local`); without it the run is a queue's again."""
        host, pid = local or (None, None)
        return self._transition(
            run_id,
            [Run.status.in_([RunStatus.FAILED.value, RunStatus.CANCELLED.value])],
            status=RunStatus.QUEUED.value,
            owner=None,
            cancel_requested=False,
            finished_at=None,
            error=None,
            attempts=0,
            host=host,
            pid=pid,
            **_queued_again(),
        )

    def stale_runs(self, timeout_seconds: float) -> list[Run]:
        """Running runs of workers (not embedded ones) whose heartbeat is older than the timeout."""
        cutoff = utcnow() - timedelta(seconds=timeout_seconds)
        with self.session() as s:
            return list(s.scalars(select(Run).where(Run.status == RunStatus.RUNNING.value,
                                                    Run.heartbeat_at < cutoff, Run.pid.is_(None))))

    def reap(self, run: Run) -> Optional[str]:
        """A stale running run goes back to queued (or fails after its last attempt).

        Guarded on the heartbeat we saw, so a run whose worker came back is left alone.
        Returns the new status, or None when another process changed the run first."""
        where = [Run.status == RunStatus.RUNNING.value, Run.heartbeat_at == run.heartbeat_at]
        if run.attempts >= run.max_attempts:
            reason = f"worker {run.worker} stopped sending heartbeats; gave up after {run.attempts} attempts"
            if self._transition(run.id, where, status=RunStatus.FAILED.value, owner=None,
                                finished_at=utcnow(), error=reason):
                self.add_event(run.id, "error", reason)
                return RunStatus.FAILED.value
            return None
        if self._transition(run.id, where, status=RunStatus.QUEUED.value, owner=None, **_queued_again()):
            return RunStatus.QUEUED.value  # latentq.worker.jobs sends its message and says so
        return None

    # ---- the outbox: every queued run's message is sent, or the sweep sends it -----------

    def mark_sent(self, run_id: str, seen: Optional[datetime] = None, resend: bool = False) -> Optional[datetime]:
        """Record that the run's message is (about to be) sent. With resend=True it is guarded on
        the sent_at the caller saw, so of many sweeps only one re-sends. Returns the new sent_at,
        or None when the run is no longer queued (or another sweep won)."""
        now = utcnow()
        where = [Run.status == RunStatus.QUEUED.value]
        if resend:
            where.append(Run.sent_at.is_(None) if seen is None else Run.sent_at == seen)
        ok = self._transition(run_id, where, sent_at=now, sends=Run.sends + 1)
        return now if ok else None

    def unmark_sent(self, run_id: str, sent_at: datetime) -> bool:
        """The message recorded at `sent_at` could not be sent after all: leave it to the sweep."""
        return self._transition(run_id, [Run.status == RunStatus.QUEUED.value, Run.sent_at == sent_at],
                                sent_at=None, sends=Run.sends - 1)

    def unsent_runs(self, older_than_seconds: float) -> list[Run]:
        """Queued runs of a queue (not embedded ones) whose message was last sent, or who became
        queued, more than `older_than_seconds` ago: their message may be lost."""
        cutoff = utcnow() - timedelta(seconds=older_than_seconds)
        since = func.coalesce(Run.sent_at, Run.queued_at, Run.created_at)
        with self.session() as s:
            return list(s.scalars(select(Run).where(
                Run.status == RunStatus.QUEUED.value, Run.cancel_requested.is_(False), Run.pid.is_(None),
                since < cutoff).order_by(Run.created_at)))

    # ---- embedded runs (latentq run): their process owns their recovery ------------------

    def mark_local(self, run_id: str, host: str, pid: int) -> bool:
        """A queued run that this process (host, pid) runs in the foreground."""
        return self._transition(run_id, [Run.status == RunStatus.QUEUED.value], host=host, pid=pid)

    def local_runs(self, host: str) -> list[Any]:
        """Queued or running embedded runs owned by processes on `host` (reads.local_runs)."""
        return reads.local_runs(self, host)

    def fail_local(self, run: Any, reason: str) -> bool:
        """An embedded run whose process died → failed, guarded on that process and status."""
        ok = self._transition(run.id, [Run.status == run.status, Run.host == run.host, Run.pid == run.pid],
                              status=RunStatus.FAILED.value, owner=None, finished_at=utcnow(), error=reason)
        if ok:
            self.add_event(run.id, "error", reason)
        return ok

    # ---- checkpoints ---------------------------------------------------------------------

    def record_checkpoint(self, run_id: str, owner: str, epoch: int) -> bool:
        """A checkpoint after `epoch` epochs exists under the run's folder."""
        return self._transition(run_id, [Run.owner == owner], checkpoint_epoch=epoch)

    # ---- metrics, artifacts, events ------------------------------------------------------

    def record_metrics(self, run_id: str, step: int, values: dict[str, float]) -> None:
        """Write metrics for one step; a step written again (after a resume) replaces the old rows."""
        if not values:
            return
        now = utcnow()
        with self.session() as s, s.begin():
            s.execute(delete(Metric).where(Metric.run_id == run_id, Metric.step == step,
                                           Metric.name.in_(list(values))))
            s.add_all(Metric(run_id=run_id, step=step, name=name, value=float(value), recorded_at=now)
                      for name, value in values.items())

    def add_artifact(self, run_id: str, kind: str, rel_path: str) -> None:
        with self.session() as s, s.begin():
            s.execute(delete(Artifact).where(Artifact.run_id == run_id, Artifact.path == rel_path))
            s.add(Artifact(run_id=run_id, kind=kind, path=rel_path, created_at=utcnow()))

    def add_event(self, run_id: str, level: str, message: str) -> None:
        with self.session() as s, s.begin():
            s.add(Event(run_id=run_id, level=level, message=message, at=utcnow()))

    def metrics(self, run_id: str) -> list[Metric]:
        with self.session() as s:
            return list(s.scalars(select(Metric).where(Metric.run_id == run_id)
                                  .order_by(Metric.step, Metric.name)))

    def latest_metrics(self, run_id: str) -> dict[str, float]:
        """{name: value at its highest step}: one grouped query, not every row."""
        return reads.latest_metrics(self, run_id)

    def artifacts(self, run_id: str) -> list[Artifact]:
        with self.session() as s:
            return list(s.scalars(select(Artifact).where(Artifact.run_id == run_id).order_by(Artifact.id)))

    def events(self, run_id: str) -> list[Any]:
        """The run's events, oldest first (reads.events)."""
        return reads.events(self, run_id)

    # ---- the status object ---------------------------------------------------------------

    def status(self, run: Run | str) -> dict[str, Any]:
        """The run's status object (see latentq.db.reads, where runs are listed and shown)."""
        return reads.status(self, run)
