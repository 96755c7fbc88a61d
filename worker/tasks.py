"""The one Celery task: a run id in, the shared job function, nothing else."""

from __future__ import annotations

import json

from sqlalchemy.exc import OperationalError

from latentq.errors import Unavailable
from latentq.worker.app import app, enqueue


def _requeue(run_id: str) -> None:
    from latentq.worker.job import open_store
    from latentq.settings import load_settings

    spec = json.loads(open_store(load_settings()).get(run_id).spec)
    enqueue(run_id, spec.get("queue", "latentq"), spec.get("priority", 5))


# The database away when a message arrives: Celery retries with backoff (the message must not be
# acked as done while its run is still queued).
@app.task(name="latentq.run_job", bind=True, acks_late=True, reject_on_worker_lost=True,
          autoretry_for=(OperationalError, Unavailable), retry_backoff=True, retry_backoff_max=60,
          max_retries=30)
def run_job(self, run_id: str) -> str:
    from latentq.worker.job import execute_run

    return execute_run(run_id, task_id=self.request.id, on_release=_requeue)["status"]
