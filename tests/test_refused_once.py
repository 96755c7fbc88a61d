"""A worker that cannot see a run's checkpoint refuses it once: later deliveries of that run at that
checkpoint are dropped without a claim until the run moves on or the checkpoint appears, and the
run's waiting note says it waits for a worker that can see its artifact root."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import update

from latentq.db.schema import Run

pytestmark = pytest.mark.unit


def _set(store, run_id, **values) -> None:
    with store.session() as s, s.begin():
        s.execute(update(Run).where(Run.id == run_id).values(**values))


def _refusals(store, run_id) -> int:
    return sum("released for a worker that can see it" in e.message for e in store.events(run_id))


def test_a_refused_run_is_refused_once_per_worker(store, settings, monkeypatch):
    from latentq.spec import build_spec
    from latentq.worker import jobs

    monkeypatch.setattr(jobs, "_REFUSED", {})  # this test's worker process, fresh
    spec = build_spec(kind="train", recipe="linear-ae", dataset="synthetic-3d", epochs=4, batch_size=64, seed=0,
                      params={}).model_dump(mode="json")
    run_id, _ = store.create_run(spec)
    _set(store, run_id, checkpoint_epoch=2)

    for delivery in range(5):  # the sweep re-sends; this worker keeps getting it
        assert jobs.claim_run(run_id, settings, task_id=f"t{delivery}") is None
    assert _refusals(store, run_id) == 1
    status = store.status(run_id)
    assert status["status"] == "queued" and status["attempts"] == 0
    assert status["waiting_reason"].startswith("waiting for a worker that can see its artifact root")
    assert "checkpoint after epoch 2 not found" in status["waiting_reason"]
    assert "broker was unreachable" not in status["waiting_reason"]

    _set(store, run_id, checkpoint_epoch=3)  # another worker took it further: a new checkpoint to look for
    assert jobs.claim_run(run_id, settings, task_id="t5") is None
    assert _refusals(store, run_id) == 2

    state = settings.artifact_root / run_id / "checkpoints" / "state.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"epoch": 3}))  # the artifact root is mounted after all
    owner = jobs.claim_run(run_id, settings, task_id="t6")
    assert owner is not None
    status = store.status(run_id)
    assert status["status"] == "running" and status["error"] is None and status["attempts"] == 1
