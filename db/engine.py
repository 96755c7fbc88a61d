"""Engines and sessions: SQLite in WAL mode with a busy timeout, PostgreSQL through psycopg.

The schema is brought to the newest Alembic revision the first time a process opens a URL. At
the head (the usual case) that costs one plain query and no Alembic import: the head revision is
read from the migration files themselves (tests/test_engine_head.py checks it against Alembic's).
"""

from __future__ import annotations

import contextlib
import fcntl
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from latentq.errors import Unavailable, UserError
from latentq.settings import mask_url, scrub

if TYPE_CHECKING:  # the ORM's import is the writers' cost only (latentq.db.tables)
    from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def normalise_url(url: str) -> str:
    """postgres:// and postgresql:// mean psycopg 3 here."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UserError(f"LATENTQ_DB_URL is not a database URL: {mask_url(url)!r}") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).expanduser().parent
            if not folder.is_dir():  # a typo must not leave folders behind: say so instead
                raise UserError(f"LATENTQ_DB_URL {mask_url(url)}: folder {str(folder)!r} does not exist; "
                                f"create it or fix the URL")
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # several worker processes write at once
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    try:
        return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5}
                             if parsed.get_backend_name() == "postgresql" else {})
    except (NoSuchModuleError, ImportError) as exc:
        raise UserError(f"LATENTQ_DB_URL {mask_url(url)!r}: unsupported database driver ({exc})") from None


@contextlib.contextmanager
def _migration_lock(engine: Engine, conn) -> Iterator[None]:
    """One process migrates at a time: an advisory lock (PostgreSQL) or a lock file (SQLite)."""
    if engine.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_lock(724501)"))
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(724501)"))
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


_REVISION = re.compile(r"^revision\s*=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN = re.compile(r"^down_revision\s*=\s*(?:['\"]([^'\"]+)['\"]|None)", re.MULTILINE)


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest migration's id, read from versions/*.py without Alembic: the one revision no
    other revision names as its down_revision (latentq's migrations form one line)."""
    revisions, downs = set(), set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        text = path.read_text()
        found = _REVISION.search(text)
        if not found:
            continue
        revisions.add(found.group(1))
        down = _DOWN.search(text)
        if down and down.group(1):
            downs.add(down.group(1))
    heads = revisions - downs
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads ({sorted(heads)}); expected one")
    return heads.pop()


def current_revision(conn) -> Optional[str]:
    """The database's revision (alembic_version), or None for an empty database: one query."""
    try:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError as exc:
        conn.rollback()  # PostgreSQL: the failed statement aborted the transaction
        if _no_such_table(exc):
            return None
        raise


def _no_such_table(exc: SQLAlchemyError) -> bool:
    message = str(getattr(exc, "orig", exc)).lower()
    return "no such table" in message or "does not exist" in message or "undefinedtable" in message


def migrate(engine: Engine) -> None:
    """Apply pending Alembic migrations (at head: one query, and Alembic is not imported)."""
    with engine.connect() as conn:
        current = current_revision(conn)
        conn.rollback()
    if current == head_revision():
        return
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    with engine.connect() as conn:
        with _migration_lock(engine, conn):
            conn.commit()
            if MigrationContext.configure(conn).get_current_revision() == head:
                return
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            conn.commit()


@lru_cache(maxsize=8)
def _engine(url: str) -> Engine:
    engine = make_engine(url)
    try:
        migrate(engine)
    except DBAPIError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        reason = scrub(reason, url, normalise_url(url))  # a driver may quote a piece of the password
        raise Unavailable(f"cannot reach the database {mask_url(normalise_url(url))}: {reason}") from None
    return engine


def engine_for(url: str) -> Engine:
    """The process's engine for `url`, its schema at the newest revision (Core only: readers)."""
    return _engine(normalise_url(url))


@lru_cache(maxsize=8)
def _sessionmaker(url: str) -> sessionmaker[Session]:
    from sqlalchemy.orm import sessionmaker

    return sessionmaker(_engine(url), expire_on_commit=False)


def session_factory(url: str) -> sessionmaker[Session]:
    """ORM sessions on engine_for(url) (writers: latentq.db.store)."""
    return _sessionmaker(normalise_url(url))


def dispose_all() -> None:
    """Forget engines (after a fork, or in tests)."""
    _sessionmaker.cache_clear()
    _engine.cache_clear()
