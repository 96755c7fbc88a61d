"""The training process: `python -m latentq.worker.trainer RUN_ID OWNER`, or `--spare`.

Started by the worker for a run it has claimed (a fresh interpreter, never a fork of a process
that imported TensorFlow); its stdout and stderr are the run's log. A spare is started ahead of
its run: it imports TensorFlow and the model code, then reads "RUN_ID OWNER LOG_PATH" on stdin
(end of input: the worker is gone or shutting down; exit). SIGTERM or SIGINT during a run is a
warm shutdown: checkpoint, hand the run back to the queue, exit 0. So is the worker
disappearing (this process re-parented): its heartbeat would otherwise keep the run alive."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from latentq.settings import load_settings
from latentq.runtime.context import PROCESS_SHUTDOWN


def _watch_parent(parent: int) -> None:
    while not PROCESS_SHUTDOWN.wait(1.0):
        if os.getppid() != parent:
            logging.getLogger("latentq.trainer").warning("the worker went away: stopping")
            PROCESS_SHUTDOWN.set()


def wait_for_run() -> list[str]:
    """A spare: import what training needs, then wait for the run; its log becomes our output."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C: the worker stops us (SIGTERM)
    import latentq.models.runner  # noqa: F401  (TensorFlow and the model code, before the run)

    line = sys.stdin.readline()
    if not line.strip():
        sys.exit(0)
    run_id, owner, log_path = line.rstrip("\n").split(" ", 2)
    out = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    for fd in (1, 2):
        os.dup2(out, fd)
    os.close(out)
    return [run_id, owner]


def main(argv: list[str]) -> int:
    parent = os.getppid()
    run_id, owner = wait_for_run() if argv == ["--spare"] else argv
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: PROCESS_SHUTDOWN.set())
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    logging.getLogger("latentq.trainer").info("run %s: training process %d started", run_id, os.getpid())

    from latentq.db.schema import RunStatus
    from latentq.models import runner
    from latentq.runtime.job import execute_claimed, open_store
    from latentq.worker.jobs import hand_back

    settings = load_settings()
    seen = len(open_store(settings).events(run_id))
    status = execute_claimed(run_id, owner, settings, runner.run, hand_back())
    if status["status"] == RunStatus.FAILED:
        errors = [e.message for e in open_store(settings).events(run_id)[seen:] if e.level == "error"]
        if errors:
            print(errors[-1], file=sys.stderr)
    print(f"run {run_id}: {status['status']}" + (f": {status['error']}" if status["error"] else ""),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    # The run is finished and its files and rows written (execute_claimed waited for them):
    # skip the interpreter's teardown of TensorFlow (seconds), so the worker takes its next job now.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
