"""The training process: `python -m latentq.worker.trainer` (serve the worker's jobs), or
`python -m latentq.worker.trainer RUN_ID OWNER` (train one run in the foreground).

Started by the worker (a fresh interpreter, never a fork of a process that imported TensorFlow)
ahead of its first job: it imports TensorFlow and the model code, then reads one line
"RUN_ID OWNER LOG_PATH" on stdin per job, trains that run with its stdout and stderr (fds 1
and 2) pointed at the run's log, and answers on its original stdout with one line
"RUN_ID done RSS_BYTES" once the run's rows and files are written and this process is clean
again (a fresh Keras session, no cache of the run left). End of input: the worker is gone,
shutting down or recycling this process (its bound on jobs or memory); exit.

Between jobs the process is idle and a SIGTERM ends it at once (it holds no run). SIGTERM or
SIGINT during a run is a warm shutdown: checkpoint, hand the run back to the queue, answer,
exit. So is the worker disappearing (this process re-parented): its heartbeat would otherwise
keep the run alive."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import IO, Optional

from latentq.settings import load_settings
from latentq.runtime.context import PROCESS_SHUTDOWN

log = logging.getLogger("latentq.trainer")


def _watch_parent(parent: int) -> None:
    while not PROCESS_SHUTDOWN.wait(1.0):
        if os.getppid() != parent:
            log.warning("the worker went away: stopping")
            PROCESS_SHUTDOWN.set()


def _point_output_at(fd: int) -> None:
    """fds 1 and 2 (print, logging, TensorFlow's C++ log) to `fd` from now on."""
    sys.stdout.flush()
    sys.stderr.flush()
    for target in (1, 2):
        os.dup2(fd, target)


def rss_bytes() -> int:
    """This process's resident memory now (Linux), else its peak."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def forget_the_run() -> None:
    """Nothing of a finished run stays for the next: Keras's global state (layer names, the
    seed generator, the dtype policy), the compiled-function caches, the models and
    checkpoint plans the evaluation and snapshot modules keep, then garbage."""
    from latentq.models.evaluation import fid, quality
    from latentq.models.training import fresh_session
    from latentq.runtime import snapshot

    quality.forget()
    fid.forget()
    snapshot.forget()
    _forget_fonts()
    fresh_session()


def _forget_fonts() -> None:
    """matplotlib caches its open font files per thread (its FT2Font objects are not thread-safe),
    and each run draws on a writer thread of its own: without this, every run leaves its fonts
    open (file descriptors and memory) until that cache's 64 entries are full."""
    font_manager = sys.modules.get("matplotlib.font_manager")
    cached = getattr(font_manager, "_get_font", None)
    if cached is not None and hasattr(cached, "cache_clear"):
        cached.cache_clear()


def train_one(run_id: str, owner: str) -> str:
    """Train a claimed run here; its final status."""
    from latentq.db.tables import RunStatus
    from latentq.models import runner
    from latentq.runtime.job import execute_claimed, open_store
    from latentq.worker.jobs import hand_back

    log.info("run %s: training process %d started", run_id, os.getpid())
    settings = load_settings()
    seen = len(open_store(settings).events(run_id))
    status = execute_claimed(run_id, owner, settings, runner.run, hand_back())
    if status["status"] == RunStatus.FAILED:
        errors = [e.message for e in open_store(settings).events(run_id)[seen:] if e.level == "error"]
        if errors:
            print(errors[-1], file=sys.stderr)
    print(f"run {run_id}: {status['status']}" + (f": {status['error']}" if status["error"] else ""),
          file=sys.stderr)
    return status["status"]


def _on_stop(*_args) -> None:
    PROCESS_SHUTDOWN.set()


def serve(report: IO[str], home: int) -> int:
    """Jobs from stdin until its end (or a shutdown); `home` (the worker's stderr) takes our
    output between jobs."""
    import latentq.models.runner  # noqa: F401  (TensorFlow and the model code, before the first job)

    jobs = 0
    while not PROCESS_SHUTDOWN.is_set():
        # Idle: nothing to hand back, so a SIGTERM just ends the process.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        line = sys.stdin.readline()
        if not line.strip():
            return 0
        signal.signal(signal.SIGTERM, _on_stop)
        run_id, owner, log_path = line.rstrip("\n").split(" ", 2)
        out = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        _point_output_at(out)
        os.close(out)
        try:
            train_one(run_id, owner)
        except BaseException:  # execute_claimed records a run's own failure; this is ours (the store away)
            log.exception("run %s: the training process could not finish it", run_id)
            return 1  # the worker fails the run (its _after_death) and starts a fresh process
        finally:
            _point_output_at(home)
        jobs += 1
        forget_the_run()
        report.write(f"{run_id} done {rss_bytes()}\n")
        report.flush()
    return 0


def main(argv: list[str]) -> int:
    parent = os.getppid()
    report: Optional[IO[str]] = None
    home = 2
    if not argv:
        # Our stdout is the worker's pipe for answers; anything else printed goes to its log.
        report = os.fdopen(os.dup(1), "w")
        os.dup2(2, 1)
        home = os.dup(2)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C: the worker stops us (SIGTERM)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if report is not None:
        return serve(report, home)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _on_stop)
    run_id, owner = argv
    train_one(run_id, owner)
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    # The runs are finished and their files and rows written (execute_claimed waited for them):
    # skip the interpreter's teardown of TensorFlow (seconds).
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
