"""Shared fixtures: a private LATENTQ_HOME, real Redis (own db number), real worker processes,
SQLite and PostgreSQL stores."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Iterator, Optional
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


def _skip_or_fail(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this must not skip)")
    pytest.skip(reason)


# ---- settings --------------------------------------------------------------------------------


@pytest.fixture
def lq_home(tmp_path, monkeypatch) -> Path:
    """A private LATENTQ_HOME with a SQLite store, for this test only."""
    home = tmp_path / "home"
    monkeypatch.setenv("LATENTQ_HOME", str(home))
    monkeypatch.delenv("LATENTQ_DB_URL", raising=False)
    monkeypatch.setenv("LATENTQ_HEARTBEAT_SECONDS", "0.5")
    return home


@pytest.fixture
def settings(lq_home):
    from latentq.settings import load_settings

    return load_settings()


@pytest.fixture
def store(settings):
    from latentq.db.store import Store

    return Store(settings.db_url, settings.artifact_root)


def run_job(store, settings, recipe: str, dataset: Optional[str] = None, epochs: int = 1,
            batch_size: int = 64, seed: int = 0, **params: Any) -> dict[str, Any]:
    """Create a run and execute it in this process through the shared job function."""
    from latentq.spec import build_spec
    from latentq.worker.jobs import execute_run

    spec = build_spec(kind="train", recipe=recipe, dataset=dataset, epochs=epochs, batch_size=batch_size,
                      seed=seed, params={k: str(v) for k, v in params.items()})
    run_id, _ = store.create_run(spec.model_dump(mode="json"))
    return execute_run(run_id, settings)


@pytest.fixture
def train(store, settings):
    """train(recipe, dataset=None, epochs=1, batch_size=64, **params) -> status object."""
    return lambda recipe, **kw: run_job(store, settings, recipe, **kw)


@pytest.fixture(scope="session")
def quality_cache(tmp_path_factory) -> Path:
    """The digits quality classifier, trained once per test session."""
    from latentq.models.evaluation import quality

    cache = tmp_path_factory.mktemp("quality-cache")
    quality.classifier_for("digits", cache)
    return cache


@pytest.fixture
def train_digits(train, lq_home, quality_cache):
    """train(...) on digits, with the cached quality classifier copied into LATENTQ_HOME."""
    import shutil

    shutil.copytree(quality_cache, lq_home / "cache", dirs_exist_ok=True)
    return lambda recipe, **kw: train(recipe, dataset="digits", **kw)


def artifact_paths(status: dict[str, Any], kind: str) -> list[Path]:
    return [Path(a["path"]) for a in status["artifacts"] if a["kind"] == kind]


# ---- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (dropped afterwards)."""
    with _fresh_pg_database() as url:
        yield url


@pytest.fixture
def own_pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test alone: no run left queued or running by an
    earlier test (which a worker's sweep or reaper would adopt)."""
    with _fresh_pg_database() as url:
        yield url


@contextlib.contextmanager
def _fresh_pg_database() -> Iterator[str]:
    try:
        import psycopg
        from sqlalchemy.engine import make_url

        base = make_url(PG_URL)
        admin = psycopg.connect(host=base.host, port=base.port or 5432, user=base.username,
                                dbname=base.database, autocommit=True, connect_timeout=3)
    except Exception as exc:
        _skip_or_fail(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    name = f"latentq_test_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield str(base.set(database=name).render_as_string(hide_password=False))
    finally:
        from latentq.db.engine import dispose_all

        dispose_all()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


# ---- Redis and workers -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The machine's Redis, on a database number of its own for this test session."""
    import redis

    db = 1 + (os.getpid() % 15)
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:
        _skip_or_fail(f"Redis not reachable at {REDIS_HOST}:{REDIS_PORT}: {exc}")
    client.flushdb()
    yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"
    client.flushdb()


@pytest.fixture
def broker(redis_url, monkeypatch) -> str:
    monkeypatch.setenv("LATENTQ_BROKER_URL", redis_url)
    import redis as redis_lib

    redis_lib.Redis.from_url(redis_url).flushdb()
    return redis_url


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
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b"ready." in self.log_path.read_bytes():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        raise TimeoutError(f"worker not ready in {timeout}s:\n{self.log_path.read_text()[-3000:]}")

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


@pytest.fixture
def start_worker(lq_home, broker, tmp_path):
    """start_worker(**extra_env) -> WorkerProcess, ready to take jobs; all stopped at teardown."""
    workers: list[WorkerProcess] = []

    def start(queue: str = "latentq", wait: bool = True, **extra_env: str) -> WorkerProcess:
        env = {**os.environ, **extra_env}
        worker = WorkerProcess(env, tmp_path / f"worker-{len(workers)}.log", queue=queue)
        workers.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    yield start
    for worker in workers:
        worker.stop()


def cli(*args: str, env: Optional[dict[str, str]] = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """The real entry point in a subprocess: `latentq ARGS`."""
    return subprocess.run([sys.executable, "-m", "latentq.cli.main", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def wait_for(predicate, timeout: float = 120, interval: float = 0.3, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
