"""A worker's training process runs job after job (latentq.worker.trainer): each job as if it
had the process to itself (the same weights as the same spec trained alone in a fresh
process), a failed job leaving nothing behind for the next, a bound on jobs and on memory
recycling the process, and kill -9 of a process that already ran jobs still re-queuing its run."""

from __future__ import annotations

import io
import os
import re
import select
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

from support import PausePoint, assert_resumed_cleanly, finished, has_event, submit, wait_for

TINY_VAE = {"hidden1": "24", "hidden2": "12", "codings": "4", "eval_samples": "100"}
TINY_DCGAN = {"filters": "8", "kernel_size": "3", "codings": "8", "eval_every": "0", "eval_samples": "100"}
FAST_WORKER = {"LATENTQ_HEARTBEAT_TIMEOUT": "3", "LATENTQ_HEARTBEAT_SECONDS": "0.5"}
STARTED = re.compile(r"run (\w+): training process (\d+) started")


class Trainer:
    """A training process driven as the worker drives it: a line per job in, a line per job out."""

    def __init__(self, log: Path):
        self.err = open(log, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "latentq.worker.trainer"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.err)

    def train(self, settings, run_id: str, timeout: float = 300) -> int:
        """Claim the run, hand it over, wait for the answer; the RSS it reported."""
        from latentq.worker.jobs import claim_run

        owner = claim_run(run_id, settings)
        assert owner is not None
        settings.run_dir(run_id).mkdir(parents=True, exist_ok=True)
        self.proc.stdin.write(f"{run_id} {owner} {settings.run_dir(run_id) / 'run.log'}\n".encode())
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, f"no answer for run {run_id} in {timeout} s"
        line = self.proc.stdout.readline().decode().split()
        assert line[:2] == [run_id, "done"], line
        return int(line[2])

    def close(self) -> int:
        self.proc.stdin.close()
        code = self.proc.wait(timeout=60)
        self.err.close()
        return code


def create(store, recipe: str, seed: int = 0, epochs: int = 1, dataset: str = "digits", **params: str) -> str:
    from latentq.spec import build_spec

    spec = build_spec(kind="train", recipe=recipe, dataset=dataset, epochs=epochs, batch_size=64, seed=seed,
                      params=params)
    run_id, _ = store.create_run(spec.model_dump(mode="json"))
    return run_id


