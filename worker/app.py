"""The Celery app: Redis broker, JSON only, acks late, reject on worker lost, prefetch 1.

Importing this module never imports TensorFlow: the worker's parent process stays fork-safe,
and the task imports the model code only when it trains."""

from __future__ import annotations

from functools import lru_cache
from typing import Optional

from celery import Celery, signals
from celery.worker.control import inspect_command

from latentq.settings import BROKER_TIMEOUT_SECONDS, Settings, load_settings


def make_app(settings: Settings, sending: bool = False) -> Celery:
    """sending: an app that only sends, whose connects and TLS handshakes give up in seconds."""
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


# The app `celery -A latentq.worker.app worker` runs, configured from the worker's environment.
app = make_app(load_settings(check_home=False))


_producer = lru_cache(maxsize=8)(make_app)


def producer_app() -> Celery:
    """An app for sending, bound to the settings of *now* (not of import time)."""
    return _producer(load_settings(check_home=False), sending=True)


def redis_priority(priority: int) -> int:
    """latentq priority 9 is most urgent; Redis serves 0 first."""
    return 9 - priority


def enqueue(run_id: str, queue: str, priority: int, recipe: Optional[str] = None) -> None:
    """Send one message for a run. Raise Unavailable when the broker cannot take it.

    Keyword arguments, so Flower and the worker's log show the run id and its recipe."""
    from latentq.errors import Unavailable
    from latentq.settings import mask_url

    try:
        producer_app().send_task("latentq.run_job", kwargs={"run_id": run_id, "recipe": recipe}, queue=queue,
                                 priority=redis_priority(priority), retry=False)
    except Exception as exc:  # kombu's connection errors vary by transport
        raise Unavailable(f"cannot reach the broker {mask_url(load_settings(check_home=False).broker_url)}: {exc}") from None


def ping_broker(timeout: float = 3.0) -> None:
    """Raise Unavailable unless the broker answers within `timeout` seconds."""
    from latentq.errors import Unavailable
    from latentq.settings import mask_url

    url = load_settings(check_home=False).broker_url
    try:
        with producer_app().connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as exc:
        hint = " (a rediss:// URL needs a broker that speaks TLS)" if url.startswith("rediss:") else ""
        raise Unavailable(f"cannot reach the broker {mask_url(url)}: {exc}{hint}") from None


@signals.worker_shutting_down.connect
def _on_shutdown(**_kwargs) -> None:
    """Warm shutdown (SIGTERM): the running job checkpoints and goes back to the queue."""
    from latentq.runtime.context import PROCESS_SHUTDOWN
    from latentq.worker.process import STATE

    PROCESS_SHUTDOWN.set()
    STATE.forward_shutdown()


@inspect_command()
def latentq_info(state, **_kwargs) -> dict:
    """`celery inspect latentq_info`: GPU, jobs done, up since and the runs training now."""
    from latentq.worker.process import STATE

    queues = [q.name for q in state.consumer.task_consumer.queues] if state.consumer.task_consumer else []
    return {**STATE.info(), "queues": queues}


@signals.worker_ready.connect
def _on_ready(**_kwargs) -> None:
    from latentq.worker.process import start_spare
    from latentq.worker.reaper import start_reaper_thread

    start_reaper_thread()
    start_spare()
