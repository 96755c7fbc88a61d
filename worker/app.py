"""The worker's Celery app (`celery -A latentq.worker.app worker`): its configuration is
latentq.worker.broker's; here are the worker's hooks (warm shutdown, `latentq_info`, the reaper,
the presence key, the spare training process).

Importing this module never imports TensorFlow: the worker's parent process stays fork-safe,
and the task imports the model code only when it trains."""

from __future__ import annotations

import logging
import threading

from celery import signals
from celery.worker.control import inspect_command

from latentq.settings import load_settings
from latentq.worker.broker import (  # noqa: F401  (what senders used to import from here)
    PRESENCE_SECONDS, enqueue, make_app, ping_broker, producer_app, publish_presence, redis_client, redis_priority,
    withdraw_presence,
)

log = logging.getLogger("latentq.worker")

# The app `celery -A latentq.worker.app worker` runs, configured from the worker's environment.
app = make_app(load_settings(check_home=False))

_PRESENCE: dict = {}  # "name", "stop": this worker's presence key and its thread's stop flag


@signals.worker_shutting_down.connect
def _on_shutdown(**_kwargs) -> None:
    """Warm shutdown (SIGTERM): the running job checkpoints and goes back to the queue. Celery
    calls this inside its signal handler, once per signal: a second SIGTERM can land while the
    first is still in here, so only the first does the work (a lock taken twice by one thread
    never returns)."""
    from latentq.runtime.context import PROCESS_SHUTDOWN
    from latentq.worker.process import STATE

    if PROCESS_SHUTDOWN.is_set():
        return
    PROCESS_SHUTDOWN.set()
    STATE.forward_shutdown()
    _stop_presence()


def _info(consumer) -> dict:
    from latentq.worker.process import STATE

    queues = [q.name for q in consumer.task_consumer.queues] if consumer.task_consumer else []
    return {**STATE.info(), "queues": queues}


@inspect_command()
def latentq_info(state, **_kwargs) -> dict:
    """`celery inspect latentq_info`: GPU, jobs done, up since and the runs training now."""
    return _info(state.consumer)


def _start_presence(consumer) -> None:
    """Write this worker's presence key now (before it says "ready."), then every
    PRESENCE_SECONDS: `submit` and `workers` read it instead of asking every worker."""
    name = consumer.hostname
    stop = threading.Event()
    client = redis_client(load_settings(check_home=False).broker_url)
    _PRESENCE.update(name=name, stop=stop, client=client)

    def publish() -> None:
        publish_presence(client, name, _info(consumer))

    try:
        publish()
    except Exception as exc:  # the broker is away: the loop tries again
        log.warning("presence key not written: %s", exc)

    def loop() -> None:
        while not stop.wait(PRESENCE_SECONDS):
            try:
                publish()
            except Exception as exc:
                log.warning("presence key not written: %s", " ".join(str(exc).split()))

    threading.Thread(target=loop, name="latentq-presence", daemon=True).start()


def _stop_presence() -> None:
    if "stop" in _PRESENCE:
        _PRESENCE["stop"].set()
        try:
            withdraw_presence(_PRESENCE["client"], _PRESENCE["name"])
        except Exception:  # the key expires by itself
            pass


@signals.worker_ready.connect
def _on_ready(sender=None, **_kwargs) -> None:
    from latentq.worker.process import start_spare
    from latentq.worker.reaper import start_reaper_thread

    if sender is not None:
        _start_presence(sender)
    start_reaper_thread()
    start_spare()
