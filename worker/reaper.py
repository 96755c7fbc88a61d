"""The reaper: runs whose heartbeat went stale are re-queued (or failed after max attempts),
embedded runs whose process died on this host are failed, and queued runs whose message is lost
get it again (the outbox sweep, latentq.worker.jobs).

It runs as a thread in every worker (and `latentq reap` runs it once). Each change is a
conditional update on what it saw, so many reapers never double a run. An embedded run
(`latentq run`) is never sent to a queue: only its own host can tell that its process died."""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Optional

from latentq.db import reads
from latentq.db.tables import RunStatus
from latentq.errors import Unavailable
from latentq.settings import Settings, load_settings

log = logging.getLogger("latentq.reaper")


def reap_once(settings: Settings, problems: Optional[list[str]] = None) -> list[tuple[str, str]]:
    """One sweep. Returns [(run_id, what happened)] for every run this sweep changed.

    When the broker cannot be reached for the outbox part (after the database part is done),
    the reason goes to `problems`, or is raised as Unavailable without it."""
    from latentq.db.store import Store
    from latentq.worker.jobs import requeue, resend_lost

    store = Store(settings.db_url, settings.artifact_root)
    changed = [(run_id, RunStatus.FAILED.value) for run_id in fail_dead_local_runs(store)]
    for run in store.stale_runs(settings.heartbeat_timeout):
        outcome: dict[str, object] = {}

        def transition(run=run) -> bool:
            outcome["status"] = store.reap(run)
            return outcome["status"] == RunStatus.QUEUED

        reason = f"worker {run.worker} stopped sending heartbeats"
        sent = requeue(store, run.id, transition, reason)
        if outcome["status"] is None:
            continue
        status = str(outcome["status"])
        log.warning("run %s: heartbeat stale for over %ss -> %s", run.id, settings.heartbeat_timeout, status)
        changed.append((run.id, status if sent is not False else "queued (message left for the sweep)"))
    try:
        changed += [(run_id, "message re-sent") for run_id in resend_lost(store, settings)]
    except Unavailable as exc:
        if problems is None:
            raise
        problems.append(f"outbox sweep skipped: {exc}")
    return changed


def process_alive(pid: int) -> bool:
    """Whether process `pid` on this host still runs latentq (a zombie or a reused pid is dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            if fh.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                return False
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return b"latentq" in fh.read()
    except (OSError, IndexError):
        return True  # no /proc here: trust kill(0)


def fail_dead_local_runs(store: reads.StoreLike) -> list[str]:
    """Embedded runs of this host whose process is gone → failed, with the reason and the way
    back. Every latentq command on the host calls this; returns the ids it failed. `store` may
    be a reads.Reader: the writers' Store (and the ORM's import) is needed only when one died."""
    host = socket.gethostname()
    dead = [run for run in reads.local_runs(store, host) if run.pid != os.getpid() and not process_alive(run.pid)]
    if not dead:
        return []
    from latentq.db.store import Store

    writer = store if isinstance(store, Store) else Store(store.db_url, store.artifact_root)
    failed = []
    for run in dead:
        reason = (f"the process running it died (pid {run.pid} on {host}); "
                  f"resume it with `latentq retry {run.id} --local`")
        if writer.fail_local(run, reason):
            log.warning("run %s: %s", run.id, reason)
            failed.append(run.id)
    return failed


def sweep_interval(settings: Settings) -> float:
    return max(0.5, min(30.0, settings.heartbeat_timeout / 3, settings.resend_after / 3))


def start_reaper_thread(settings: Settings | None = None) -> threading.Thread:
    settings = settings or load_settings()
    interval = sweep_interval(settings)

    def loop() -> None:
        stop = threading.Event()
        while not stop.wait(interval):
            try:
                reap_once(settings)
            except Exception as exc:  # the database or broker is away: try again next time
                log.warning("reaper sweep failed: %s", " ".join(str(exc).split()))

    thread = threading.Thread(target=loop, name="latentq-reaper", daemon=True)
    thread.start()
    return thread