def weights(settings, run_id: str) -> dict[str, np.ndarray]:
    """Every array in the run's model.keras weights file, by its path there."""
    import h5py

    with zipfile.ZipFile(settings.run_dir(run_id) / "model.keras") as archive:
        data = archive.read("model.weights.h5")
    found: dict[str, np.ndarray] = {}
    with h5py.File(io.BytesIO(data), "r") as h5:
        h5.visititems(lambda name, item: found.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return found


def trained_by(settings, run_id: str) -> list[int]:
    """The pids of the training processes that trained the run, from its run.log."""
    return [int(pid) for rid, pid in STARTED.findall((settings.run_dir(run_id) / "run.log").read_text())
            if rid == run_id]


def test_one_process_trains_recipes_back_to_back_as_fresh_processes_do(store, settings, lq_home, quality_cache,
                                                                       tmp_path):
    import shutil

    shutil.copytree(quality_cache, lq_home / "cache", dirs_exist_ok=True)
    plan = [("vae", 0, TINY_VAE), ("dcgan", 1, TINY_DCGAN), ("vae", 2, {**TINY_VAE, "codings": "6"})]
    shared = Trainer(tmp_path / "shared.log")
    together = []
    for recipe, seed, params in plan:
        run_id = create(store, recipe, seed, **params)
        shared.train(settings, run_id)
        together.append(run_id)
    assert shared.close() == 0
    assert len({pid for run_id in together for pid in trained_by(settings, run_id)}) == 1
    for (recipe, seed, params), run_id in zip(plan, together):
        alone_id = create(store, recipe, seed, **params)
        alone = Trainer(tmp_path / f"alone-{alone_id}.log")
        alone.train(settings, alone_id)
        assert alone.close() == 0
        assert trained_by(settings, alone_id) != trained_by(settings, run_id)
        assert store.status(run_id)["status"] == store.status(alone_id)["status"] == "succeeded"
        mine, theirs = weights(settings, run_id), weights(settings, alone_id)
        assert mine and sorted(mine) == sorted(theirs), (recipe, sorted(mine), sorted(theirs))
        unequal = [name for name in mine if not np.array_equal(mine[name], theirs[name])]
        assert unequal == [], (recipe, unequal)


def test_a_failed_job_leaves_nothing_for_the_next(store, settings, tmp_path):
    data = tmp_path / "gone.npz"
    np.savez(data, x=np.random.default_rng(0).random((200, 8, 8), dtype=np.float32))
    doomed = create(store, "linear-ae", dataset=f"npz:{data}")
    data.unlink()  # the dataset vanished after the submit: the job fails in the training process
    fine = create(store, "linear-ae")
    trainer = Trainer(tmp_path / "trainer.log")
    trainer.train(settings, doomed)
    trainer.train(settings, fine)
    assert trainer.close() == 0
    assert store.status(doomed)["status"] == "failed"
    assert store.status(fine)["status"] == "succeeded"
    assert trained_by(settings, doomed) == trained_by(settings, fine)
    alone = create(store, "linear-ae")
    fresh = Trainer(tmp_path / "fresh.log")
    fresh.train(settings, alone)
    assert fresh.close() == 0
    mine, theirs = weights(settings, fine), weights(settings, alone)
    assert mine and all(np.array_equal(mine[name], theirs[name]) for name in mine)


def test_memory_stays_flat_over_many_jobs(store, settings, tmp_path):
    """RSS after each of 12 tiny jobs in one process: after the 12th within 10 % of after the 4th."""
    trainer = Trainer(tmp_path / "trainer.log")
    rss = [trainer.train(settings, create(store, "linear-ae", seed=i)) for i in range(12)]
    assert trainer.close() == 0
    print("RSS MiB after each job:", [round(r / 2**20) for r in rss])
    assert rss[-1] <= rss[3] * 1.10, [round(r / 2**20) for r in rss]


def test_the_worker_recycles_its_process_at_the_job_bound_and_after_a_kill(start_worker, store, settings,
                                                                           tmp_path):
    pause = PausePoint(tmp_path, epoch=2)
    worker = start_worker(LATENTQ_JOBS_PER_PROCESS="3", **FAST_WORKER, **pause.env)
    first = submit("linear-ae", "--epochs", "1")["id"]
    assert finished(store, first)["status"] == "succeeded"
    held = submit("stacked-ae", "--dataset", "mnist-5k", "--epochs", "3", "--batch-size", "32",
                  "--set", "hidden=16", "--set", "codings=4")["id"]
    pause.wait()
    (victim,) = trained_by(settings, held)
    assert trained_by(settings, first) == [victim]  # the process that ran the first job
    os.kill(victim, signal.SIGKILL)
    status = finished(store, held)
    assert status["status"] == "succeeded" and status["attempts"] == 2, status
    assert has_event(store, held, "training process was killed by SIGKILL")
    assert_resumed_cleanly(store, status, epochs=3, resumed_from=2, batch=32)
    killed, resumed_in = trained_by(settings, held)
    assert killed == victim and resumed_in != victim
    # The bound: the process that resumed it runs two more jobs, then a new one takes the next.
    later = []
    for _ in range(3):
        later.append(submit("linear-ae", "--epochs", "1")["id"])
        assert finished(store, later[-1])["status"] == "succeeded"
    pids = [trained_by(settings, run_id)[0] for run_id in later]
    assert pids[0] == pids[1] == resumed_in and pids[2] != resumed_in, (resumed_in, pids)
    assert worker.proc.poll() is None
    assert "recycled after 3 jobs" in worker.log_path.read_text()


def test_the_worker_recycles_its_process_past_the_memory_bound(start_worker, store, settings):
    worker = start_worker(LATENTQ_MAX_MEMORY_PER_PROCESS="1", **FAST_WORKER)  # 1 MiB: every job passes it
    runs = []
    for _ in range(2):
        runs.append(submit("linear-ae", "--epochs", "1")["id"])
        assert finished(store, runs[-1])["status"] == "succeeded"
    pids = [trained_by(settings, run_id)[0] for run_id in runs]
    assert pids[0] != pids[1]
    wait_for(lambda: "recycled after 1 jobs" in worker.log_path.read_text(), timeout=60,
             what="the worker to log the recycling")
