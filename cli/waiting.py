"""Why a queued run waits, told truthfully: the live workers' presence keys in Redis (read only
when some run shown is queued) and the run store's running runs, through latentq.db.reads.queue_notes."""

from __future__ import annotations

from typing import Any


def explain(store, statuses: list[dict[str, Any]], settings=None) -> list[dict[str, Any]]:
    """The statuses, their queued runs' waiting notes saying what their queue's workers do.
    Redis away: the notes fall back on the run store's heartbeats (a running run = a busy worker)."""
    from latentq.db import reads
    from latentq.db.tables import RunStatus

    if not any(st.get("status") == RunStatus.QUEUED for st in statuses):
        return statuses
    from latentq.settings import load_settings
    from latentq.worker.live import live_workers

    settings = settings or load_settings()
    try:
        workers = live_workers(settings)
    except Exception:  # the broker is away or not Redis: say what the store knows
        workers = None
    if not workers and not settings.broker_url.split("://", 1)[0].startswith(("redis", "rediss", "unix")):
        workers = None  # a broker without presence keys tells nothing of its workers
    return reads.queue_notes(store, statuses, workers, stale_after=settings.heartbeat_timeout)
