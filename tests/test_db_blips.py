"""A database blip is ridden out in place: a PostgreSQL restart while a run trains leaves the run
running on its first attempt, with every metric recorded once (latentq.runtime.retry). Each test
runs a PostgreSQL cluster of its own (needs root and pg_createcluster) and stops only it."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from support import PausePoint, events, finished, submit, wait_for

pytestmark = pytest.mark.integration

EPOCHS = 4
JOB = ["stacked-ae", "--dataset", "mnist-5k", "--epochs", str(EPOCHS), "--batch-size", "16",
       "--set", "hidden=32", "--set", "codings=8"]


def test_a_write_during_a_restart_is_retried_and_one_after_the_budget_fails(private_postgres, tmp_path):
    from sqlalchemy.exc import OperationalError

    from latentq.db.store import Store
    from latentq.runtime.retry import RetryingStore

    url, ctl = private_postgres
    plain = Store(url, tmp_path / "runs")
    run_id, _ = plain.create_run({"kind": "train", "recipe": "linear-ae", "dataset": "digits", "epochs": 2})
    ctl("stop", "-m", "fast")
    with pytest.raises(OperationalError):  # bounded: the budget spent, the last error raised
        RetryingStore(plain, budget=1.0).record_metrics(run_id, 1, {"loss": 0.5})
    done = threading.Event()
    outcome: list = []

    def write() -> None:
        try:
            RetryingStore(plain, budget=30.0).record_metrics(run_id, 1, {"loss": 0.25, "val_loss": 0.3})
            outcome.append("written")
        except Exception as exc:  # noqa: BLE001  reported by the assertion below
            outcome.append(exc)
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    time.sleep(1.0)  # the outage the write meets, not a wait for a condition
    assert not done.is_set()  # still retrying while the database is down
    ctl("start")
    writer.join(timeout=60)
    assert outcome == ["written"]
    rows = [(m.step, m.name, m.value) for m in plain.metrics(run_id)]
    assert sorted(rows) == [(1, "loss", 0.25), (1, "val_loss", 0.3)]
    assert any("database unreachable" in m for m in events(plain, run_id))


def test_a_postgresql_restart_mid_run_leaves_the_run_on_its_first_attempt(private_postgres, start_worker,
                                                                          monkeypatch, lq_home, tmp_path):
    from latentq.db.store import Store

    url, ctl = private_postgres
    monkeypatch.setenv("LATENTQ_DB_URL", url)
    monkeypatch.setenv("LATENTQ_HEARTBEAT_TIMEOUT", "40")  # writes retried for 20 s
    store = Store(url, lq_home / "runs")
    pause = PausePoint(tmp_path, epoch=2)
    start_worker(**pause.env)
    run_id = submit(*JOB)["id"]
    pause.wait()
    ctl("stop", "-m", "fast")
    pause.release()  # epoch 3's writes meet the outage
    log = lq_home / "runs" / run_id / "run.log"
    wait_for(lambda: log.is_file() and "retrying for up to" in log.read_text(errors="replace"), timeout=60,
             what="the training process to retry a write")
    ctl("start")
    status = finished(store, run_id, timeout=300)
    assert status["status"] == "succeeded", (status, events(store, run_id))
    assert status["attempts"] == 1 and status["resumed_from_epoch"] is None, status
    counts = Counter((m.step, m.name) for m in store.metrics(run_id))
    assert counts and set(counts.values()) == {1}, counts
    assert [m.step for m in store.metrics(run_id) if m.name == "loss"] == list(range(1, EPOCHS + 1))
    assert any("database unreachable" in m for m in events(store, run_id))


def test_a_fast_restart_while_the_run_trains(private_postgres, start_worker, monkeypatch, lq_home, tmp_path):
    """`pg_ctlcluster ... restart -m fast` as an operator types it, while the run writes."""
    from latentq.db.store import Store

    url, ctl = private_postgres
    monkeypatch.setenv("LATENTQ_DB_URL", url)
    monkeypatch.setenv("LATENTQ_HEARTBEAT_TIMEOUT", "40")
    store = Store(url, lq_home / "runs")
    pause = PausePoint(tmp_path, epoch=1)
    start_worker(**pause.env)
    run_id = submit(*JOB)["id"]
    pause.wait()
    pause.release()
    ctl("restart", "-m", "fast")
    status = finished(store, run_id, timeout=300)
    assert status["status"] == "succeeded", (status, events(store, run_id))
    assert status["attempts"] == 1, status
    counts = Counter((m.step, m.name) for m in store.metrics(run_id))
    assert counts and set(counts.values()) == {1}, counts
