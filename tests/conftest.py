"""The fixtures (a private LATENTQ_HOME, real Redis on its own db number, real worker processes,
SQLite and PostgreSQL stores) and the test kinds. Shared helpers live in support.py."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Iterator

import pytest

import support
from support import KINDS, PG_URL, REDIS_HOST, REDIS_PORT, WorkerProcess, kind_of, run_job, skip_or_fail


def pytest_collection_modifyitems(config, items) -> None:
    """Mark every test with its one kind (support.kind_of: its module's kind, a kind it declares,
    the services it uses): the lanes select on these (`-m "unit or cli"` is the fast lane)."""
    kinds = [kind_of(item.path.stem, [m.name for m in item.iter_markers() if m.name in KINDS],
                     set(getattr(item, "fixturenames", ()))) for item in items]
    for item, kind in zip(items, kinds):
        for node in item.listchain():  # a declared kind (module, class, function) gives way to the one kind
            node.own_markers[:] = [m for m in node.own_markers if m.name not in KINDS]
        if kind is not None:
            item.add_marker(kind)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test that started workers shows their logs and its runs' logs (the training
    processes write there): on a CI machine those files are gone once the job ends."""
    outcome = yield
    report = outcome.get_result()
    logs = getattr(item, "latentq_logs", None)
    if report.when == "call" and report.failed and logs:
        for title, text in logs():
            report.sections.append((title, text))


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
        skip_or_fail(f"PostgreSQL not reachable at {PG_URL}: {exc}")
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
    """The machine's Redis, on a database number of its own for this test session: claimed with
    SET NX in database 0, so sessions running side by side (pytest -n 2) never share one."""
    import redis

    admin = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=0, socket_connect_timeout=2)
    try:
        admin.ping()
    except Exception as exc:
        skip_or_fail(f"Redis not reachable at {REDIS_HOST}:{REDIS_PORT}: {exc}")
    token = f"{os.getpid()}:{uuid.uuid4().hex}"
    start = os.getpid() % 15
    db = next((1 + (start + i) % 15 for i in range(15)
               if admin.set(f"latentq-tests:db:{1 + (start + i) % 15}", token, nx=True, ex=4 * 3600)), None)
    if db is None:
        skip_or_fail("every Redis database 1..15 is claimed by another test session")
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db, socket_connect_timeout=2)
    client.flushdb()
    try:
        yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"
    finally:
        client.flushdb()
        if admin.get(f"latentq-tests:db:{db}") == token.encode():
            admin.delete(f"latentq-tests:db:{db}")


@pytest.fixture
def broker(redis_url, monkeypatch) -> str:
    monkeypatch.setenv("LATENTQ_BROKER_URL", redis_url)
    import redis as redis_lib

    redis_lib.Redis.from_url(redis_url).flushdb()
    return redis_url


@pytest.fixture
def start_worker(lq_home, broker, tmp_path, request):
    """start_worker(**extra_env) -> WorkerProcess, ready to take jobs; all stopped at teardown."""
    workers: list[WorkerProcess] = []
    request.node.latentq_logs = lambda: support.log_tails(workers, lq_home)

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


# ---- a PostgreSQL server of a test's own -----------------------------------------------------


@pytest.fixture
def private_postgres():
    """A PostgreSQL cluster of this test's own on a free port: (url, ctl(action, *args))."""
    if os.geteuid() != 0 or shutil.which("pg_createcluster") is None:
        pytest.skip("needs root and pg_createcluster")
    version = sorted(os.listdir("/usr/lib/postgresql"), key=lambda v: float(v))[-1]
    name, port = f"lq{uuid.uuid4().hex[:6]}", support.free_port()
    subprocess.run(["pg_createcluster", version, name, "-p", str(port), "--", "--auth=trust"], check=True,
                   capture_output=True)

    def ctl(action: str, *args: str) -> None:
        subprocess.run(["pg_ctlcluster", version, name, action, *args], check=True, capture_output=True)

    try:
        ctl("start")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", ctl
    finally:
        subprocess.run(["pg_dropcluster", "--stop", version, name], capture_output=True)
