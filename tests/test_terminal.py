"""In a terminal, `latentq run` shows its progress live: a pseudo-terminal sees the epoch counter
move while the run trains, not only its final value once it has ended."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

EPOCHS = 5


def _read_terminal(master: int, proc: subprocess.Popen, timeout: float) -> list[tuple[int, bool]]:
    """(epoch shown, process still running then) for each epoch counter drawn, in order."""
    drawn: list[tuple[int, bool]] = []
    pending = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child side of the terminal is closed
            break
        if not chunk:
            break
        running = proc.poll() is None
        pending += chunk
        *complete, pending = re.split(rb"(?=epoch \d+/\d+)", pending)
        for part in complete:
            match = re.match(rb"epoch (\d+)/%d" % EPOCHS, part)
            if match:
                drawn.append((int(match.group(1)), running))
    match = re.match(rb"epoch (\d+)/%d" % EPOCHS, pending)
    if match:
        drawn.append((int(match.group(1)), False))
    return drawn


def test_run_in_a_terminal_shows_the_epoch_counter_advance(lq_home):
    master, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color"}
    for name in ("NO_COLOR", "COLUMNS", "LINES", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "latentq.cli.main", "run", "stacked-ae", "--dataset", "digits", "--epochs",
         str(EPOCHS), "--batch-size", "8", "--set", "hidden=16", "--set", "codings=4"],
        stdin=child, stdout=child, stderr=child, env=env, start_new_session=True)
    os.close(child)
    try:
        drawn = _read_terminal(master, proc, timeout=300)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        os.close(master)
    epochs = [epoch for epoch, _ in drawn]
    assert epochs and epochs[-1] == EPOCHS, drawn
    assert epochs == sorted(epochs), drawn  # the counter only moves forward
    during = {epoch for epoch, running in drawn if running and 0 < epoch < EPOCHS}
    assert during, f"no epoch counter drawn while the run trained: {drawn}"


# The race, forced: the job hides stderr (as the quiet TensorFlow import does) before the thread
# that draws the progress has started; the epochs then advance with stderr back.
_FORCED_RACE = r"""
import os, sys, time
import latentq.worker.jobs as job
from latentq.cli import common

state = {"id": "abc", "status": "running", "epoch": 0, "epochs": %(epochs)d, "metrics": {}}

def fake_execute_run(run_id, settings):
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    time.sleep(1.5)  # the progress thread starts meanwhile
    os.dup2(saved, 2)
    for epoch in range(1, %(epochs)d + 1):
        time.sleep(0.6)
        state["epoch"] = epoch
    state["status"] = "succeeded"
    return dict(state)

class FakeStore:
    def status(self, run_id):
        return dict(state)

    def mark_local(self, run_id, host, pid):  # the embedded run's owner (not needed here)
        pass

import latentq.db.reads as reads

job.execute_run = fake_execute_run
reads.progress = lambda store, run_id: dict(state)  # what the progress thread reads, from the fake
common.foreground("abc", None, FakeStore(), quiet=False)
"""


def test_progress_drawn_after_stderr_was_hidden_when_the_job_started(lq_home):
    master, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color"}
    for name in ("NO_COLOR", "COLUMNS", "LINES", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        env.pop(name, None)
    proc = subprocess.Popen([sys.executable, "-c", _FORCED_RACE % {"epochs": EPOCHS}], stdin=child, stdout=child,
                            stderr=child, env=env, start_new_session=True)
    os.close(child)
    try:
        drawn = _read_terminal(master, proc, timeout=120)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        os.close(master)
    during = {epoch for epoch, running in drawn if running and 0 < epoch < EPOCHS}
    assert len(during) >= 2, f"the epoch counter was not drawn while the job ran: {drawn}"
