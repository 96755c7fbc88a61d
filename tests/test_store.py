"""The run store against SQLite and PostgreSQL: migrations, guarded transitions, races."""

from __future__ import annotations

import threading
import uuid

import pytest

from latentq.db.tables import RunStatus
from latentq.db.store import IdempotencyConflict, IllegalTransition, Store
from latentq.errors import NotFound
from support import wait_for

SPEC = {"kind": "train", "recipe": "linear-ae", "dataset": "synthetic-3d", "epochs": 3, "queue": "latentq"}


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'lq.db'}"
    else:
        url = request.getfixturevalue("pg_database")
    return Store(url, tmp_path / "runs")


def test_create_and_read_a_run(any_store):
    run_id, created = any_store.create_run(SPEC)
    assert created
    status = any_store.status(run_id)
    assert status["status"] == "queued" and status["attempts"] == 0 and status["epochs"] == 3
    assert status["started_at"] is None and status["queue_seconds"] is None
    with pytest.raises(NotFound):
        any_store.get("doesnotexist")


def test_only_one_of_many_concurrent_claims_wins(any_store):
    run_id, _ = any_store.create_run(SPEC)
    results, barrier = [], threading.Barrier(8)

    def claim(i):
        barrier.wait()
        results.append(any_store.claim(run_id, f"owner-{i}", worker=f"w{i}"))

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]
    run = any_store.get(run_id)
    assert run.status == "running" and run.attempts == 1


def test_only_the_owner_can_heartbeat_and_finish(any_store):
    run_id, _ = any_store.create_run(SPEC)
    assert any_store.claim(run_id, "me", worker="w")
    assert any_store.heartbeat(run_id, "intruder") == (False, False)
    assert not any_store.finish(run_id, "intruder", RunStatus.SUCCEEDED)
    assert any_store.heartbeat(run_id, "me") == (True, False)
    assert any_store.finish(run_id, "me", RunStatus.SUCCEEDED)
    assert not any_store.finish(run_id, "me", RunStatus.FAILED)  # already finished
    assert any_store.get(run_id).status == "succeeded"
    assert not any_store.claim(run_id, "late", worker="w2")  # a duplicate delivery drops itself


def test_cancel_queued_never_starts_and_cancel_running_sets_the_flag(any_store):
    queued, _ = any_store.create_run(SPEC)
    assert any_store.cancel(queued) == "cancelled"
    assert not any_store.claim(queued, "me", worker="w")
    running, _ = any_store.create_run(SPEC)
    any_store.claim(running, "me", worker="w")
    assert any_store.cancel(running) == "cancelling"
    assert any_store.heartbeat(running, "me") == (True, True)
    any_store.finish(running, "me", RunStatus.CANCELLED)
    with pytest.raises(IllegalTransition):
        any_store.cancel(running)


def test_idempotency_key_returns_the_same_run(any_store):
    spec = {**SPEC, "idempotency_key": "nightly-1"}
    first, created = any_store.create_run(spec)
    second, created_again = any_store.create_run(spec)
    assert created and not created_again and first == second


def test_idempotency_key_with_another_spec_is_refused_naming_the_run(any_store):
    key = f"nightly-{uuid.uuid4().hex[:6]}"
    first, _ = any_store.create_run({**SPEC, "idempotency_key": key})
    with pytest.raises(IdempotencyConflict, match=f"already names run {first} .*differs in: epochs"):
        any_store.create_run({**SPEC, "epochs": 4, "idempotency_key": key})
    assert [r.id for r in any_store.list_runs(limit=10_000) if r.idempotency_key == key] == [first]


def test_reaper_requeues_a_stale_run_once_and_fails_after_max_attempts(any_store):
    run_id, _ = any_store.create_run(SPEC, max_attempts=2)
    any_store.claim(run_id, "dead", worker="w")
    (stale,) = wait_for(lambda: [r for r in any_store.stale_runs(timeout_seconds=1) if r.id == run_id], timeout=30,
                        interval=0.1, what="the heartbeat to be a second old")
    assert any_store.reap(stale) == "queued"
    assert any_store.reap(stale) is None  # a second reaper with the same view loses
    assert any_store.claim(run_id, "second", worker="w2")
    (stale,) = wait_for(lambda: [r for r in any_store.stale_runs(timeout_seconds=1) if r.id == run_id], timeout=30,
                        interval=0.1, what="the heartbeat to be a second old")
    assert any_store.reap(stale) == "failed"
    run = any_store.get(run_id)
    assert run.status == "failed" and "gave up after 2 attempts" in run.error


def test_metrics_for_a_step_written_twice_are_kept_once(any_store):
    run_id, _ = any_store.create_run(SPEC)
    any_store.record_metrics(run_id, 1, {"loss": 2.0})
    any_store.record_metrics(run_id, 1, {"loss": 1.5})
    any_store.record_metrics(run_id, 2, {"loss": 1.0})
    rows = [(m.step, m.value) for m in any_store.metrics(run_id) if m.name == "loss"]
    assert rows == [(1, 1.5), (2, 1.0)]
    assert any_store.latest_metrics(run_id)["loss"] == 1.0


def test_retry_requeues_only_failed_or_cancelled(any_store):
    run_id, _ = any_store.create_run(SPEC)
    assert not any_store.requeue(run_id)
    any_store.claim(run_id, "me", worker="w")
    any_store.finish(run_id, "me", RunStatus.FAILED, "boom")
    assert any_store.requeue(run_id)
    run = any_store.get(run_id)
    assert run.status == "queued" and run.error is None
