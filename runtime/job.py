"""Run a claimed run to its end: the part of the one job function that trains.

`latentq run` (in-process) and the worker's training process both come here once the run is
claimed (latentq.worker.jobs.claim_run). TensorFlow-free: the caller passes `train`, the
dispatcher of latentq.models (latentq.models.runner.run), which imports it."""

from __future__ import annotations

import errno
import logging
import os
import socket
import traceback
from typing import Any, Callable, Optional

from latentq.data_checks import check_dataset
from latentq.db.tables import RunStatus
from latentq.db.store import Store
from latentq.errors import UserError
from latentq.runtime import artifacts
from latentq.runtime.artifacts import put_json
from latentq.runtime.context import RunContext, Signals, StopRun
from latentq.runtime.lease import Heartbeat
from latentq.runtime.retry import RetryingStore, retry_budget
from latentq.settings import Settings, scrub
from latentq.spec import validate_spec_dict

log = logging.getLogger("latentq.job")

Train = Callable[[RunContext], None]
# on_shutdown(store, run_id, owner): hand a checkpointed run back to the queue (a warm shutdown).
OnShutdown = Callable[[Store, str, str], None]


def open_store(settings: Settings) -> Store:
    return Store(settings.db_url, settings.artifact_root)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def execute_claimed(run_id: str, owner: str, settings: Settings, train: Train,
                    on_shutdown: OnShutdown, signals: Optional[Signals] = None) -> dict[str, Any]:
    """Train a run this process (or its parent, for it) has claimed as `owner`, then finish it.
    `train(ctx)` does the Keras work; `on_shutdown` hands the run back on a warm shutdown."""
    plain = open_store(settings)
    # Every write of the run rides out a database restart; the heartbeat skips a failed beat instead.
    store = RetryingStore(plain, retry_budget(settings.heartbeat_timeout))
    signals = signals or Signals()
    heartbeat = Heartbeat(plain, run_id, owner, signals, settings.heartbeat_seconds)
    heartbeat.start()
    try:
        _run_claimed(store, run_id, owner, settings, signals, train)
        store.finish(run_id, owner, RunStatus.SUCCEEDED)
    except StopRun as stop:
        _stopped(store, run_id, owner, stop, on_shutdown)
    except UserError as exc:
        store.finish(run_id, owner, RunStatus.FAILED, " ".join(str(exc).split()))
    except OSError as exc:
        store.add_event(run_id, "error", _scrubbed(traceback.format_exc(), settings))
        reason = _scrubbed(f"{type(exc).__name__}: {exc}", settings)
        if exc.errno == errno.ENOSPC:
            local = " --local" if store.get(run_id).pid is not None else ""  # an embedded run: `latentq run`'s
            reason = f"disk full while writing under {settings.home}: free space, then `latentq retry {run_id}{local}`"
        store.finish(run_id, owner, RunStatus.FAILED, reason)
    except KeyboardInterrupt:
        store.finish(run_id, owner, RunStatus.CANCELLED, "interrupted")
        raise
    except Exception as exc:
        store.add_event(run_id, "error", _scrubbed(traceback.format_exc(), settings))
        store.finish(run_id, owner, RunStatus.FAILED,
                     _scrubbed(f"{type(exc).__name__}: {exc}".splitlines()[0], settings))
    finally:
        heartbeat.stop()
    return store.status(run_id)


def _model_complete(store: Store, run_id: str) -> bool:
    """model.keras is written and registered (ctx.save_model registers it after the rename)."""
    return any(a.kind == "model" and a.path == "model.keras" for a in store.artifacts(run_id))


def _scrubbed(text: str, settings: Settings) -> str:
    """A driver's error may quote its URL or a piece of its password: never into the run's record."""
    return scrub(text, settings.db_url, settings.broker_url)


def _run_claimed(store: Store, run_id: str, owner: str, settings: Settings, signals: Signals,
                 train: Train) -> None:
    spec = validate_spec_dict(store.spec(run_id))
    runs = artifacts.runs(settings)
    put_json(runs.scope(run_id), "spec.json", spec.model_dump(mode="json"))
    store.add_artifact(run_id, "spec", "spec.json")
    params = spec.recipe_params()
    max_seconds = params.max_minutes * 60 if params.max_minutes else None
    ctx = RunContext(store, run_id, owner, spec, signals, runs=runs, cache=artifacts.cache_files(settings),
                     max_seconds=max_seconds)
    if spec.kind == "train":  # again: the files may have changed since the job was submitted
        check_dataset(ctx.dataset(), spec)

    try:
        train(ctx)
    finally:
        ctx.close()
    ctx.raise_if_stopped()


def _stopped(store: Store, run_id: str, owner: str, stop: StopRun, on_shutdown: OnShutdown) -> None:
    if stop.reason == "lost_lease":
        log.warning("run %s: lease lost to another worker; stopping without writing", run_id)
    elif stop.reason == "cancel" and _model_complete(store, run_id):
        # Cancelling now would leave a complete model in a run that `generate` refuses.
        store.add_event(run_id, "warning", "cancel requested after model.keras was written: too late to cancel, "
                                           "the run ends succeeded (the finishing work left was skipped)")
        store.finish(run_id, owner, RunStatus.SUCCEEDED)
    elif stop.reason == "cancel":
        store.finish(run_id, owner, RunStatus.CANCELLED, "cancelled by user")
    elif stop.reason == "pruned":  # cancelled, so `latentq retry` resumes it like any stopped run
        store.add_event(run_id, "warning", stop.detail)
        store.finish(run_id, owner, RunStatus.CANCELLED, stop.detail)
    elif stop.reason == "time_limit":
        store.finish(run_id, owner, RunStatus.FAILED, f"time limit: {stop.detail}")
    elif stop.reason == "shutdown":
        on_shutdown(store, run_id, owner)
