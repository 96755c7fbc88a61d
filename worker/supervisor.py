"""`latentq worker --gpus all|0,1,3`: one worker per GPU, each a `latentq worker --gpu N` child
with CUDA_VISIBLE_DEVICES=N, restarted with backoff when it dies, shut down warm on SIGTERM.

TensorFlow-free: `--gpus all` asks `nvidia-smi -L`, not TensorFlow."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from latentq.stopflag import StopFlag
from latentq.errors import StateError, UserError

MAX_BACKOFF = 60.0
HEALTHY_AFTER = 60.0  # a child that lived this long starts its next backoff from 1 s again


class NoGPUs(StateError):
    pass


def detect_gpus() -> list[str]:
    """GPU indices as `nvidia-smi -L` lists them. NoGPUs when there is none (or no driver)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        raise NoGPUs("--gpus all found no GPU: nvidia-smi is not installed (no NVIDIA driver here); "
                     "start a CPU worker with `latentq worker`, or name GPU indices with --gpus 0,1")
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NoGPUs(f"--gpus all: nvidia-smi -L failed ({exc}); name GPU indices with --gpus 0,1") from None
    indices = re.findall(r"^GPU (\d+):", out.stdout, flags=re.MULTILINE)
    if not indices:
        detail = (out.stderr or out.stdout).strip().splitlines()[:1]
        raise NoGPUs("--gpus all found no GPU (nvidia-smi -L lists none" + (f": {detail[0]}" if detail else "")
                     + "); start a CPU worker with `latentq worker`")
    return indices


def parse_gpus(text: str) -> list[str]:
    """'all' or comma-separated non-negative indices, each once."""
    if text.strip().lower() == "all":
        return detect_gpus()
    parts = [p.strip() for p in text.split(",")]
    if not parts or any(not p.isdigit() for p in parts):
        raise UserError(f"--gpus {text!r} is not valid: give `all` or GPU indices like 0,1,3")
    if len(set(parts)) != len(parts):
        raise UserError(f"--gpus {text!r} names a GPU twice: one worker per GPU")
    return parts


@dataclass
class Child:
    gpu: str
    argv: list[str]
    env: dict[str, str]  # what this child's environment adds to ours
    proc: Optional[subprocess.Popen] = None
    started: float = 0.0
    backoff: float = 1.0
    restart_at: Optional[float] = None
    restarts: int = field(default=0)

    @property
    def label(self) -> str:
        return f"worker gpu{self.gpu}"

    def describe(self) -> str:
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        return f"gpu {self.gpu}: {env} {shlex.join(self.argv)}"

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, env={**os.environ, **self.env}, stdin=subprocess.DEVNULL)
        self.started = time.monotonic()
        self.restart_at = None


def plan(gpus: list[str], queues: str, loglevel: str) -> list[Child]:
    return [Child(gpu=gpu,
                  argv=[sys.executable, "-m", "latentq.cli.main", "worker", "--queues", queues, "--gpu", gpu,
                        "--loglevel", loglevel, "--hostname", f"latentq-gpu{gpu}@%h"],
                  env={"CUDA_VISIBLE_DEVICES": gpu, "TF_FORCE_GPU_ALLOW_GROWTH": "true"})
            for gpu in gpus]


def supervise(children: list[Child], say: Callable[[str], None]) -> int:
    """Run the children until SIGTERM/SIGINT; then pass SIGTERM on and wait for each to finish
    its warm shutdown. Returns 0 after a clean shutdown."""
    stopping = StopFlag()  # set by the handler below, so it takes no lock

    def on_signal(signum, _frame) -> None:
        stopping.set()  # the loop below says so and passes SIGTERM on, outside the handler

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for child in children:
        child.start()
        say(f"supervisor: started {child.label} (pid {child.proc.pid}) with CUDA_VISIBLE_DEVICES={child.gpu}")
    while not stopping.is_set():
        now = time.monotonic()
        for child in children:
            if child.restart_at is not None:
                if now >= child.restart_at and not stopping.is_set():
                    child.start()
                    child.restarts += 1
                    say(f"supervisor: restarted {child.label} (pid {child.proc.pid}), restart {child.restarts}")
                continue
            code = child.proc.poll()
            if code is None:
                continue
            if now - child.started > HEALTHY_AFTER:
                child.backoff = 1.0
            how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
            say(f"supervisor: {child.label} (pid {child.proc.pid}) {how}; restarting in {child.backoff:g}s")
            child.restart_at = now + child.backoff
            child.backoff = min(MAX_BACKOFF, child.backoff * 2)
        stopping.wait(0.5)
    say(f"supervisor: warm shutdown of {len(children)} worker(s)")
    for child in children:
        if child.proc is not None and child.restart_at is None and child.proc.poll() is None:
            child.proc.send_signal(signal.SIGTERM)
    for child in children:
        if child.proc is not None and child.restart_at is None:
            child.proc.wait()
    say("supervisor: all workers stopped")
    return 0
