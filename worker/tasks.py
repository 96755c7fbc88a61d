"""The one Celery task: a run id in; claim it here, train it in a process of its own.

The task's state tells the truth: a failed run ends it in FAILURE, a cancelled one too (never
SUCCESS), both without retry or redelivery (the exceptions are expected: `throws`)."""

from __future__ import annotations

import logging
from typing import Optional

from sqlalchemy.exc import OperationalError

from latentq.errors import NotFound, Unavailable
from latentq.worker.app import app

log = logging.getLogger("latentq.worker")


class RunFailed(Exception):
    """The run ended failed (its reason is in the message and in `latentq show`)."""


class RunCancelled(Exception):
    """The run was cancelled by a user while it trained."""


# The database away when a message arrives: Celery retries with backoff (the message must not be
# acked as done while its run is still queued).
@app.task(name="latentq.run_job", bind=True, acks_late=True, reject_on_worker_lost=True,
          autoretry_for=(OperationalError, Unavailable), retry_backoff=True, retry_backoff_max=60,
          max_retries=30, throws=(RunFailed, RunCancelled))
def run_job(self, run_id: str, recipe: Optional[str] = None) -> str:
    from latentq.settings import load_settings
    from latentq.worker.jobs import claim_run
    from latentq.worker.process import train_in_child

    settings = load_settings()
    try:
        owner = claim_run(run_id, settings, task_id=self.request.id)
    except NotFound:
        # Deleted while queued (`latentq rm --cancel`): its message outlived it. Nothing to run or retry.
        log.info("run %s (%s): no such run (deleted while queued): message dropped", run_id, recipe or "?")
        return f"dropped: run {run_id} no longer exists"
    if owner is None:
        return "dropped: a duplicate delivery (the run is owned elsewhere or finished)"
    log.info("run %s (%s): claimed", run_id, recipe or "?")
    status = train_in_child(run_id, owner, settings)
    log.info("run %s (%s): %s%s", run_id, status["recipe"], status["status"],
             f": {status['error']}" if status["error"] else "")
    if status["status"] == "failed":
        raise RunFailed(f"run {run_id} ({status['recipe']}) failed: {status['error']}")
    if status["status"] == "cancelled":
        raise RunCancelled(f"run {run_id} ({status['recipe']}) cancelled")
    return f"run {run_id} ({status['recipe']}) {status['status']}"
