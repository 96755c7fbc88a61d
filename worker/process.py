"""The training process, seen from the worker: start it, feed its output to the run's log,
pass a warm shutdown on to it, and put its run back in the queue when it dies.

A fresh process per job keeps the worker's own process small and TensorFlow-free (it answers
Celery's remote control and heartbeats while a job trains) and gives back all the memory a job
used when the job ends. The worker side never imports TensorFlow; the child does."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from latentq.db.schema import RunStatus
from latentq.runtime import artifacts
from latentq.runtime.artifacts import ArtifactStore
from latentq.settings import Settings
from latentq.worker.jobs import requeue

log = logging.getLogger("latentq.worker")

LOG_NAME = "run.log"


def run_log(settings: Settings, run_id: str) -> tuple[ArtifactStore, str]:
    """Where the run's own log (what its training processes printed) is: run.log in its files."""
    return artifacts.run_files(settings, run_id), LOG_NAME


class WorkerState:
    """What this worker process is doing, for `latentq workers` (through a Celery inspect command)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started_at = time.time()
        self.jobs_done = 0
        self.children: dict[str, subprocess.Popen] = {}  # run id -> its training process
        self.spare: Optional[subprocess.Popen] = None  # the next job's training process, warming up

    def info(self) -> dict[str, Any]:
        with self.lock:
            return {
                "pid": os.getpid(),
                "gpu": os.environ.get("CUDA_VISIBLE_DEVICES"),
                "started_at": datetime.fromtimestamp(self.started_at, timezone.utc).isoformat(timespec="seconds"),
                "jobs_done": self.jobs_done,
                "runs": [{"id": run_id, "pid": proc.pid} for run_id, proc in self.children.items()],
            }

    def forward_shutdown(self) -> None:
        """Warm shutdown: every training process checkpoints and hands its run back; the spare
        (no run yet) just exits."""
        with self.lock:
            for proc in [*self.children.values(), *([self.spare] if self.spare else [])]:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            self.spare = None


STATE = WorkerState()


# With this many CPUs or more, the next job's spare imports while a job trains (a GPU box's CPUs
# are mostly idle); with fewer, after it (measured on 2 cores: the import beside a training
# job slowed both, 20 back-to-back tiny jobs took 176 s instead of 144 s).
SPARE_BESIDE_A_JOB_CPUS = 4


def _child_env() -> dict[str, str]:
    from latentq.settings import tf_log_env

    return {**os.environ, "PYTHONUNBUFFERED": "1", "TF_FORCE_GPU_ALLOW_GROWTH": "true", **tf_log_env()}


def start_spare() -> None:
    """Start the next job's training process now: it imports Python's libraries, TensorFlow and
    the model code (seconds) while the worker waits for a message (and, with enough CPUs, while
    it trains the current job: jobs back to back then do not wait for an import), then waits
    for its run on stdin.
    One fresh process per job still: a spare trains one run. Its output goes to the worker's
    log until it has a run."""
    from latentq.runtime.context import PROCESS_SHUTDOWN

    with STATE.lock:
        if PROCESS_SHUTDOWN.is_set() or (STATE.spare is not None and STATE.spare.poll() is None):
            return
        STATE.spare = subprocess.Popen([sys.executable, "-m", "latentq.worker.trainer", "--spare"],
                                       stdin=subprocess.PIPE, env=_child_env())


def _take_spare(run_id: str, owner: str, log_path: Path) -> Optional[subprocess.Popen]:
    """Hand the run to the spare: None when there is none or it died (then a cold start)."""
    with STATE.lock:
        proc, STATE.spare = STATE.spare, None
    if proc is None:
        return None
    if proc.poll() is None:
        try:
            proc.stdin.write(f"{run_id} {owner} {log_path}\n".encode())
            proc.stdin.close()
            return proc
        except OSError:
            pass
    log.warning("the spare training process exited with code %s before its run: starting one for run %s",
                proc.poll(), run_id)
    return None


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def train_in_child(run_id: str, owner: str, settings: Settings) -> dict[str, Any]:
    """Train a run claimed by `owner` in a new process; wait for it; return the run's status."""
    from latentq.runtime.job import open_store

    store = open_store(settings)
    run = store.get(run_id)
    files, name = run_log(settings, run_id)
    # Appended to by this process and the child until it has exited (a remote store uploads it then).
    with files.local_path(name) as path:
        code = _train_logged(store, run, owner, path, settings)
        if code != 0:
            _after_death(store, run_id, owner, code, path, settings)
    return store.status(run_id)


def _train_logged(store, run, owner: str, path: Path, settings: Settings) -> int:
    """Start the run's training process with its output appended to `path`; its exit code."""
    from latentq.runtime.context import PROCESS_SHUTDOWN, Signals
    from latentq.runtime.job import worker_name
    from latentq.runtime.lease import Heartbeat

    run_id = run.id
    with open(path, "ab") as out:
        out.write(f"==== attempt {run.attempts} of run {run_id} ({run.recipe}) on worker {worker_name()} "
                  f"at {_stamp()} ====\n".encode())
        out.flush()
        proc = _take_spare(run_id, owner, path) or subprocess.Popen(
            [sys.executable, "-m", "latentq.worker.trainer", run_id, owner],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=_child_env())
    store.add_artifact(run_id, "log", LOG_NAME)
    with STATE.lock:
        STATE.children[run_id] = proc
    if PROCESS_SHUTDOWN.is_set():  # the shutdown came while it was starting
        proc.send_signal(signal.SIGTERM)
    if (os.cpu_count() or 1) >= SPARE_BESIDE_A_JOB_CPUS:
        start_spare()  # the next job's, importing while this one trains
    log.info("run %s (%s): training in process %d, log %s", run_id, run.recipe, proc.pid, path)
    # The worker renews the lease too: the child needs seconds to start (imports) before its own
    # heartbeat (which also reads cancel requests) runs, and may hold its GIL for long stretches.
    heartbeat = Heartbeat(store, run_id, owner, Signals(), settings.heartbeat_seconds)
    heartbeat.start()
    try:
        code = proc.wait()
    finally:
        heartbeat.stop()
        with STATE.lock:
            STATE.children.pop(run_id, None)
            STATE.jobs_done += 1
        start_spare()
    return code


def _after_death(store, run_id: str, owner: str, code: int, path: Path, settings: Settings) -> None:
    """The training process died before finishing its run: re-queue it (it resumes from its
    checkpoint) when a signal killed it (OOM killer, a GPU crash), fail it when it crashed."""
    how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
    with open(path, "ab") as out:
        out.write(f"==== training process {how} at {_stamp()} ====\n".encode())
    run = store.get(run_id)
    if run.status != RunStatus.RUNNING.value or run.owner != owner:
        return  # it finished or handed back its run before dying
    if code < 0 and run.attempts < run.max_attempts:
        reason = (f"training process {how} (out of memory? a GPU fault?): re-queued, "
                  f"resumes from its checkpoint (attempt {run.attempts} of {run.max_attempts})")
        log.warning("run %s: %s", run_id, reason)
        requeue(store, run_id, lambda: store.release(run_id, owner), reason)
        return
    reason = f"training process {how} on attempt {run.attempts} of {run.max_attempts}: see `latentq logs {run_id}`"
    log.error("run %s: %s", run_id, reason)
    store.add_event(run_id, "error", reason)
    store.finish(run_id, owner, RunStatus.FAILED, reason)
