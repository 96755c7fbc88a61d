"""The reaper: runs whose heartbeat went stale are re-queued (or failed after max attempts).

It runs as a thread in every worker (and `latentq reap` runs it once). Each re-queue is a
conditional update on the stale heartbeat it saw, so many reapers never double a run."""

from __future__ import annotations

import json
import logging
import threading

from latentq.settings import Settings, load_settings

log = logging.getLogger("latentq.reaper")


def reap_once(settings: Settings) -> list[tuple[str, str]]:
    """One sweep. Returns [(run_id, new_status)] for every run this sweep changed."""
    from latentq.db.store import Store
    from latentq.worker.app import enqueue

    store = Store(settings.db_url, settings.artifact_root)
    changed = []
    for run in store.stale_runs(settings.heartbeat_timeout):
        status = store.reap(run)
        if status is None:
            continue
        changed.append((run.id, status))
        log.warning("run %s: heartbeat stale for over %ss -> %s", run.id, settings.heartbeat_timeout, status)
        if status == "queued":
            spec = json.loads(run.spec)
            enqueue(run.id, spec.get("queue", "latentq"), spec.get("priority", 5))
    return changed


def start_reaper_thread(settings: Settings | None = None) -> threading.Thread:
    settings = settings or load_settings()
    interval = max(1.0, min(30.0, settings.heartbeat_timeout / 3))

    def loop() -> None:
        stop = threading.Event()
        while not stop.wait(interval):
            try:
                reap_once(settings)
            except Exception as exc:  # the database or broker is away: try again next time
                log.warning("reaper sweep failed: %s", exc)

    thread = threading.Thread(target=loop, name="latentq-reaper", daemon=True)
    thread.start()
    return thread
