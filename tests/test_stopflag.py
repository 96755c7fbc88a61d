"""A shutdown flag set from a signal handler never deadlocks: two SIGTERMs a moment apart (a
process group's and the worker's forwarded one) hung a training process that set a
threading.Event in its handler, now and then (latentq.stopflag)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

CHILD = """
import signal, threading, time
from latentq.stopflag import StopFlag
PROCESS_SHUTDOWN = StopFlag()
signal.signal(signal.SIGTERM, lambda *a: PROCESS_SHUTDOWN.set())
def watch():  # like the training process's parent watcher: a thread waiting on the flag
    while not PROCESS_SHUTDOWN.wait(0.001):
        pass
threading.Thread(target=watch, daemon=True).start()
print("ready", flush=True)
while not PROCESS_SHUTDOWN.is_set():
    time.sleep(0.001)
"""


def test_two_sigterms_a_moment_apart_never_hang_the_process():
    hung = 0
    for i in range(100):  # with a threading.Event instead, about 1 in 75 hung
        child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE)
        assert child.stdout.readline() == b"ready\n"
        os.kill(child.pid, signal.SIGTERM)
        for _ in range(i % 50 * 20):  # a spread of gaps, so some land inside the first handler
            pass
        os.kill(child.pid, signal.SIGTERM)
        try:
            assert child.wait(timeout=10) == 0
        except subprocess.TimeoutExpired:
            hung += 1
            child.kill()
            child.wait()
    assert hung == 0
