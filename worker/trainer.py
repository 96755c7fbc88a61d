"""The training process: `python -m latentq.worker.trainer RUN_ID OWNER`.

Started by the worker's task for a run it has claimed (a fresh interpreter, never a fork of a
process that imported TensorFlow); its stdout and stderr are the run's log. SIGTERM or SIGINT
is a warm shutdown: checkpoint, hand the run back to the queue, exit 0. So is the worker
disappearing (this process re-parented): its heartbeat would otherwise keep the run alive."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from latentq.settings import load_settings
from latentq.worker.context import PROCESS_SHUTDOWN


def _watch_parent(parent: int) -> None:
    while not PROCESS_SHUTDOWN.wait(1.0):
        if os.getppid() != parent:
            logging.getLogger("latentq.trainer").warning("the worker went away: stopping")
            PROCESS_SHUTDOWN.set()


def main(argv: list[str]) -> int:
    run_id, owner = argv
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: PROCESS_SHUTDOWN.set())
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    logging.getLogger("latentq.trainer").info("run %s: training process %d started", run_id, os.getpid())

    from latentq.worker.job import execute_claimed, open_store

    settings = load_settings()
    seen = len(open_store(settings).events(run_id))
    status = execute_claimed(run_id, owner, settings)  # a warm shutdown re-queues through worker.requeue
    if status["status"] == "failed":
        errors = [e.message for e in open_store(settings).events(run_id)[seen:] if e.level == "error"]
        if errors:
            print(errors[-1], file=sys.stderr)
    print(f"run {run_id}: {status['status']}" + (f": {status['error']}" if status["error"] else ""),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
