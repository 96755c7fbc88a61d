"""Fault tests for "nothing stranded", with real processes: a worker killed while Redis is down,
queued messages lost with a Redis restart, a `latentq run` killed with SIGKILL, a worker with
another artifact root, PostgreSQL stopped mid-run. Each is bounded in time and stops only the
processes (and the private Redis / PostgreSQL) it started. A fault lands at a chosen epoch: the
run is held there by the test-only pause point (support.PausePoint)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from support import (PausePoint, assert_resumed_cleanly, cli, epochs_recorded, events, finished, free_port,
                     has_event, start_redis_server, submit, wait_for)

EPOCHS = 4
JOB = ["stacked-ae", "--dataset", "mnist-5k", "--epochs", str(EPOCHS), "--batch-size", "16",
       "--set", "hidden=32", "--set", "codings=8"]
FAST = {"LATENTQ_HEARTBEAT_TIMEOUT": "3", "LATENTQ_HEARTBEAT_SECONDS": "0.5", "LATENTQ_RESEND_AFTER": "2"}
CLOSED_BROKER = "redis://127.0.0.1:1/0"


@pytest.fixture
def fast(monkeypatch):
    for key, value in FAST.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def private_redis(broker, monkeypatch, tmp_path):  # after `broker`: its URL wins
    """A redis-server of this test's own, without persistence: (restart(), stop())."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server binary not installed")
    port = free_port()
    state = {"proc": start_redis_server(port, tmp_path)}
    monkeypatch.setenv("LATENTQ_BROKER_URL", f"redis://127.0.0.1:{port}/0")

    def stop() -> None:
        state["proc"].terminate()
        state["proc"].wait(timeout=10)

    def start() -> None:
        state["proc"] = start_redis_server(port, tmp_path)

    yield start, stop
    stop()


def test_a_worker_killed_while_redis_is_down_resumes_when_redis_is_back(fast, private_redis, start_worker, store,
                                                                        tmp_path):
    start_redis, stop_redis = private_redis
    pause = PausePoint(tmp_path, epoch=2)
    workers = [start_worker(**pause.env), start_worker(**pause.env)]
    run_id = submit(*JOB)["id"]
    pause.wait()
    owner_pid = int(store.get(run_id).worker.rsplit(":", 1)[1])
    (victim,) = [w for w in workers if w.proc.pid == owner_pid]
    stop_redis()
    victim.signal(signal.SIGKILL)
    victim.proc.wait(timeout=10)
    # The survivor's reaper puts it back to queued but cannot send its message: it says so.
    wait_for(lambda: has_event(store, run_id, "could not be sent"), timeout=60, what="the re-queue to be noted")
    assert store.status(run_id)["status"] == "queued" and store.status(run_id)["sent_at"] is None
    start_redis()  # empty: nothing persisted
    status = finished(store, run_id)
    assert status["attempts"] == 2
    assert_resumed_cleanly(store, status, epochs=EPOCHS, resumed_from=2)
    assert has_event(store, run_id, "message re-sent")


def test_queued_runs_whose_messages_a_redis_restart_lost_all_run(fast, private_redis, start_worker, store):
    import redis

    start_redis, stop_redis = private_redis
    ids = [submit("linear-ae", "--epochs", "1", "--name", f"lost{i}")["id"] for i in range(3)]
    stop_redis()
    start_redis()
    assert redis.Redis.from_url(os.environ["LATENTQ_BROKER_URL"]).dbsize() == 0
    start_worker()
    statuses = [finished(store, run_id, timeout=180) for run_id in ids]
    assert [s["status"] for s in statuses] == ["succeeded"] * 3
    assert all(s["attempts"] == 1 and has_event(store, s["id"], "message re-sent") for s in statuses)


def test_a_resent_message_beside_the_original_executes_once(fast, start_worker, store):
    run_id = submit("linear-ae", "--epochs", "3")["id"]
    assert cli("retry", run_id).returncode == 0  # a queued run: its message is sent a second time
    start_worker()
    status = finished(store, run_id, timeout=180)
    wait_for(lambda: has_event(store, run_id, "dropped"), timeout=30, what="the duplicate to be dropped")
    assert status["status"] == "succeeded" and status["attempts"] == 1
    assert epochs_recorded(store, run_id) == [1, 2, 3]


