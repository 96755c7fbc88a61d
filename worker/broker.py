"""Talking to the broker from any process: the Celery app that sends, one message per run, a
ping, and the workers' presence keys. Importing this module imports neither Celery nor
TensorFlow; Celery is imported by the functions that send."""

from __future__ import annotations

import json
import time
from functools import lru_cache
from typing import Any, Optional

from latentq.settings import BROKER_TIMEOUT_SECONDS, Settings, load_settings, mask_url, scrub

# A worker writes latentq:worker:<node name> (its queues, GPU, runs, jobs done) every
# PRESENCE_SECONDS; the key expires after PRESENCE_TTL, so a killed worker drops out by itself.
PRESENCE_PREFIX = "latentq:worker:"
PRESENCE_SECONDS = 1.0
PRESENCE_TTL = 6


def make_app(settings: Settings, sending: bool = False):
    """The Celery app: Redis broker, JSON only, acks late, reject on worker lost, prefetch 1.
    sending: an app that only sends, whose connects and TLS handshakes give up in seconds."""
    from celery import Celery

    app = Celery("latentq", broker=settings.broker_url, include=["latentq.worker.tasks"])
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue="latentq",
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a worker outlives a broker restart
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout,
            "queue_order_strategy": "priority",
            "priority_steps": list(range(10)),
            "sep": ":",
        },
        worker_hijack_root_logger=False,
        # Events: Flower and `celery events` see every task (received, started, failed...).
        worker_send_task_events=True,
        task_send_sent_event=True,
    )
    if sending:  # a wrong TLS setting (rediss:// against a plain Redis) must not hang a submit
        app.conf.broker_transport_options.update(socket_timeout=BROKER_TIMEOUT_SECONDS,
                                                 socket_connect_timeout=BROKER_TIMEOUT_SECONDS)
        app.conf.broker_connection_timeout = BROKER_TIMEOUT_SECONDS
    return app


_producer = lru_cache(maxsize=8)(make_app)


def producer_app():
    """An app for sending, bound to the settings of *now* (not of import time)."""
    return _producer(load_settings(check_home=False), sending=True)


def redis_priority(priority: int) -> int:
    """latentq priority 9 is most urgent; Redis serves 0 first."""
    return 9 - priority


def enqueue(run_id: str, queue: str, priority: int, recipe: Optional[str] = None) -> None:
    """Send one message for a run. Raise Unavailable when the broker cannot take it.

    Keyword arguments, so Flower and the worker's log show the run id and its recipe."""
    from latentq.errors import Unavailable

    try:
        producer_app().send_task("latentq.run_job", kwargs={"run_id": run_id, "recipe": recipe}, queue=queue,
                                 priority=redis_priority(priority), retry=False)
    except Exception as exc:  # kombu's connection errors vary by transport
        raise Unavailable(_unreachable(exc)) from None


def ping_broker(timeout: float = 3.0) -> None:
    """Raise Unavailable unless the broker answers within `timeout` seconds."""
    from latentq.errors import Unavailable

    try:
        with producer_app().connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as exc:
        raise Unavailable(_unreachable(exc)) from None


def _unreachable(exc: BaseException) -> str:
    url = load_settings(check_home=False).broker_url
    hint = " (a rediss:// URL needs a broker that speaks TLS)" if url.startswith("rediss:") else ""
    return f"cannot reach the broker {mask_url(url)}: {scrub(str(exc), url)}{hint}"


def redis_client(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=BROKER_TIMEOUT_SECONDS,
                                socket_connect_timeout=BROKER_TIMEOUT_SECONDS)


# ---- presence: which workers are alive, read without asking them ---------------------------------


def publish_presence(client, name: str, info: dict[str, Any]) -> None:
    """One worker's presence (name, queues, GPU, runs, jobs done), expiring unless renewed."""
    client.set(PRESENCE_PREFIX + name, json.dumps({**info, "name": name, "seen_at": time.time()}),
               ex=PRESENCE_TTL)


def withdraw_presence(client, name: str) -> None:
    client.delete(PRESENCE_PREFIX + name)


def present_workers(broker_url: str) -> list[dict[str, Any]]:
    """Every worker whose presence key is alive, sorted by name; raises Unavailable when Redis
    does not answer. A broker that is not Redis has no presence keys: []."""
    if broker_url.split("://", 1)[0] not in ("redis", "rediss", "unix", "redis+socket"):
        return []
    import redis

    from latentq.errors import Unavailable

    try:
        client = redis_client(broker_url)
        keys = sorted(client.scan_iter(match=PRESENCE_PREFIX + "*", count=1000))
        values = client.mget(keys) if keys else []
    except (redis.RedisError, ValueError) as exc:  # ValueError: redis-py cannot parse the URL
        raise Unavailable(f"cannot reach the broker {mask_url(broker_url)}: {scrub(str(exc), broker_url)}") from None
    workers = []
    for raw in values:
        try:
            info = json.loads(raw) if raw else None
        except ValueError:
            info = None
        if isinstance(info, dict) and "name" in info:
            workers.append({"host": str(info["name"]).split("@", 1)[-1], **info})
    return sorted(workers, key=lambda w: w["name"])
