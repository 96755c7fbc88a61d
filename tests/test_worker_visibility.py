"""A worker you can see while it trains: Celery remote control answers, Flower shows it online
with the running task (and a failed run as FAILURE), `latentq workers` shows the run and its
epoch, `latentq logs` shows the run's own output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest

from support import PausePoint, cli, free_port, wait_for

JOB = ["stacked-ae", "--dataset", "mnist-5k", "--epochs", "3", "--batch-size", "16",
       "--set", "hidden=32", "--set", "codings=8"]


@pytest.fixture
def flower(broker, tmp_path):
    """Real Flower on the test Redis (through latentq's app: the same transport options)."""
    pytest.importorskip("flower")
    port = free_port()
    log = open(tmp_path / "flower.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "latentq.worker.app", "flower",
                             f"--port={port}", "--address=127.0.0.1"],
                            env={**os.environ, "FLOWER_UNAUTHENTICATED_API": "true"},
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def get(path: str):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
            return json.loads(resp.read())

    def up() -> bool:
        try:
            get("/api/workers")
            return True
        except Exception:
            return False

    wait_for(up, timeout=60, what=f"flower up:\n{(tmp_path / 'flower.log').read_text()[-2000:]}")
    yield get
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def test_while_a_job_trains_the_worker_answers_and_tells_the_truth(start_worker, store, flower, tmp_path):
    from latentq.worker.app import producer_app

    pause = PausePoint(tmp_path, epoch=1)  # held in its training process: the run stays running
    worker = start_worker(**pause.env)
    run_id = json.loads(cli("submit", *JOB, "--json").stdout)["id"]
    pause.wait()

    control = producer_app().control.inspect(timeout=10, limit=1)
    assert control.ping(), "no worker answered ping while training"
    active = control.active()
    (tasks,) = active.values()
    assert tasks[0]["kwargs"] == {"run_id": run_id, "recipe": "stacked-ae"}

    listed = json.loads(cli("workers", "--json").stdout)
    (me,) = listed["workers"]
    assert me["pid"] == worker.proc.pid and me["queues"] == ["latentq"]
    (running,) = me["runs"]
    assert running["id"] == run_id and running["recipe"] == "stacked-ae" and running["epoch"] == 1
    assert listed["queues"] == {"latentq": 0}

    def flower_sees_it():
        workers = flower("/api/workers?refresh=1")
        tasks = flower("/api/tasks")
        online = any(name in workers and info.get("stats") for name, info in workers.items())
        started = [t for t in tasks.values() if t["state"] == "STARTED" and run_id in (t.get("kwargs") or "")]
        return online and started

    wait_for(flower_sees_it, timeout=60, what="Flower to show the worker online and the task running")
    partial = cli("logs", run_id)
    assert partial.returncode == 0 and partial.stdout.startswith(f"==== attempt 1 of run {run_id} (stacked-ae)")

    assert cli("cancel", run_id).returncode == 0
    followed = cli("logs", run_id, "--follow", timeout=600)  # returns when the run ends
    assert followed.returncode == 0 and f"run {run_id}: cancelled" in followed.stdout
    pause.release()  # the runs below go through epoch 1

    # A failure only the worker can find (bad data is refused before the run exists): a time limit.
    failing = json.loads(cli("submit", "conv-ae", "--dataset", "digits", "--epochs", "1", "--set", "max_minutes=0.0001",
                             "--json", "--wait").stdout)
    assert failing["status"] == "failed"
    shown = cli("logs", failing["id"])
    assert "time limit" in shown.stdout  # the failure's cause, in the run's own log

    def task_state(rid: str):
        for task in flower("/api/tasks").values():
            if rid in (task.get("kwargs") or ""):
                return task["state"] if task["state"] in ("SUCCESS", "FAILURE") else None
        return None

    assert wait_for(lambda: task_state(failing["id"]), timeout=30, what="the failed task") == "FAILURE"
    assert wait_for(lambda: task_state(run_id), timeout=30, what="the cancelled task") == "FAILURE"  # not SUCCESS
    log = worker.log_path.read_text()
    assert f"run {failing['id']} (conv-ae): failed" in log and f"run {run_id} (stacked-ae): cancelled" in log
    ok = json.loads(cli("submit", "linear-ae", "--epochs", "1", "--json", "--wait").stdout)
    assert ok["status"] == "succeeded"
    assert wait_for(lambda: task_state(ok["id"]), timeout=30, what="the succeeded task") == "SUCCESS"


def test_submit_warns_when_no_worker_consumes_the_queue(broker, lq_home):
    result = cli("submit", "linear-ae", "--queue", "nobody-here", "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["status"] == "queued"  # stdout stays JSON
    assert "no live worker consumes queue 'nobody-here'" in result.stderr
    assert len([l for l in result.stderr.splitlines() if "warning" in l]) == 1


def test_logs_of_an_unknown_and_of_a_queued_run(broker, lq_home):
    assert cli("logs", "nope").returncode == 1
    run_id = json.loads(cli("submit", "linear-ae", "--json").stdout)["id"]
    result = cli("logs", run_id)
    assert result.returncode == 1 and "no log yet: it is queued" in result.stderr


def test_doctor_on_a_healthy_and_a_broken_setup(start_worker, tmp_path):
    start_worker()
    healthy = cli("doctor", "--json", timeout=600)
    report = json.loads(healthy.stdout)
    assert healthy.returncode == 0, report
    names = {c["name"]: c for c in report["checks"]}
    assert set(names) == {"broker", "database", "artifacts", "tensorflow", "workers"}
    assert names["tensorflow"]["tensorflow"] and "gpus" in names["tensorflow"]
    locked = tmp_path / "locked"
    locked.write_text("a file where a folder should be")
    broken = cli("doctor", env={"LATENTQ_BROKER_URL": "redis://127.0.0.1:1/0", "LATENTQ_HOME": str(locked)},
                 timeout=600)
    assert broken.returncode == 1
    problems = [line for line in broken.stdout.splitlines() if line.startswith("PROBLEM")]
    assert [p.split()[1] for p in problems] == ["broker:", "database:", "artifacts:"], broken.stdout
    assert all("LATENTQ_" in p or "start" in p for p in problems)
