"""What the comparison benches share: run `latentq run` and a plain script as fresh processes,
alternating (a machine shared with other work slows both alike), best of N each, ratios printed.

The latentq figure is the run's own `wall_seconds` (claim to finish: setup, compile, steps,
monitoring, checkpoints, final artifacts); the plain figure is the script's whole fit or loop.
Each process's own wall time (Python start to exit) is printed too."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_json(cmd: list[str], env: dict) -> tuple[float, dict]:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start, json.loads(done.stdout.strip().splitlines()[-1] if not
                                                   done.stdout.lstrip().startswith("{") else done.stdout)


def bench_home() -> str:
    """One LATENTQ_HOME for every run of a bench (LATENTQ_BENCH_HOME, else a new folder): the
    quality classifier is trained once into its cache/, as a user's would be. Warm it first
    (one short GAN run) so no timed run pays for it."""
    global _HOME
    if _HOME is None:
        _HOME = os.environ.get("LATENTQ_BENCH_HOME") or tempfile.mkdtemp(prefix="lq-bench-")
        warm = ("import sys; from pathlib import Path; from latentq.models.evaluation.quality import classifier_for; "
                "classifier_for('mnist-5k', Path(sys.argv[1]) / 'cache')")
        subprocess.run([sys.executable, "-c", warm, _HOME], check=True, capture_output=True)
    return _HOME


_HOME = None


def latentq_run(recipe: str, epochs: int, batch_size: int, sets: list[str]) -> tuple[float, dict]:
    env = {**os.environ, "LATENTQ_HOME": bench_home()}
    cmd = [sys.executable, "-m", "latentq.cli.main", "run", recipe, "--dataset", "mnist-5k",
           "--epochs", str(epochs), "--batch-size", str(batch_size), "--json"]
    for item in sets:
        cmd += ["--set", item]
    process, status = run_json(cmd, env)
    if status["status"] != "succeeded":
        raise SystemExit(f"latentq run {recipe} {status['status']}: {status.get('error')}")
    return process, status["metrics"]


def plain(script: str, *args) -> tuple[float, dict]:
    return run_json([sys.executable, str(HERE / script), *map(str, args)], dict(os.environ))


def machine() -> str:
    import keras  # noqa: F401  (version only)

    return (f"{platform.node()}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}, python "
            f"{platform.python_version()}, keras {keras.__version__}")


def parts(metrics: dict) -> str:
    names = ("setup", "compile", "train", "validation", "eval", "picture", "checkpoint", "finish", "other")
    return " ".join(f"{n}={metrics.get(f'{n}_seconds', 0):.2f}" for n in names)
