"""What the tests share besides fixtures: the services' addresses, waiting on a condition, the
CLI (in a subprocess or in this process), runs made without training, real worker processes,
the test-only pause point, the fault tests' checks, and the table of test kinds."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The services: LATENTQ_TEST_* when set, else the ones latentq itself is pointed at (LATENTQ_BROKER_URL,
# a PostgreSQL LATENTQ_DB_URL: the compose `test` profile), else this machine's.
_BROKER = urlsplit(os.environ.get("LATENTQ_BROKER_URL", ""))
_DB_URL = os.environ.get("LATENTQ_DB_URL", "")
REDIS_HOST = os.environ.get("LATENTQ_TEST_REDIS_HOST") or _BROKER.hostname or "127.0.0.1"
REDIS_PORT = int(os.environ.get("LATENTQ_TEST_REDIS_PORT") or _BROKER.port or 6379)
PG_URL = (os.environ.get("LATENTQ_TEST_PG_URL") or (_DB_URL if _DB_URL.startswith("postgresql") else "")
          or "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
FINISHED = ("succeeded", "failed", "cancelled")


def skip_or_fail(reason: str) -> None:
    """A missing service skips the test on a development machine and fails it in CI."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this must not skip)")
    pytest.skip(reason)


# ---- test kinds ------------------------------------------------------------------------------

# Every test has exactly one kind (conftest.py marks it): `-m "unit or cli"` is the fast lane.
KINDS = {
    "unit": "one part in this process, no services, no training run",
    "cli": "the command line (in process or a subprocess), no services, no training run",
    "training": "trains models (recipes through the job function, classifiers, Inception)",
    "integration": "real Redis, Celery worker processes or PostgreSQL",
    "faults": "kills, stops and cuts real processes and services mid-run",
    "browser": "pages in a real headless Chromium",
}
FAST_LANE = "unit or cli"
MODULE_KINDS = {
    "unit": ["ae_layers", "artifacts", "compose", "docs_links", "ema", "engine_head", "gan_layers", "gan_losses", "image", "kinds",
             "layering", "read_model", "recipe_contract", "saved_models", "spec", "stopflag", "store", "style_layers",
             "style_sampling",
             "web", "writer_bound"],
    "cli": ["cli", "cli_bulk", "cli_runs", "first_use", "data_checks", "escapes", "imports", "masking", "prefixes", "prepared", "properties",
            "recipe_params", "settings"],
    "training": ["autoencoders", "fid", "gan_plugins", "gans", "generation", "long_runs", "precision", "process_reuse", "progan", "progress",
                 "quality", "search", "streaming", "stylegan", "tensorboard_export", "terminal", "timings", "vae"],
    "integration": ["integration_autoencoders", "integration_worker", "stranded", "supervisor", "waiting",
                    "worker_visibility"],
    "faults": ["exact_resume", "faults", "faults_stranded", "process_reuse"],
    "browser": ["web_browser"],
}
KIND_OF_MODULE = {f"test_{module}": kind for kind, modules in MODULE_KINDS.items() for module in modules}
# A test that uses one of these needs the real services: integration, whatever its module's kind.
SERVICE_FIXTURES = {"redis_url", "broker", "start_worker", "pg_database", "own_pg_database"}


def kind_of(module: str, declared: list[str], fixtures: set[str]) -> Optional[str]:
    """The kind of a test in tests/MODULE.py with kind marks `declared` on it, using `fixtures`;
    None for a module missing from MODULE_KINDS (test_kinds.py fails on it)."""
    kind = KIND_OF_MODULE.get(module)
    if kind in ("faults", "browser"):  # they need their own setup, whatever else they use
        return kind
    kind = declared[0] if declared else kind
    if kind in ("unit", "cli", "training") and fixtures & SERVICE_FIXTURES:
        return "integration"
    return kind


