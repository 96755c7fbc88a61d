"""The writers' ORM classes (latentq.db.store), mapped onto the Core tables of latentq.db.tables."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from latentq.db import tables
from latentq.db.tables import RunStatus, utcnow

__all__ = ["Artifact", "Base", "Event", "Metric", "Run", "RunStatus", "utcnow"]


class Base(DeclarativeBase):
    metadata = tables.metadata


class Run(Base):
    __table__ = tables.runs


class Metric(Base):
    __table__ = tables.metrics


class Artifact(Base):
    __table__ = tables.artifacts


class Event(Base):
    __table__ = tables.events
