"""Progress inside an epoch: the batch of the epoch and the end-of-run phase travel from the
training loop to the store with the heartbeat (never a write per batch), and `latentq run` in a
terminal shows the step move within one epoch and names the phase instead of a frozen bar."""

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

import pytest

from latentq.cli.progress import Pace
from latentq.db.tables import RunStatus

# ---- the display's arithmetic ---------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _read(epoch=0, step=None, steps=None, phase=None, status=RunStatus.RUNNING, epochs=2, batch_size=10):
    return {"status": status, "epoch": epoch, "epochs": epochs, "step": step, "steps": steps, "phase": phase,
            "batch_size": batch_size, "metrics": {}}


@pytest.mark.unit
def test_pace_shows_the_step_speed_and_an_eta_that_stays_known_between_reads():
    clock = FakeClock()
    pace = Pace(clock)
    pace.update(_read(step=0, steps=100))
    assert pace.position() == "epoch 1/2 step 0/100"
    assert pace.eta() == "eta -:--:--"  # nothing to estimate from yet
    clock.now += 2
    pace.update(_read(step=20, steps=100))
    assert pace.position() == "epoch 1/2 step 20/100 100 samples/s"  # 20 steps x 10 samples in 2 s
    assert pace.eta() == "eta 0:00:18"  # 1.8 epochs left at 0.1 epoch/s
    etas = []
    for _ in range(4):  # reads that see the same step (the heartbeat has not written again)
        clock.now += 0.5
        pace.update(_read(step=20, steps=100))
        etas.append(pace.eta())
    assert "eta -:--:--" not in etas and etas == sorted(etas, reverse=True), etas
    assert abs(pace.done - 0.2) < 1e-9


@pytest.mark.unit
def test_pace_never_goes_back_when_the_epoch_lags_the_step_and_names_the_phase():
    clock = FakeClock()
    pace = Pace(clock)
    pace.update(_read(epoch=0, step=100, steps=100))
    assert pace.done == 1.0
    clock.now += 1
    pace.update(_read(epoch=0, step=3, steps=100))  # the new epoch's step before its checkpoint's epoch
    assert pace.done == 1.0
    pace.update(_read(epoch=1, step=None, steps=100))
    assert pace.position() == "epoch 1/2"
    pace.update(_read(epoch=1, step=50, steps=100, phase="validation"))
    assert pace.position() == "epoch 2/2: validation"
    assert pace.eta().startswith("eta ")
    clock.now += 5
    pace.update(_read(epoch=2, step=100, steps=100, phase="final pictures"))
    assert pace.position() == "epoch 2/2: final pictures"
    assert pace.eta() == ""  # nothing left to estimate: no frozen "eta 0:00:00"
    before = pace.elapsed()
    clock.now += 7
    assert pace.elapsed() != before  # the clock keeps moving through the phase
    pace.update(_read(epoch=2, status=RunStatus.SUCCEEDED))
    assert pace.position() == "epoch 2/2" and pace.done == 2.0


# ---- from the loop to the store ---------------------------------------------------------------


@pytest.mark.unit
def test_heartbeat_writes_the_step_and_phase_writes_at_once(store, settings):
    from latentq.runtime import artifacts
    from latentq.runtime.context import RunContext, Signals
    from latentq.runtime.lease import Heartbeat
    from latentq.spec import build_spec

    spec = build_spec(kind="train", recipe="stacked-ae", dataset="digits", epochs=3, batch_size=8, seed=0, params={})
    run_id, _ = store.create_run(spec.model_dump(mode="json"))
    assert store.claim(run_id, "owner-1", "test")
    signals = Signals()
    ctx = RunContext(store, run_id, "owner-1", spec, signals, runs=artifacts.runs(settings),
                     cache=artifacts.cache_files(settings))
    beat = Heartbeat(store, run_id, "owner-1", signals, interval=60)
    try:
        signals.live.step, signals.live.steps = 40, 180
        assert store.status(run_id)["step"] is None  # in memory only, until the beat
        beat.beat()
        st = store.status(run_id)
        assert (st["step"], st["steps"], st["phase"]) == (40, 180, None)
        signals.live.step = 90
        beat.beat()
        assert store.status(run_id)["step"] == 90
        ctx.progress(1)  # an epoch's checkpoint: its step count is cleared, the next beat writes anew
        assert (store.status(run_id)["epoch"], store.status(run_id)["step"]) == (1, None)
        beat.beat()
        assert store.status(run_id)["step"] == 90
        with ctx.phase("final pictures"):
            assert store.status(run_id)["phase"] == "final pictures"  # at once, not at the next beat
            with ctx.phase("t-SNE"):
                assert store.status(run_id)["phase"] == "t-SNE"
            assert store.status(run_id)["phase"] == "final pictures"
        assert store.status(run_id)["phase"] is None
        with ctx.phase("saving the model"):
            store.finish(run_id, "owner-1", RunStatus.SUCCEEDED)
        st = store.status(run_id)
        assert st["status"] == RunStatus.SUCCEEDED and st["phase"] is None
    finally:
        ctx.close()


# ---- in a terminal ------------------------------------------------------------------------------

DRAWN = re.compile(rb"epoch (\d+)/(\d+)(?: step (\d+)/(\d+)|: ([a-zA-Z -]+[a-zA-Z]))")
PHASES = {"final pictures", "t-SNE", "saving the model"}


def _read_terminal(master: int, proc: subprocess.Popen, timeout: float) -> list[tuple[int, str, bool]]:
    """(epoch, 'step K' or the phase, process still running then) for each position drawn."""
    drawn: list[tuple[int, str, bool]] = []
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
        *complete, pending = re.split(rb"[\r\n]|\x1b\[[0-9;?]*[A-Za-z]", pending)
        for part in complete:
            match = DRAWN.search(part)
            if match:
                rest = (match.group(5) or b"").decode()
                what = f"step {int(match.group(3))}" if match.group(3) else next(
                    (phase for phase in PHASES if rest.startswith(phase)), rest)
                drawn.append((int(match.group(1)), what, running))
    return drawn


@pytest.mark.slow
def test_run_in_a_terminal_shows_the_step_move_within_an_epoch_and_names_the_phase(lq_home):
    """An epoch of 4,500 one-sample steps, one per compiled call: several seconds, several beats."""
    master, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "LATENTQ_HEARTBEAT_SECONDS": "0.5"}
    for name in ("NO_COLOR", "COLUMNS", "LINES", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "latentq.cli.main", "run", "stacked-ae", "--dataset", "mnist-5k", "--epochs", "1",
         "--batch-size", "1", "--set", "steps_per_execution=1", "--set", "hidden=16", "--set", "codings=4"],
        stdin=child, stdout=child, stderr=child, env=env, start_new_session=True)
    os.close(child)
    try:
        drawn = _read_terminal(master, proc, timeout=600)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        os.close(master)
    steps = [int(what.split()[1]) for epoch, what, running in drawn if epoch == 1 and what.startswith("step ") and running]
    assert len(set(steps)) >= 3, f"the step did not move within the epoch: {drawn}"
    assert steps == sorted(steps), drawn  # it only moves forward
    phases = [what for _, what, running in drawn if running and what in PHASES]
    assert phases, f"no end-of-run phase named while the run finished: {drawn}"
