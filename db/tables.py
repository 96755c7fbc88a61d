"""The run store's tables in SQLAlchemy Core, and the one place run statuses are named.

Readers (latentq.db.reads: `status`, `list`, `show`, the web pages) query these tables and never
import the ORM, whose import costs a read-only command a third of its time; the writers' ORM
classes (latentq.db.schema) are mapped onto the same tables."""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from typing import ClassVar

from sqlalchemy import (Boolean, Column, DateTime, Float, ForeignKey, Integer, MetaData, String, Table, Text,
                        UniqueConstraint)
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """Naive UTC: stored the same way on SQLite and PostgreSQL."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class RunStatus(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    # Set just below the class (a set inside an Enum's body would become a member).
    ACTIVE: ClassVar[frozenset[RunStatus]]  # queued or running: may still change by itself
    TERMINAL: ClassVar[frozenset[RunStatus]]  # ended: changes only by a user's retry

    @property
    def finished(self) -> bool:
        return self in RunStatus.TERMINAL

    def __str__(self) -> str:
        return self.value

    def __hash__(self) -> int:  # as its string's, so a status finds its entry in a set or dict of strings
        return str.__hash__(self)


RunStatus.ACTIVE = frozenset({RunStatus.QUEUED, RunStatus.RUNNING})
RunStatus.TERMINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})


class StatusColumn(TypeDecorator):
    """A run status stored as its string, read back as a RunStatus (so code compares enums)."""

    impl = String(16)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else RunStatus(value).value

    def process_result_value(self, value, dialect):
        return None if value is None else RunStatus(value)


metadata = MetaData()

runs = Table(
    "runs", metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("recipe", String(64), nullable=False),
    Column("dataset", String(1024), nullable=False),
    Column("name", String(64)),
    Column("spec", Text, nullable=False),
    Column("queue", String(64), nullable=False, default="latentq"),
    Column("status", StatusColumn(), nullable=False, index=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False, default=3),
    Column("worker", String(255)),
    Column("owner", String(128)),
    Column("task_id", String(64)),
    Column("idempotency_key", String(200), unique=True),
    Column("parent_id", ForeignKey("runs.id")),
    Column("created_at", DateTime, nullable=False, default=utcnow),
    Column("started_at", DateTime),
    Column("heartbeat_at", DateTime),
    Column("finished_at", DateTime),
    Column("epoch", Integer, nullable=False, default=0),
    Column("epochs", Integer, nullable=False, default=0),
    Column("resumed_from_epoch", Integer),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("error", Text),
    Column("group_name", String(64), index=True),  # a sweep's runs share one
    # The outbox: when the run last became queued, and when its message was last sent (None:
    # not sent yet; the reaper's sweep sends it). `sends` counts the messages sent for it.
    Column("queued_at", DateTime),
    Column("sent_at", DateTime),
    Column("sends", Integer, nullable=False, default=0, server_default="0"),
    # An embedded run (`latentq run`, `retry --local`): the host and process that own it.
    Column("host", String(255)),
    Column("pid", Integer),
    Column("checkpoint_epoch", Integer),
    # Live progress, written with the heartbeat (never per batch): batches done in the epoch under
    # way of `steps` per epoch, and the end-of-run work under way ("final pictures", "t-SNE", ...).
    Column("step", Integer),
    Column("steps", Integer),
    Column("phase", String(64)),
)

metrics = Table(
    "metrics", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("step", Integer, nullable=False),
    Column("name", String(64), nullable=False),
    Column("value", Float, nullable=False),
    Column("recorded_at", DateTime, nullable=False, default=utcnow),
    UniqueConstraint("run_id", "step", "name"),
)

artifacts = Table(
    "artifacts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("kind", String(64), nullable=False),
    Column("path", String(1024), nullable=False),
    Column("created_at", DateTime, nullable=False, default=utcnow),
    UniqueConstraint("run_id", "path"),
)

events = Table(
    "events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("at", DateTime, nullable=False, default=utcnow),
    Column("level", String(16), nullable=False),
    Column("message", Text, nullable=False),
)
