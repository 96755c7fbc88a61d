"""Who is working: live workers (their presence keys in Redis, written every second by each
worker: no broadcast to wait on), what they train (the run store), and how many messages wait in
each queue (Redis). TensorFlow-free; used by `workers`, `submit`, `doctor`."""

from __future__ import annotations

from typing import Any, Optional

from latentq.settings import Settings


def live_workers(settings: Optional[Settings] = None) -> list[dict[str, Any]]:
    """Every worker whose presence key is alive, sorted by name (Unavailable: Redis is away)."""
    from latentq.settings import load_settings
    from latentq.worker.broker import present_workers

    return present_workers((settings or load_settings(check_home=False)).broker_url)


def consumers(workers: list[dict[str, Any]], queue: str) -> list[str]:
    return [w["name"] for w in workers if queue in w.get("queues", [])]


def queue_depths(settings: Settings, queues: set[str]) -> dict[str, int]:
    """Messages waiting per queue (kombu's Redis transport: one list per priority step)."""
    from latentq.worker.broker import redis_client

    client = redis_client(settings.broker_url)
    depths = {}
    for queue in sorted(queues):
        keys = [queue] + [f"{queue}:{step}" for step in range(1, 10)]
        depths[queue] = sum(client.llen(k) for k in keys)
    return depths


def with_runs(workers: list[dict[str, Any]], store) -> list[dict[str, Any]]:
    """Add each worker's current run (recipe, epoch) from the run store."""
    for worker in workers:
        runs = []
        for entry in worker.get("runs", []):
            run: Optional[Any]
            try:
                run = store.get(entry["id"])
            except Exception:
                run = None
            runs.append({**entry, "recipe": run.recipe if run else None, "epoch": run.epoch if run else None,
                         "epochs": run.epochs if run else None, "status": run.status if run else None})
        worker["runs"] = runs
    return workers


def snapshot(settings: Settings, store) -> dict[str, Any]:
    """The picture `latentq workers` prints: workers, their runs, queue depths."""
    workers = with_runs(live_workers(settings), store)
    queues = {"latentq"} | {q for w in workers for q in w.get("queues", [])}
    from latentq.db.tables import RunStatus

    queues |= {r.queue for r in store.list_runs(limit=10_000, status=RunStatus.QUEUED)}
    return {"workers": workers, "queues": queue_depths(settings, queues)}