# ---- waiting ---------------------------------------------------------------------------------

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 120, interval: float = 0.3, what: str = "condition") -> T:
    """predicate()'s first true value, polled every `interval` seconds; TimeoutError naming `what`
    after `timeout` seconds. A test waits on a condition, never for a fixed time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


# ---- the CLI ---------------------------------------------------------------------------------


def cli(*args: str, env: Optional[dict[str, str]] = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """The real entry point in a subprocess: `latentq ARGS`."""
    return subprocess.run([sys.executable, "-m", "latentq.cli.main", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("Error:")]


def invoke(args: list[str], env: Optional[dict[str, Optional[str]]] = None) -> Result:
    """`latentq ARGS` in this process, through its real error boundary (run_cli), with click's
    CliRunner isolation: argument checks run in milliseconds instead of a Python start-up per case.
    An exception escaping the error boundary fails the test: at the real entry point it would be
    a traceback."""
    from click.testing import CliRunner

    from latentq.cli.errors import run_cli
    from latentq.cli.main import cli as latentq

    with CliRunner().isolation(env=env) as (out, err, _mixed):
        try:
            run_cli(latentq, list(args))
            code = 0
        except SystemExit as done:
            code = int(done.code or 0)
        except BaseException as exc:  # noqa: BLE001
            raise AssertionError(f"`latentq {' '.join(args)[:200]}` escaped the error boundary with "
                                 f"{type(exc).__name__}: {exc} (a traceback for a user)") from exc
        return Result(code, out.getvalue().decode(errors="replace"), err.getvalue().decode(errors="replace"))


# ---- runs ------------------------------------------------------------------------------------


def run_job(store, settings, recipe: str, dataset: Optional[str] = None, epochs: int = 1,
            batch_size: int = 64, seed: int = 0, **params: Any) -> dict[str, Any]:
    """Create a run and execute it in this process through the shared job function."""
    from latentq.spec import build_spec
    from latentq.worker.jobs import execute_run

    spec = build_spec(kind="train", recipe=recipe, dataset=dataset, epochs=epochs, batch_size=batch_size,
                      seed=seed, params={k: str(v) for k, v in params.items()})
    run_id, _ = store.create_run(spec.model_dump(mode="json"))
    return execute_run(run_id, settings)


def artifact_paths(status: dict[str, Any], kind: str) -> list[Path]:
    return [Path(a["path"]) for a in status["artifacts"] if a["kind"] == kind]


def fake_run(store, settings, recipe: str = "vae", name: Optional[str] = None, group: Optional[str] = None,
             epochs: int = 3, status: str = "succeeded", seed: int = 0, params: Optional[dict[str, Any]] = None,
             sample_epochs: int = 3) -> str:
    """A run in a real store with real picture files, written without training (fast), for the
    page tests: per-epoch metrics, per-epoch sample grids, a reconstructions picture and events."""
    import numpy as np

    from latentq import pictures
    from latentq.spec import build_spec

    spec = build_spec(kind="train", recipe=recipe, dataset="digits", epochs=epochs, seed=seed, name=name,
                      params=params or {})
    run_id, _ = store.create_run(spec.model_dump(mode="json"), group=group)
    run_dir = settings.artifact_root / run_id
    rng = np.random.default_rng(seed)
    if status != "queued":
        assert store.claim(run_id, owner="test", worker="test-host")
    for epoch in range(1, sample_epochs + 1):
        store.record_metrics(run_id, epoch, {"loss": 1.0 / epoch + seed, "val_loss": 1.2 / epoch + seed,
                                             "fcd": 50.0 / epoch})
        rel = f"images/samples/epoch_{epoch:03d}.png"
        pictures.save_grid(run_dir / rel, rng.random((16, 8, 8)), cols=4)
        store.add_artifact(run_id, "samples_epoch", rel)
        if status != "queued":
            store.set_progress(run_id, "test", epoch)
    store.record_metrics(run_id, 0, {"params": 1234.0})
    pictures.save_rows(run_dir / "images/reconstructions.png", [rng.random((5, 8, 8)), rng.random((5, 8, 8))])
    store.add_artifact(run_id, "reconstructions", "images/reconstructions.png")
    store.add_event(run_id, "info", f"fake run {name or run_id}")
    if status in ("succeeded", "failed", "cancelled"):
        from latentq.db.tables import RunStatus

        store.finish(run_id, "test", RunStatus(status), error="boom" if status == "failed" else None)
    return run_id


# ---- worker processes and services -----------------------------------------------------------


class WorkerProcess:
    """A real `latentq worker` process (its own process group), with its log on disk."""

    def __init__(self, env: dict[str, str], log_path: Path, queue: str = "latentq"):
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "latentq.cli.main", "worker", "-Q", queue, "--loglevel", "INFO",
             "--hostname", f"test-{uuid.uuid4().hex[:6]}@%h"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log_path.read_text()[-3000:]}")
            return b"ready." in self.log_path.read_bytes()

        try:
            wait_for(ready, timeout=timeout, interval=0.2, what="the worker to be ready")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}:\n{self.log_path.read_text()[-3000:]}") from None

    def signal(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.log.close()


def log_tails(workers: list[WorkerProcess], home: Path, chars: int = 6000) -> list[tuple[str, str]]:
    """(title, tail) of each worker's log and each run's log under `home`, for a failure report."""
    files = [(f"worker log {w.log_path.name}", w.log_path) for w in workers]
    files += [(f"run log {p.parent.name}", p) for p in sorted(home.glob("**/run.log"))]
    return [(title, path.read_text(errors="replace")[-chars:]) for title, path in files if path.is_file()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis_server(port: int, folder: Path) -> subprocess.Popen:
    """A redis-server of the caller's own on `port`, without persistence, answering PING."""
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(folder)], stdout=subprocess.DEVNULL)
    wait_for(lambda: subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout.strip()
             == b"PONG", timeout=10, interval=0.1, what=f"redis-server on port {port}")
    return proc


