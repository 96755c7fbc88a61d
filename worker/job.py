"""The one job function. `latentq run` calls it in the foreground; the Celery task calls it
in a worker. It is idempotent: it claims the run with a conditional update, so a duplicate
delivery finds the run owned or finished and returns without training."""

from __future__ import annotations

import errno
import logging
import os
import socket
import traceback
import uuid
from typing import Any, Callable, Optional

from latentq.data_checks import check_dataset
from latentq.db.schema import RunStatus
from latentq.db.store import Store
from latentq.errors import UserError
from latentq.files import atomic_write_json, inside
from latentq.settings import Settings, load_settings
from latentq.spec import validate_spec_dict
from latentq.worker.context import RunContext, Signals, StopRun
from latentq.worker.lease import Heartbeat
from latentq.worker.requeue import missing_checkpoint, requeue

log = logging.getLogger("latentq.job")


def open_store(settings: Settings) -> Store:
    return Store(settings.db_url, settings.artifact_root)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def execute_run(
    run_id: str,
    settings: Optional[Settings] = None,
    task_id: Optional[str] = None,
    signals: Optional[Signals] = None,
    on_release: Optional[Callable[[str], None]] = None,
) -> dict[str, Any]:
    """Claim, train (or generate), record, finish. Returns the run's status object.

    on_release(run_id) sends the message of a run that a warm shutdown hands back to the queue
    (the Celery task's); without it latentq.worker.requeue sends it through the broker."""
    settings = settings or load_settings()
    from latentq.models import registry  # noqa: F401  (TensorFlow's import is not the run's time)

    owner = claim_run(run_id, settings, task_id)
    if owner is None:
        return open_store(settings).status(run_id)
    return execute_claimed(run_id, owner, settings, signals, on_release)


def claim_run(run_id: str, settings: Settings, task_id: Optional[str] = None) -> Optional[str]:
    """queued -> running for this process: the owner token, or None when the run is owned
    elsewhere or finished (the delivery is dropped and an event says so). TensorFlow-free."""
    store = open_store(settings)
    store.get(run_id)  # NotFound for an unknown id
    owner = f"{worker_name()}:{uuid.uuid4().hex[:8]}"
    if not store.claim(run_id, owner, worker=worker_name(), task_id=task_id):
        run = store.get(run_id)
        note = f"delivery to {worker_name()} dropped: run is {run.status}" + (
            f" (owned by {run.worker})" if run.status is RunStatus.RUNNING else "")
        log.info("run %s: %s", run_id, note)
        store.add_event(run_id, "info", note)
        return None
    missing = missing_checkpoint(store.get(run_id), settings.artifact_root)
    if missing:  # never restart from epoch 0 what another artifact root has checkpointed
        _refuse(store, run_id, owner, missing, foreground=task_id is None)
        return None
    return owner


def execute_claimed(run_id: str, owner: str, settings: Settings, signals: Optional[Signals] = None,
                    on_release: Optional[Callable[[str], None]] = None) -> dict[str, Any]:
    """Train a run this process (or its parent, for it) has claimed as `owner`, then finish it."""
    store = open_store(settings)
    signals = signals or Signals()
    heartbeat = Heartbeat(store, run_id, owner, signals, settings.heartbeat_seconds)
    heartbeat.start()
    try:
        _run_claimed(store, run_id, owner, settings, signals)
        store.finish(run_id, owner, RunStatus.SUCCEEDED)
    except StopRun as stop:
        _stopped(store, run_id, owner, stop, on_release)
    except UserError as exc:
        store.finish(run_id, owner, RunStatus.FAILED, " ".join(str(exc).split()))
    except OSError as exc:
        store.add_event(run_id, "error", traceback.format_exc())
        reason = f"{type(exc).__name__}: {exc}"
        if exc.errno == errno.ENOSPC:
            reason = f"disk full while writing under {settings.home}: free space, then `latentq retry {run_id}`"
        store.finish(run_id, owner, RunStatus.FAILED, reason)
    except KeyboardInterrupt:
        store.finish(run_id, owner, RunStatus.CANCELLED, "interrupted")
        raise
    except Exception as exc:
        store.add_event(run_id, "error", traceback.format_exc())
        store.finish(run_id, owner, RunStatus.FAILED, f"{type(exc).__name__}: {exc}".splitlines()[0])
    finally:
        heartbeat.stop()
    return store.status(run_id)


def _run_claimed(store: Store, run_id: str, owner: str, settings: Settings, signals: Signals) -> None:
    spec = validate_spec_dict(store.spec(run_id))
    run_dir = inside(settings.artifact_root, run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / "spec.json", spec.model_dump(mode="json"))
    store.add_artifact(run_id, "spec", "spec.json")
    params = spec.recipe_params()
    max_seconds = params.max_minutes * 60 if params.max_minutes else None
    ctx = RunContext(store, run_id, owner, spec, run_dir, signals, max_seconds=max_seconds)
    if spec.kind == "train":  # again: the files may have changed since the job was submitted
        check_dataset(ctx.dataset(), spec)

    from latentq.models import registry  # TensorFlow is imported here, in the training process

    try:
        registry.run(ctx)
    finally:
        ctx.close()
    ctx.raise_if_stopped()


def _stopped(store: Store, run_id: str, owner: str, stop: StopRun,
             on_release: Optional[Callable[[str], None]]) -> None:
    if stop.reason == "lost_lease":
        log.warning("run %s: lease lost to another worker; stopping without writing", run_id)
    elif stop.reason == "cancel":
        store.finish(run_id, owner, RunStatus.CANCELLED, "cancelled by user")
    elif stop.reason == "time_limit":
        store.finish(run_id, owner, RunStatus.FAILED, f"time limit: {stop.detail}")
    elif stop.reason == "shutdown":
        requeue(store, run_id, lambda: store.release(run_id, owner), "worker shut down: checkpointed",
                send=on_release)


def _refuse(store: Store, run_id: str, owner: str, reason: str, foreground: bool) -> None:
    log.warning("run %s: %s", run_id, reason)
    if foreground:
        store.finish(run_id, owner, RunStatus.FAILED, reason)
    else:
        requeue(store, run_id, lambda: store.release(run_id, owner, refused=True),
                f"{reason}: released for a worker that can see it", defer=True)
