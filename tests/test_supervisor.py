"""`latentq worker --gpus`: the plan (dry run), GPU discovery, a supervisor that restarts a dead
worker and shuts down warm, and the distributed topology as real processes (Redis, PostgreSQL,
a supervisor with two workers on fake GPU indices, ten jobs from the CLI)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import cli, wait_for


def test_dry_run_plans_one_worker_per_gpu_with_its_environment():
    result = cli("worker", "--gpus", "0,3", "-Q", "latentq,gpu", "--dry-run")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    for gpu, line in zip(("0", "3"), lines):
        assert line.startswith(f"gpu {gpu}: CUDA_VISIBLE_DEVICES={gpu} TF_FORCE_GPU_ALLOW_GROWTH=true ")
        assert f"--gpu {gpu}" in line and f"--hostname latentq-gpu{gpu}@%h" in line and "--queues latentq,gpu" in line


@pytest.mark.parametrize("value", ["0,x", "-1", "0,0", ""])
def test_bad_gpu_lists_are_refused(value):
    result = cli("worker", "--gpus", value, "--dry-run")
    assert result.returncode == 2 and result.stderr.startswith("Error: --gpus"), result.stderr
    assert "Traceback" not in result.stderr


def _bin_with(tmp_path: Path, script: str | None) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    if script is not None:
        smi = bin_dir / "nvidia-smi"
        smi.write_text(script)
        smi.chmod(0o755)
    return {"PATH": str(bin_dir)}  # the CLI runs from sys.executable: PATH only decides nvidia-smi


def test_gpus_all_finds_gpus_with_nvidia_smi_and_says_when_there_are_none(tmp_path):
    none = cli("worker", "--gpus", "all", "--dry-run", env=_bin_with(tmp_path / "a", None))
    assert none.returncode == 1 and "found no GPU" in none.stderr and "nvidia-smi" in none.stderr
    fake = "#!/bin/sh\necho 'GPU 0: Fake A100 (UUID: GPU-1)'\necho 'GPU 1: Fake A100 (UUID: GPU-2)'\n"
    two = cli("worker", "--gpus", "all", "--dry-run", env=_bin_with(tmp_path / "b", fake))
    assert two.returncode == 0, two.stderr
    assert [line.split(":")[0] for line in two.stdout.splitlines()] == ["gpu 0", "gpu 1"]
    empty = cli("worker", "--gpus", "all", "--dry-run", env=_bin_with(tmp_path / "c", "#!/bin/sh\nexit 0\n"))
    assert empty.returncode == 1 and "lists none" in empty.stderr


class Supervisor:
    """A real `latentq worker --gpus ...` process in its own process group, its output on disk."""

    def __init__(self, gpus: str, log_path: Path, queue: str = "latentq"):
        self.log_path = log_path
        self.log = open(log_path, "wb")
        env = {**os.environ, "LATENTQ_HEARTBEAT_TIMEOUT": "5"}
        self.proc = subprocess.Popen([sys.executable, "-m", "latentq.cli.main", "worker", "--gpus", gpus, "-Q", queue],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, count: int, timeout: float = 120) -> None:
        wait_for(lambda: self.text().count(" ready.") >= count, timeout=timeout,
                 what=f"{count} worker(s) ready:\n{self.text()[-3000:]}")

    def children(self) -> list[int]:
        pids = []
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            pids += [int(p) for p in (task / "children").read_text().split()]
        return pids

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.log.close()


@pytest.fixture
def supervisor(lq_home, broker, tmp_path):
    started: list[Supervisor] = []

    def start(gpus: str, queue: str = "latentq") -> Supervisor:
        sup = Supervisor(gpus, tmp_path / f"supervisor-{len(started)}.log", queue)
        started.append(sup)
        return sup

    yield start
    for sup in started:
        sup.stop()


@pytest.mark.integration
def test_supervisor_restarts_a_dead_worker_and_shuts_down_warm(supervisor):
    sup = supervisor("0,1")
    sup.wait_ready(2)
    first, second = sorted(sup.children())
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: "was killed by SIGKILL; restarting in 1s" in sup.text(), timeout=30, what="the restart notice")
    sup.wait_ready(3)
    children = sup.children()
    assert len(children) == 2 and second in children and first not in children
    os.kill(sup.proc.pid, signal.SIGTERM)  # the supervisor alone: it passes SIGTERM on
    assert sup.proc.wait(timeout=90) == 0
    assert "warm shutdown of 2 worker(s)" in sup.text() and "all workers stopped" in sup.text()
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


@pytest.mark.integration
@pytest.mark.slow
def test_topology_redis_postgresql_a_two_gpu_supervisor_and_ten_jobs(supervisor, own_pg_database, monkeypatch):
    pg_database = own_pg_database
    monkeypatch.setenv("LATENTQ_DB_URL", pg_database)
    sup = supervisor("0,1")
    sup.wait_ready(2)
    ids = []
    for i in range(10):
        result = cli("submit", "linear-ae", "--epochs", "1", "--name", f"t{i}", "--json")
        assert result.returncode == 0, result.stderr
        ids.append(json.loads(result.stdout)["id"])
    from latentq.db.store import Store

    store = Store(pg_database, Path(os.environ["LATENTQ_HOME"]) / "runs")
    statuses = [wait_for(lambda: (s := store.status(run_id))["status"] in ("succeeded", "failed", "cancelled") and s,
                         timeout=600, what=f"run {run_id}") for run_id in ids]
    assert [s["status"] for s in statuses] == ["succeeded"] * 10, [s["error"] for s in statuses]
    workers = {s["worker"] for s in statuses}
    children = sup.children()
    assert {int(w.rsplit(":", 1)[1]) for w in workers} == set(children)  # spread over both workers
    listed = json.loads(cli("workers", "--json").stdout)
    assert sorted(w["gpu"] for w in listed["workers"]) == ["0", "1"]
    assert sorted(w["name"].split("@")[0] for w in listed["workers"]) == ["latentq-gpu0", "latentq-gpu1"]
    # a job counts as done once its training process has exited, a moment after its run's row ends
    # (a loaded machine may reap and re-run an attempt: each attempt is one job)
    attempts = sum(store.status(run_id)["attempts"] for run_id in ids)
    seen = {}

    def counted() -> bool:
        seen.update({w["name"]: w["jobs_done"] for w in json.loads(cli("workers", "--json").stdout)["workers"]})
        return sum(seen.values()) == attempts

    try:
        wait_for(counted, timeout=300, what=f"both workers to count {attempts} jobs done")
    except TimeoutError:
        events = {run_id: [e.message for e in store.events(run_id)] for run_id in ids}
        raise AssertionError(f"jobs done {seen}; attempts {attempts}; events {events}\n{sup.text()[-6000:]}")
