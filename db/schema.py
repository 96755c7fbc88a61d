"""Typed SQLAlchemy models of the run store."""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from typing import ClassVar, Optional

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
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


class Base(DeclarativeBase):
    pass


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    recipe: Mapped[str] = mapped_column(String(64))
    dataset: Mapped[str] = mapped_column(String(1024))
    name: Mapped[Optional[str]] = mapped_column(String(64))
    spec: Mapped[str] = mapped_column(Text)
    queue: Mapped[str] = mapped_column(String(64), default="latentq")
    status: Mapped[RunStatus] = mapped_column(StatusColumn(), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    worker: Mapped[Optional[str]] = mapped_column(String(255))
    owner: Mapped[Optional[str]] = mapped_column(String(128))
    task_id: Mapped[Optional[str]] = mapped_column(String(64))
    idempotency_key: Mapped[Optional[str]] = mapped_column(String(200), unique=True)
    parent_id: Mapped[Optional[str]] = mapped_column(ForeignKey("runs.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    heartbeat_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    finished_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    epochs: Mapped[int] = mapped_column(Integer, default=0)
    resumed_from_epoch: Mapped[Optional[int]] = mapped_column(Integer)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[Optional[str]] = mapped_column(Text)
    group_name: Mapped[Optional[str]] = mapped_column(String(64), index=True)  # a sweep's runs share one
    # The outbox: when the run last became queued, and when its message was last sent (None:
    # not sent yet; the reaper's sweep sends it). `sends` counts the messages sent for it.
    queued_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    sent_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    sends: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # An embedded run (`latentq run`, `retry --local`): the host and process that own it.
    host: Mapped[Optional[str]] = mapped_column(String(255))
    pid: Mapped[Optional[int]] = mapped_column(Integer)
    checkpoint_epoch: Mapped[Optional[int]] = mapped_column(Integer)
    # Live progress, written with the heartbeat (never per batch): batches done in the epoch under
    # way of `steps` per epoch, and the end-of-run work under way ("final pictures", "t-SNE", ...).
    step: Mapped[Optional[int]] = mapped_column(Integer)
    steps: Mapped[Optional[int]] = mapped_column(Integer)
    phase: Mapped[Optional[str]] = mapped_column(String(64))


class Metric(Base):
    __tablename__ = "metrics"
    __table_args__ = (UniqueConstraint("run_id", "step", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("run_id", "path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    level: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