# ---- the test-only pause point ---------------------------------------------------------------


class PausePoint:
    """Holds runs at the end of epoch `epoch` (latentq.runtime.callbacks.pause_point): pass `env`
    to the process that trains; `wait()` returns the held run's id once its checkpoint for that
    epoch is on disk; `release()` lets it (and every later run reaching that epoch) go on. A
    stop (cancel, SIGTERM) also ends the hold; a kill ends it with the process."""

    def __init__(self, folder: Path, epoch: int):
        self.epoch = epoch
        self.path = folder / f"pause-at-{epoch}"
        self.env = {"LATENTQ_TEST_PAUSE_AT": f"{epoch}:{self.path}"}

    def wait(self, timeout: float = 180) -> str:
        paused = Path(f"{self.path}.paused")
        return wait_for(lambda: paused.is_file() and paused.read_text(), timeout=timeout, interval=0.1,
                        what=f"a run to be held at the end of epoch {self.epoch}")

    def release(self) -> None:
        Path(f"{self.path}.go").touch()


# ---- the fault tests' checks -----------------------------------------------------------------


def submit(*args: str, env: Optional[dict[str, str]] = None) -> dict:
    """`latentq submit ARGS --json`, which must succeed: the queued run's status object."""
    result = cli("submit", *args, "--json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def finished(store, run_id: str, timeout: float = 240) -> dict:
    return wait_for(lambda: (s := store.status(run_id))["status"] in FINISHED and s, timeout=timeout,
                    what=f"run {run_id} to finish")


def events(store, run_id: str) -> list[str]:
    return [e.message for e in store.events(run_id)]


def has_event(store, run_id: str, text: str) -> bool:
    return any(text in message for message in events(store, run_id))


def epochs_recorded(store, run_id: str, name: str = "loss") -> list[int]:
    return [m.step for m in store.metrics(run_id) if m.name == name]


def assert_resumed_cleanly(store, status: dict, epochs: int, n_train: int = 4500, batch: int = 16,
                           partial_epoch_saved: bool = False, resumed_from: Optional[int] = None) -> None:
    """Every epoch's metrics once, the optimizer's step count continued, no jump back in loss
    (and, given `resumed_from`, resumed from exactly that epoch's checkpoint).

    A kill -9 resumes from the last epoch-end checkpoint: the step count is exact. A stop that
    checkpoints mid-epoch (SIGTERM, cancel) keeps those steps and replays the rest of that epoch."""
    assert status["status"] == "succeeded", status
    assert status["resumed_from_epoch"] is not None and status["resumed_from_epoch"] >= 1
    if resumed_from is not None:
        assert status["resumed_from_epoch"] == resumed_from, status
    assert epochs_recorded(store, status["id"]) == list(range(1, epochs + 1))
    losses = [m.value for m in store.metrics(status["id"]) if m.name == "loss"]
    resumed = status["resumed_from_epoch"]
    assert losses[resumed] < losses[0], losses  # the first resumed epoch is not back at epoch-1 values
    model_path = next(a["path"] for a in status["artifacts"] if a["kind"] == "model")
    probe = ("import latentq.models, keras, sys; m = keras.models.load_model(sys.argv[1]); "
             "print(int(m.optimizer.iterations.numpy()))")
    out = subprocess.run([sys.executable, "-c", probe, model_path], capture_output=True, text=True, check=True)
    steps_per_epoch = -(-n_train // batch)
    iterations = int(out.stdout.strip().splitlines()[-1])
    if partial_epoch_saved:
        assert epochs * steps_per_epoch <= iterations < (epochs + 1) * steps_per_epoch
    else:
        assert iterations == epochs * steps_per_epoch
