"""The training process, seen from the worker: start it ahead of its first job, hand it job
after job (each with its output in the run's log), recycle it at a bound on jobs or memory,
pass a warm shutdown on to it, and put its run back in the queue when it dies.

Training in a process of its own keeps the worker's process small and TensorFlow-free (it
answers Celery's remote control and heartbeats while a job trains); reusing that process for
the next job saves the TensorFlow import and warm-up (seconds, more than a small job trains),
and the training process starts every job clean (latentq.worker.trainer). The worker side
never imports TensorFlow; the child does."""

from __future__ import annotations

import logging
import math
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from latentq.db.tables import RunStatus
from latentq.errors import UserError, clip
from latentq.runtime import artifacts
from latentq.runtime.artifacts import ArtifactStore
from latentq.settings import Settings
from latentq.worker.jobs import requeue

log = logging.getLogger("latentq.worker")

LOG_NAME = "run.log"


def run_log(settings: Settings, run_id: str) -> tuple[ArtifactStore, str]:
    """Where the run's own log (what its training processes printed) is: run.log in its files."""
    return artifacts.run_files(settings, run_id), LOG_NAME


class TrainingProcess:
    """A training process (latentq.worker.trainer) as the worker drives it: one line per job on
    its stdin, one line back on its stdout when the job is done (or end of output: it died)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "latentq.worker.trainer"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_child_env())
        self.jobs = 0  # jobs it finished
        self.rss = 0  # its resident memory after the last one, in bytes

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def give(self, run_id: str, owner: str, log_path: Path) -> bool:
        """Hand it a run; False when it is no longer there to take it."""
        try:
            self.proc.stdin.write(f"{run_id} {owner} {log_path}\n".encode())
            self.proc.stdin.flush()
            return True
        except OSError:
            return False

    def finished(self, run_id: str) -> bool:
        """Wait for the run's end: True when the process reported it done (and is ready for the
        next), False when it died first."""
        for raw in self.proc.stdout:
            parts = raw.decode(errors="replace").split()
            if len(parts) == 3 and parts[:2] == [run_id, "done"] and parts[2].isdigit():
                self.jobs += 1
                self.rss = int(parts[2])
                return True
            log.warning("training process %d said %r", self.pid, raw[:200])
        return False

    def retire(self) -> None:
        """End of input: it exits (at once when idle; after its run's warm shutdown otherwise)."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        threading.Thread(target=self.proc.wait, daemon=True).start()  # reaped when it is gone


class WorkerState:
    """What this worker process is doing, for `latentq workers` (through a Celery inspect command)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started_at = time.time()
        self.jobs_done = 0
        self.children: dict[str, TrainingProcess] = {}  # run id -> the process training it
        self.idle: Optional[TrainingProcess] = None  # the next job's training process, warm or warming up

    def info(self) -> dict[str, Any]:
        with self.lock:
            return {
                "pid": os.getpid(),
                "gpu": os.environ.get("CUDA_VISIBLE_DEVICES"),
                "started_at": datetime.fromtimestamp(self.started_at, timezone.utc).isoformat(timespec="seconds"),
                "jobs_done": self.jobs_done,
                "runs": [{"id": run_id, "pid": child.pid} for run_id, child in self.children.items()],
            }

    def forward_shutdown(self) -> None:
        """Warm shutdown: every training process checkpoints and hands its run back; the idle
        one (no run) just exits. Called from a signal handler, so it takes no lock (the main
        thread may hold it: `latentq_info`); copying the dict is atomic under the GIL."""
        for child in [*self.children.values(), *([self.idle] if self.idle else [])]:
            if child.alive():
                child.proc.send_signal(signal.SIGTERM)
        self.idle = None


STATE = WorkerState()


@dataclass(frozen=True)
class Limits:
    """When a training process is recycled, after a job (Celery's max_tasks_per_child and
    max_memory_per_child): TensorFlow's caches, fragmentation or a leak cannot grow without
    bound, and the import (seconds) is paid once per `jobs` jobs, not once per job."""

    jobs: int = 100  # LATENTQ_JOBS_PER_PROCESS
    memory_mb: float = 4096.0  # LATENTQ_MAX_MEMORY_PER_PROCESS: resident memory after a job, MiB


def process_limits() -> Limits:
    """The limits from the environment; a bad value is one UserError line naming its variable."""
    default = Limits()
    return Limits(jobs=int(_bound("LATENTQ_JOBS_PER_PROCESS", default.jobs, integer=True)),
                  memory_mb=_bound("LATENTQ_MAX_MEMORY_PER_PROCESS", default.memory_mb))


def _bound(name: str, default: float, integer: bool = False) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 1 <= value <= 10**9:
        raise UserError(f"{name} must be {'an integer' if integer else 'a number'} from 1 to 1e9; "
                        f"received {clip(raw)}")
    return value


def _limits() -> Limits:
    try:
        return process_limits()
    except UserError as exc:
        log.error("%s: using %s", exc, Limits())
        return Limits()


def _child_env() -> dict[str, str]:
    from latentq.settings import tf_log_env

    # OpenMP threads (scikit-learn's t-SNE) sleep when idle instead of spinning (unless the
    # environment says otherwise): two workers' t-SNEs on 2 cores took 1.6-2.4 s spinning, 0.63 s
    # passive; one alone 0.40 s spinning, 0.50 s passive (bench/RESULTS.md).
    return {"OMP_WAIT_POLICY": "PASSIVE", **os.environ, "PYTHONUNBUFFERED": "1", "TF_FORCE_GPU_ALLOW_GROWTH": "true",
            **tf_log_env()}


def start_spare() -> None:
    """Have the next job's training process ready: it imports Python's libraries, TensorFlow and
    the model code (seconds) while the worker waits for a message, then waits for its run on
    stdin. One process trains job after job until a limit recycles it, so jobs back to back
    find it warm. Its output goes to the worker's log between runs."""
    from latentq.runtime.context import PROCESS_SHUTDOWN

    with STATE.lock:
        if PROCESS_SHUTDOWN.is_set() or (STATE.idle is not None and STATE.idle.alive()):
            return
        STATE.idle = TrainingProcess()


def _take_idle(run_id: str, owner: str, log_path: Path) -> TrainingProcess:
    """Hand the run to the idle training process; a new one when there is none or it died."""
    with STATE.lock:
        child, STATE.idle = STATE.idle, None
    if child is not None:
        if child.alive() and child.give(run_id, owner, log_path):
            return child
        log.warning("the idle training process %d exited with code %s before its run: starting one for run %s",
                    child.pid, child.proc.poll(), run_id)
        child.retire()
    child = TrainingProcess()
    child.give(run_id, owner, log_path)  # a pipe to a process just started: its failure shows as its death
    return child


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def train_in_child(run_id: str, owner: str, settings: Settings) -> dict[str, Any]:
    """Train a run claimed by `owner` in the worker's training process; wait for it; return the
    run's status."""
    from latentq.runtime.job import open_store

    store = open_store(settings)
    run = store.get(run_id)
    files, name = run_log(settings, run_id)
    # Appended to by this process and the child until the run is done (a remote store uploads it then).
    with files.local_path(name) as path:
        code = _train_logged(store, run, owner, path, settings)
        if code != 0:
            _after_death(store, run_id, owner, code, path, settings)
    return store.status(run_id)


def _train_logged(store, run, owner: str, path: Path, settings: Settings) -> int:
    """Train the run in a training process with its output appended to `path`: 0 when that
    process reported the run done, else the exit code it died with."""
    from latentq.runtime.context import PROCESS_SHUTDOWN, Signals
    from latentq.runtime.job import worker_name
    from latentq.runtime.lease import Heartbeat

    run_id = run.id
    with open(path, "ab") as out:
        out.write(f"==== attempt {run.attempts} of run {run_id} ({run.recipe}) on worker {worker_name()} "
                  f"at {_stamp()} ====\n".encode())
    store.add_artifact(run_id, "log", LOG_NAME)
    child = _take_idle(run_id, owner, path)
    with STATE.lock:
        STATE.children[run_id] = child
    if PROCESS_SHUTDOWN.is_set():  # the shutdown came while it was starting
        child.proc.send_signal(signal.SIGTERM)
    log.info("run %s (%s): training in process %d (its job %d), log %s", run_id, run.recipe, child.pid,
             child.jobs + 1, path)
    # The worker renews the lease too: a new training process needs seconds (imports) before its
    # own heartbeat (which also reads cancel requests) runs, and may hold its GIL for long stretches.
    heartbeat = Heartbeat(store, run_id, owner, Signals(), settings.heartbeat_seconds)
    heartbeat.start()
    code = 0
    try:
        if not child.finished(run_id):
            code = child.proc.wait()
            code = code if code != 0 else 1  # gone without a word: not a finished run
    finally:
        heartbeat.stop()
        with STATE.lock:
            STATE.children.pop(run_id, None)
            STATE.jobs_done += 1
        try:
            _keep_or_retire(child, run_id, code)
        finally:
            start_spare()
    return code


def _keep_or_retire(child: TrainingProcess, run_id: str, code: int) -> None:
    """After a run: keep its process warm for the next job, unless it died, a limit is reached
    or the worker is stopping."""
    from latentq.runtime.context import PROCESS_SHUTDOWN

    if code != 0:
        return
    limits = _limits()
    rss_mb = child.rss / 2**20
    log.info("run %s: done in training process %d, job %d of at most %d, RSS %.0f MiB (at most %.0f)",
             run_id, child.pid, child.jobs, limits.jobs, rss_mb, limits.memory_mb)
    if PROCESS_SHUTDOWN.is_set() or child.jobs >= limits.jobs or rss_mb > limits.memory_mb or not child.alive():
        if not PROCESS_SHUTDOWN.is_set():
            log.info("training process %d recycled after %d jobs (RSS %.0f MiB)", child.pid, child.jobs, rss_mb)
        child.retire()
        return
    with STATE.lock:
        if STATE.idle is None and not PROCESS_SHUTDOWN.is_set():
            STATE.idle = child
            return
    child.retire()


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
