"""Nothing stranded: the outbox sweep re-sends lost messages, stranded runs say why they wait,
an embedded run whose process died is failed and resumable here, a worker refuses a checkpoint
it cannot see. The real-process fault tests are in test_faults_stranded.py."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import pytest
import redis as redis_lib
from sqlalchemy import update

from support import cli, wait_for
from latentq.db.schema import Run, RunStatus, utcnow

CLOSED_BROKER = "redis://127.0.0.1:1/0"  # nothing listens there: the broker is "down"


def _spec(**extra):
    from latentq.spec import build_spec

    return build_spec(kind="train", recipe="linear-ae", dataset="synthetic-3d", epochs=1, batch_size=64, seed=0,
                      params={}, **extra).model_dump(mode="json")


def _set(store, run_id, **values) -> None:
    with store.session() as s, s.begin():
        s.execute(update(Run).where(Run.id == run_id).values(**values))


def _messages_for(broker_url: str, run_id: str, queue: str = "latentq") -> int:
    """Messages for the run waiting in the queue's lists (one list per priority step)."""
    client = redis_lib.Redis.from_url(broker_url)
    return sum(run_id.encode() in raw for key in client.keys(f"{queue}*") if client.type(key) == b"list"
               for raw in client.lrange(key, 0, -1))


def _settings(monkeypatch, **env):
    from latentq.settings import load_settings

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return load_settings()


def test_a_reap_with_the_broker_down_leaves_the_run_for_the_sweep_which_sends_it_later(store, broker, monkeypatch):
    from latentq.worker.reaper import reap_once

    run_id, _ = store.create_run(_spec())
    assert store.claim(run_id, "gone", worker="host:1")
    _set(store, run_id, heartbeat_at=utcnow() - timedelta(seconds=60))

    down = _settings(monkeypatch, LATENTQ_BROKER_URL=CLOSED_BROKER, LATENTQ_HEARTBEAT_TIMEOUT="5",
                     LATENTQ_RESEND_AFTER="0.2")
    problems: list[str] = []
    assert reap_once(down, problems) == [(run_id, "queued (message left for the sweep)")]
    assert problems and "cannot reach the broker" in problems[0]
    status = store.status(run_id)
    assert status["status"] == "queued" and status["sent_at"] is None
    assert "message not sent" in status["waiting_reason"]
    events = [e.message for e in store.events(run_id)]
    assert any("stopped sending heartbeats" in m and "could not be sent" in m and "the sweep" in m for m in events)
    assert _messages_for(broker, run_id) == 0

    up = _settings(monkeypatch, LATENTQ_BROKER_URL=broker, LATENTQ_HEARTBEAT_TIMEOUT="5", LATENTQ_RESEND_AFTER="0.2")
    wait_for(lambda: (run_id, "message re-sent") in reap_once(up), timeout=30, what="the sweep to re-send")
    assert _messages_for(broker, run_id) == 1 and store.status(run_id)["sent_at"] is not None
    # Its message now waits in the broker: later sweeps leave it alone (a long queue is not a lost message).
    _set(store, run_id, sent_at=utcnow() - timedelta(seconds=60))
    assert reap_once(up) == []
    assert _messages_for(broker, run_id) == 1


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_many_sweeps_at_once_send_one_message(request, db, store, broker, monkeypatch):
    import threading

    from latentq.db.store import Store
    from latentq.worker.jobs import resend_lost

    if db == "postgresql":
        store = Store(request.getfixturevalue("pg_database"), store.artifact_root)
    run_id, _ = store.create_run(_spec())
    _set(store, run_id, created_at=utcnow() - timedelta(seconds=60))
    settings = _settings(monkeypatch, LATENTQ_BROKER_URL=broker, LATENTQ_RESEND_AFTER="5")
    barrier, sent = threading.Barrier(6), []

    def sweep():
        barrier.wait()
        sent.extend(resend_lost(store, settings))

    threads = [threading.Thread(target=sweep) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # The session's PostgreSQL database may hold other tests' runs: count this run's sends only.
    assert sent.count(run_id) == 1 and _messages_for(broker, run_id) == 1


def test_a_stranded_run_says_why_and_retry_resends_its_message(store, broker):
    result = cli("submit", "linear-ae", "--epochs", "1", "--queue", "gpu", "--json")
    assert result.returncode == 0, result.stderr
    run_id = json.loads(result.stdout)["id"]
    redis_lib.Redis.from_url(broker).flushdb()  # the message is lost (a broker restart without persistence)
    _set(store, run_id, queued_at=utcnow() - timedelta(seconds=600))

    status = json.loads(cli("status", run_id, "--json").stdout)
    # Redis answers and no worker's presence key names queue gpu: the note says so.
    assert status["waiting_reason"] == "no live worker consumes queue gpu" and status["waiting_seconds"] >= 600
    listed = cli("list", env={"COLUMNS": "200"}).stdout
    assert "queued 10m" in listed and "no live worker consumes queue gpu" in listed

    result = cli("retry", run_id)
    assert result.returncode == 0 and "sent again to queue gpu" in result.stdout, result.stderr
    assert _messages_for(broker, run_id, "gpu") == 1
    status = json.loads(cli("status", run_id, "--json").stdout)
    assert status["waiting_reason"].startswith("no live worker consumes queue gpu; message re-sent at ")


def test_watch_says_why_a_run_waits(store, broker):
    run_id, _ = store.create_run(_spec(queue="gpu"))
    store.mark_sent(run_id)
    _set(store, run_id, queued_at=utcnow() - timedelta(seconds=90))
    proc = subprocess.Popen([sys.executable, "-m", "latentq.cli.main", "watch", run_id], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    try:
        line = wait_for(lambda: (text := proc.stderr.readline()) and "waiting for a worker" in text and text,
                        timeout=30, interval=0, what="watch to say why the run waits")
        assert f"run {run_id} queued 1m" in line and "queue gpu" in line
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_an_embedded_run_whose_process_died_is_failed_by_the_next_command_here(store, settings, monkeypatch):
    import socket

    from latentq.worker.reaper import reap_once

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "latentq"])
    try:
        host = socket.gethostname()
        died, _ = store.create_run(_spec())
        store.mark_local(died, host, dead.pid)
        assert store.claim(died, "x", worker="w") is False  # never claimed by another process
        living, _ = store.create_run(_spec())
        store.mark_local(living, host, alive.pid)
        _set(store, living, status=RunStatus.RUNNING.value, heartbeat_at=utcnow() - timedelta(seconds=600))

        listed = json.loads(cli("list", "--json").stdout)
        by_id = {s["id"]: s for s in listed}
        assert by_id[died]["status"] == "failed"
        assert by_id[died]["error"].startswith(f"the process running it died (pid {dead.pid} on {host})")
        assert f"latentq retry {died} --local" in by_id[died]["error"]
        # The reaper never sends an embedded run to a queue, stale heartbeat or not.
        monkeypatch.setenv("LATENTQ_HEARTBEAT_SECONDS", "0.3")  # a timeout of at least 3 heartbeats
        monkeypatch.setenv("LATENTQ_HEARTBEAT_TIMEOUT", "1")
        monkeypatch.setenv("LATENTQ_BROKER_URL", CLOSED_BROKER)
        from latentq.settings import load_settings

        assert reap_once(load_settings(), []) == []
        assert store.get(living).status == "running"
        alive.kill()
        alive.wait()
        assert reap_once(load_settings(), []) == [(living, "failed")]
    finally:
        alive.kill()
        alive.wait()