def test_a_killed_latentq_run_is_failed_here_and_retry_local_resumes_it_with_no_broker(fast, store, monkeypatch,
                                                                                     tmp_path):
    monkeypatch.setenv("LATENTQ_BROKER_URL", CLOSED_BROKER)
    log = open(tmp_path / "run.log", "wb")
    pause = PausePoint(tmp_path, epoch=2)
    proc = subprocess.Popen([sys.executable, "-m", "latentq.cli.main", "run", *JOB, "--json"], stdout=log,
                            stderr=subprocess.STDOUT, env={**os.environ, **pause.env})
    try:
        run_id = pause.wait()
        assert store.get(run_id).pid == proc.pid
    finally:
        proc.kill()
        proc.wait(timeout=10)
        log.close()
    listed = cli("list", env={"COLUMNS": "250"})
    row = next(line for line in listed.stdout.splitlines() if run_id in line)
    assert "failed" in row and "the process running it died" in row, listed.stdout
    status = json.loads(cli("status", run_id, "--json").stdout)
    assert status["status"] == "failed" and f"latentq retry {run_id} --local" in status["error"]

    result = cli("retry", run_id, "--local", timeout=400)
    assert result.returncode == 0, result.stderr[-2000:]
    status = store.status(run_id)
    assert_resumed_cleanly(store, status, epochs=EPOCHS, resumed_from=2)


def test_a_worker_with_another_artifact_root_refuses_and_the_right_worker_resumes(fast, start_worker, store,
                                                                                  monkeypatch, lq_home, tmp_path):
    monkeypatch.setenv("LATENTQ_DB_URL", f"sqlite:///{lq_home / 'latentq.db'}")  # one database, two roots
    pause = PausePoint(tmp_path, epoch=2)
    first = start_worker(**pause.env)
    run_id = submit(*JOB)["id"]
    pause.wait()
    elsewhere = tmp_path / "elsewhere"
    wrong = start_worker(LATENTQ_HOME=str(elsewhere))
    assert f"artifact root {elsewhere / 'runs'}" in wrong.log_path.read_text()
    first.signal(signal.SIGKILL)
    first.proc.wait(timeout=10)
    wait_for(lambda: has_event(store, run_id, "not found at"), timeout=90, what="the wrong worker to refuse")
    (refusal, *_) = [m for m in events(store, run_id) if "not found at" in m]
    assert str(elsewhere / "runs" / run_id / "checkpoints" / "state.json") in refusal
    # The sweep re-sends its message (every 2 s here) and the same worker gets it: refused once only.
    wait_for(lambda: sum("message re-sent" in m for m in events(store, run_id)) >= 3, timeout=90,
             what="the sweep to re-send the refused run's message a few times")
    assert sum("not found at" in m for m in events(store, run_id)) == 1, events(store, run_id)
    waiting = store.status(run_id)["waiting_reason"]
    assert "waiting for a worker that can see its artifact root" in waiting and "broker" not in waiting, waiting
    assert not (elsewhere / "runs" / run_id).exists()  # it never started the run from epoch 0
    right = start_worker()
    status = finished(store, run_id)
    assert status["worker"].endswith(f":{right.proc.pid}") and status["attempts"] == 2
    assert_resumed_cleanly(store, status, epochs=EPOCHS, resumed_from=2)
    assert not (elsewhere / "runs" / run_id).exists()


def test_postgresql_stopped_for_twenty_seconds_mid_run(fast, private_postgres, start_worker, monkeypatch, lq_home,
                                                      tmp_path):
    from latentq.db.store import Store

    url, ctl = private_postgres
    monkeypatch.setenv("LATENTQ_DB_URL", url)
    store = Store(url, lq_home / "runs")
    pause = PausePoint(tmp_path, epoch=2)
    start_worker(**pause.env)
    run_id = submit(*JOB)["id"]
    pause.wait()
    done_before = store.get(run_id).epoch
    ctl("stop", "-m", "fast")
    pause.release()  # the rest of the run meets the outage
    time.sleep(20)  # the outage itself, not a wait for a condition
    ctl("start")
    status = finished(store, run_id, timeout=400)
    assert status["status"] == "succeeded", (status, events(store, run_id))
    assert epochs_recorded(store, run_id) == list(range(1, EPOCHS + 1))
    resumed = status["resumed_from_epoch"]
    assert resumed is None or resumed >= done_before, (resumed, done_before)  # at most one epoch redone
