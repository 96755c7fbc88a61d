"""Fault tests with real processes: kill -9, SIGTERM, broker restart, cancel, concurrent and
duplicate submits, visibility-timeout redelivery, disk full. Each is bounded in time and kills
only the processes it started. A fault lands at a chosen epoch: the run is held there by the
test-only pause point (support.PausePoint), not caught mid-run by training slowly."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from support import (PausePoint, assert_resumed_cleanly, cli, epochs_recorded, events, finished, free_port,
                     has_event, run_job, start_redis_server, submit, wait_for)

EPOCHS = 4
JOB = ["stacked-ae", "--dataset", "mnist-5k", "--epochs", str(EPOCHS), "--batch-size", "16",
       "--set", "hidden=32", "--set", "codings=8"]
FAST_WORKER = {"LATENTQ_HEARTBEAT_TIMEOUT": "3", "LATENTQ_HEARTBEAT_SECONDS": "0.5"}
# Submit processes racing on one database (each a fresh interpreter): enough to interleave their
# transactions; every one is then trained, so each more costs CI a job.
CONCURRENT_SUBMITS = 12


def test_kill_9_mid_run_then_another_worker_resumes_from_the_checkpoint(start_worker, store, tmp_path):
    pause = PausePoint(tmp_path, epoch=2)
    first = start_worker(**FAST_WORKER, **pause.env)
    run_id = submit(*JOB)["id"]
    assert pause.wait() == run_id and store.get(run_id).epoch == 2
    first.signal(signal.SIGKILL)
    first.proc.wait(timeout=10)
    start_worker(**FAST_WORKER)
    status = finished(store, run_id)
    assert status["attempts"] == 2
    assert_resumed_cleanly(store, status, epochs=EPOCHS, resumed_from=2)
    assert has_event(store, run_id, "stopped sending heartbeats")


def test_with_two_workers_the_survivor_takes_over(start_worker, store, tmp_path):
    pause = PausePoint(tmp_path, epoch=2)
    workers = [start_worker(**FAST_WORKER, **pause.env), start_worker(**FAST_WORKER, **pause.env)]
    run_id = submit(*JOB)["id"]
    pause.wait()
    owner_pid = int(store.get(run_id).worker.rsplit(":", 1)[1])
    (victim,) = [w for w in workers if w.proc.pid == owner_pid]
    (survivor,) = [w for w in workers if w is not victim]
    victim.signal(signal.SIGKILL)
    status = finished(store, run_id)
    assert status["attempts"] == 2 and status["worker"].endswith(f":{survivor.proc.pid}")
    assert_resumed_cleanly(store, status, epochs=EPOCHS, resumed_from=2)


def test_sigterm_hands_the_run_back_to_the_queue_at_once(start_worker, store, tmp_path):
    pause = PausePoint(tmp_path, epoch=2)
    first = start_worker(**FAST_WORKER, **pause.env)
    run_id = submit(*JOB)["id"]
    pause.wait()
    first.signal(signal.SIGTERM)
    # No other worker runs (no reaper): the run comes back through the warm shutdown's hand-back.
    # The timeout only allows for a loaded CI machine.
    # The event is written once the message is re-sent, after the row is queued again.
    wait_for(lambda: has_event(store, run_id, "worker shut down: checkpointed"), timeout=60,
             what="the run handed back to the queue")
    assert store.get(run_id).status == "queued"
    assert first.proc.wait(timeout=30) == 0  # a clean warm shutdown
    start_worker(**FAST_WORKER)
    status = finished(store, run_id)
    assert status["attempts"] == 2
    assert_resumed_cleanly(store, status, epochs=EPOCHS, partial_epoch_saved=True, resumed_from=2)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server binary not installed")
def test_broker_restart_mid_run_does_not_fail_the_run(start_worker, store, monkeypatch, tmp_path):
    port = free_port()
    redis = start_redis_server(port, tmp_path)
    pause = PausePoint(tmp_path, epoch=1)
    try:
        monkeypatch.setenv("LATENTQ_BROKER_URL", f"redis://127.0.0.1:{port}/0")
        start_worker(**FAST_WORKER, **pause.env)
        run_id = submit(*JOB)["id"]
        pause.wait()
        redis.terminate()
        redis.wait(timeout=10)
        pause.release()
        wait_for(lambda: store.get(run_id).epoch > 1, what="an epoch to end while the broker is down")
        redis = start_redis_server(port, tmp_path)
        status = finished(store, run_id)
        assert status["status"] == "succeeded" and status["attempts"] == 1
        after = submit("linear-ae", "--epochs", "1")  # the worker reconnected and takes new work
        assert finished(store, after["id"], timeout=120)["status"] == "succeeded"
    finally:
        redis.terminate()
        redis.wait(timeout=10)


def test_cancel_a_running_run_and_a_queued_one(start_worker, store, tmp_path):
    pause = PausePoint(tmp_path, epoch=1)
    running = submit(*JOB)["id"]
    queued = submit("linear-ae", "--epochs", "2")["id"]
    start_worker(**FAST_WORKER, **pause.env)
    pause.wait()
    assert cli("cancel", queued).returncode == 0
    result = cli("cancel", running)
    assert result.returncode == 0 and "cancelling" in result.stdout
    status = finished(store, running, timeout=30)
    assert status["status"] == "cancelled" and status["epoch"] == 1
    assert (Path(store.artifact_root) / running / "checkpoints" / "latest.keras").is_file()
    # Only once its message has been delivered and dropped does attempts == 0 say anything.
    wait_for(lambda: has_event(store, queued, "dropped"), timeout=60,
             what="the cancelled run's message to be delivered and dropped")
    never = store.status(queued)
    assert never["status"] == "cancelled" and never["attempts"] == 0 and never["started_at"] is None
    assert cli("cancel", running).returncode == 1  # already finished: a clear error


def test_retry_resumes_a_cancelled_run_from_its_checkpoint(start_worker, store, tmp_path):
    pause = PausePoint(tmp_path, epoch=2)
    start_worker(**FAST_WORKER, **pause.env)
    run_id = submit(*JOB)["id"]
    pause.wait()
    cli("cancel", run_id)
    assert finished(store, run_id, timeout=30)["status"] == "cancelled"
    assert cli("retry", run_id).returncode == 0  # resumed after epoch 2: the pause is behind it
    status = finished(store, run_id)
    assert_resumed_cleanly(store, status, epochs=EPOCHS, partial_epoch_saved=True, resumed_from=2)


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_concurrent_submits_run_exactly_once_each(request, db, start_worker, store, monkeypatch):
    if db == "postgresql":
        monkeypatch.setenv("LATENTQ_DB_URL", request.getfixturevalue("pg_database"))
        from latentq.db.store import Store

        store = Store(os.environ["LATENTQ_DB_URL"], store.artifact_root)
    procs = [subprocess.Popen(["python", "-m", "latentq.cli.main", "submit", "linear-ae", "--epochs", "1",
                               "--name", f"c{i}", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(CONCURRENT_SUBMITS)]
    ids = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        ids.append(json.loads(out)["id"])
    assert len(set(ids)) == CONCURRENT_SUBMITS
    start_worker(**FAST_WORKER)
    start_worker(**FAST_WORKER)
    statuses = [finished(store, run_id, timeout=300) for run_id in ids]
    assert all(s["status"] == "succeeded" and s["attempts"] == 1 for s in statuses)
    assert sorted(s["name"] for s in statuses) == sorted(f"c{i}" for i in range(CONCURRENT_SUBMITS))


def test_a_duplicated_message_executes_once(start_worker, store):
    from latentq.settings import load_settings
    from latentq.worker.app import make_app

    run_id = submit("linear-ae", "--epochs", "3")["id"]
    make_app(load_settings()).send_task("latentq.run_job", args=[run_id], queue="latentq")  # a duplicate
    start_worker(**FAST_WORKER)
    status = finished(store, run_id)
    wait_for(lambda: has_event(store, run_id, "dropped"), timeout=30, what="the duplicate to be dropped")
    assert status["status"] == "succeeded" and status["attempts"] == 1
    assert epochs_recorded(store, run_id) == [1, 2, 3]


def test_unreachable_database_at_submit_queues_nothing(broker, lq_home):
    import redis

    client = redis.Redis.from_url(broker)

    def queued_messages() -> int:  # one list per priority step: latentq, latentq:1, ...
        return sum(client.llen(k) for k in client.keys("latentq*") if client.type(k) == b"list")

    assert cli("submit", "linear-ae", "--priority", "3").returncode == 0
    assert queued_messages() == 1  # the count below would see a message
    result = cli("submit", "linear-ae", env={"LATENTQ_DB_URL": "postgresql://latentq@127.0.0.1:1/none"})
    assert result.returncode == 1 and "cannot reach the database" in result.stderr
    assert queued_messages() == 1


def restore_unacked_messages() -> bool:
    """kombu's sweep that puts messages unacknowledged for longer than the visibility timeout back
    in their queue, run now: a worker runs it only every unacked_restore_interval (10 s) times
    unacked_restore_throttle (10) seconds."""
    from latentq.settings import load_settings
    from latentq.worker.broker import make_app

    with make_app(load_settings()).connection_for_write() as connection:
        connection.default_channel.qos.restore_visible(num=100, interval=1)
    return True


def test_redelivery_after_the_visibility_timeout_executes_once(start_worker, store, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTQ_VISIBILITY_TIMEOUT", "2")  # the workers' and this process's sweep
    pause = PausePoint(tmp_path, epoch=1)
    workers = [start_worker(**FAST_WORKER, **pause.env), start_worker(**FAST_WORKER, **pause.env)]
    run_id = submit(*JOB)["id"]
    pause.wait()
    owner = store.get(run_id).worker
    # Held past the visibility timeout, the unacknowledged message goes back to the queue, the idle
    # worker takes it, and its claim finds the run owned and drops the delivery (claim_run).
    wait_for(lambda: restore_unacked_messages() and has_event(store, run_id, "dropped"), timeout=60,
             interval=1, what="the redelivery to be dropped")
    (note,) = [m for m in events(store, run_id) if "dropped" in m]
    assert note.startswith("delivery to ") and f"dropped: run is running (owned by {owner})" in note
    pause.release()
    status = finished(store, run_id)
    assert status["status"] == "succeeded" and status["attempts"] == 1, status
    assert epochs_recorded(store, run_id) == list(range(1, EPOCHS + 1))
    logs = Path(store.artifact_root, run_id, "run.log").read_text() + "".join(
        w.log_path.read_text() for w in workers)
    assert logs.count(f"run {run_id}: training process") == 1  # trained once, by one process
    assert logs.count("==== attempt ") == 1


def test_disk_full_fails_the_run_with_the_reason_and_no_half_file(tmp_path, monkeypatch):
    from latentq.db.store import Store
    from latentq.settings import load_settings

    home = tmp_path / "full"
    home.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(home)],
                             capture_output=True).returncode == 0
    monkeypatch.setenv("LATENTQ_HOME", str(home))
    monkeypatch.setenv("LATENTQ_DB_URL", f"sqlite:///{tmp_path / 'lq.db'}")
    if not mounted:  # no permission to mount: simulate ENOSPC at the write
        import errno

        import latentq.files as files

        real = files.os.replace

        def full(src, dst):
            if str(dst).endswith(".keras"):
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(src, dst)

        monkeypatch.setattr(files.os, "replace", full)
    try:
        settings = load_settings()
        store = Store(settings.db_url, settings.artifact_root)
        status = run_job(store, settings, "stacked-ae", dataset="mnist-5k", epochs=2)
        assert status["status"] == "failed"
        assert "disk full" in status["error"], status["error"]
        leftovers = [p for p in home.rglob("*") if ".tmp" in p.name]
        assert leftovers == []
    finally:
        if mounted:
            subprocess.run(["umount", str(home)], check=False)


def training_process(worker_pid: int, run_id: str) -> int:
    """The pid of the process training `run_id`, as the worker reports it (`latentq workers`);
    a child of the worker (beside it, the spare for the next job)."""
    listed = json.loads(cli("workers", "--json").stdout)["workers"]
    (pid,) = [r["pid"] for w in listed if w["pid"] == worker_pid for r in w["runs"] if r["id"] == run_id]
    children = []
    for task in Path(f"/proc/{worker_pid}/task").iterdir():
        children += [int(p) for p in (task / "children").read_text().split()]
    assert pid in children, (pid, children)
    return pid


def test_kill_9_of_the_training_process_alone_requeues_the_run_and_the_worker_goes_on(start_worker, store,
                                                                                     tmp_path):
    pause = PausePoint(tmp_path, epoch=2)
    worker = start_worker(**FAST_WORKER, **pause.env)
    run_id = submit(*JOB)["id"]
    pause.wait()
    os.kill(training_process(worker.proc.pid, run_id), signal.SIGKILL)  # the OOM killer, a GPU crash
    status = finished(store, run_id)
    assert status["attempts"] == 2
    assert_resumed_cleanly(store, status, epochs=EPOCHS, resumed_from=2)
    assert has_event(store, run_id, "training process was killed by SIGKILL")
    assert worker.proc.poll() is None  # the worker stayed up...
    after = submit("linear-ae", "--epochs", "1")  # ...and takes the next job
    assert finished(store, after["id"], timeout=120)["status"] == "succeeded"
    assert store.get(after["id"]).worker.endswith(f":{worker.proc.pid}")
    log = Path(store.artifact_root, run_id, "run.log").read_text()
    assert log.count("==== attempt ") == 2 and "was killed by SIGKILL" in log