def test_a_worker_releases_a_run_whose_checkpoint_it_cannot_see(store, settings):
    from latentq.worker.jobs import execute_run

    run_id, _ = store.create_run(_spec())
    _set(store, run_id, checkpoint_epoch=3)
    missing = settings.artifact_root / run_id / "checkpoints" / "state.json"

    status = execute_run(run_id, settings, task_id="a-task")
    assert status["status"] == "queued" and status["attempts"] == 0 and status["epoch"] == 0
    assert status["sent_at"] is None  # left for the sweep, not straight back to this worker
    (event,) = [e.message for e in store.events(run_id) if "not found" in e.message]
    assert "\n" not in event and f"checkpoint after epoch 3 not found at {missing}" in event
    assert "released for a worker that can see it" in event

    status = execute_run(run_id, settings)  # in the foreground (retry --local) it fails with the path
    assert status["status"] == "failed" and str(missing) in status["error"]
    assert store.metrics(run_id) == []


def test_migration_0002_gives_runs_queued_before_it_a_sent_message(tmp_path):
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from latentq.db.engine import MIGRATIONS, make_engine, migrate
    from latentq.db.store import Store

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(text("INSERT INTO runs (id, kind, recipe, dataset, spec, queue, status, attempts, max_attempts, "
                          "created_at, epoch, epochs, cancel_requested) VALUES ('old', 'train', 'linear-ae', "
                          "'synthetic-3d', '{}', 'latentq', 'queued', 0, 3, '2026-01-01 00:00:00', 0, 1, 0)"))
        conn.commit()
    migrate(engine)
    run = Store(url, tmp_path / "runs").get("old")
    assert run.sent_at == run.queued_at == run.created_at and run.sends == 1 and run.pid is None


def test_watch_ends_when_the_latentq_run_it_follows_dies(store):
    import socket

    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "latentq"])
    try:
        run_id, _ = store.create_run(_spec())
        store.mark_local(run_id, socket.gethostname(), owner.pid)
        _set(store, run_id, status=RunStatus.RUNNING.value, heartbeat_at=utcnow())
        watch = subprocess.Popen([sys.executable, "-m", "latentq.cli.main", "watch", run_id],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        wait_for(lambda: _has_open(watch.pid, "latentq.db"), timeout=30, what="watch to open the store")
        owner.kill()
        owner.wait()
        out, _ = watch.communicate(timeout=60)
        assert watch.returncode == 1 and f"run {run_id} failed: the process running it died" in out
    finally:
        owner.kill()
        owner.wait()


def _has_open(pid: int, name: str) -> bool:
    import os

    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}").endswith(name) for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def test_submitting_again_with_the_same_key_resends_a_lost_message(store, broker):
    first = cli("submit", "linear-ae", "--epochs", "1", "--idempotency-key", "k-lost", "--json")
    run_id = json.loads(first.stdout)["id"]
    redis_lib.Redis.from_url(broker).flushdb()
    again = cli("submit", "linear-ae", "--epochs", "1", "--idempotency-key", "k-lost", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["id"] == run_id, again.stderr
    assert "sent again" in again.stderr and _messages_for(broker, run_id) == 1
    third = cli("submit", "linear-ae", "--epochs", "1", "--idempotency-key", "k-lost", "--json")
    assert third.returncode == 0 and "sent again" not in third.stderr and _messages_for(broker, run_id) == 1
