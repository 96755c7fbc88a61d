"""A database blip ridden out in place: the run store's calls from a training process, retried.

A PostgreSQL restart takes a few seconds ("the database system is shutting down", then refused
connections); a training process that gave up on its first failed write would fail a healthy
run. Every call of the store (metric rows, progress, checkpoint records, events, artifacts, the
final status) is retried with backoff on a lost or refused connection, for a bounded time:
longer than a database restart, shorter than the heartbeat timeout (past it the reaper would
hand the run to another worker anyway). The store's writes may run twice safely: metric and
artifact rows replace those of the same key in the same transaction, transitions are
conditional UPDATEs, progress and checkpoint records set values rather than add to them.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from typing import Any, Callable, Optional

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

log = logging.getLogger("latentq.retry")

MAX_RETRY_SECONDS = 60.0
FIRST_PAUSE, MAX_PAUSE = 0.2, 5.0


def retry_budget(heartbeat_timeout: float) -> float:
    """How long a write is retried: a database restart fits, a stale lease does not."""
    return min(MAX_RETRY_SECONDS, heartbeat_timeout / 2)


def transient(exc: BaseException) -> bool:
    """A failure that a reconnect may cure: the connection lost, refused or shut down under us
    (not a constraint or a programming error, which fail the same way every time)."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class RetryingStore:
    """The same methods as the Store it wraps, each retried on transient database errors for up
    to `budget` seconds, then raising the last error. Attributes that are not methods (db_url,
    artifact_root) and `session` pass through unchanged."""

    PASS_THROUGH = frozenset({"session"})

    def __init__(self, store: Any, budget: float, sleep: Callable[[float], None] = time.sleep):
        self.inner = store
        self.budget = budget
        self._sleep = sleep
        self._lock = threading.Lock()
        self._outage_since: Optional[float] = None
        self._retried = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name.startswith("_") or name in self.PASS_THROUGH or not callable(attr):
            return attr

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            return self._call(name, attr, args, kwargs)

        return call

    def _call(self, name: str, method: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        deadline = time.monotonic() + self.budget
        pause = FIRST_PAUSE
        while True:
            try:
                result = method(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001  (only transient ones are retried)
                left = deadline - time.monotonic()
                if not transient(exc) or left <= 0:
                    raise
                self._note_failure(name, exc)
                self._sleep(min(pause, left))
                pause = min(pause * 2, MAX_PAUSE)
                continue
            self._note_success(args)
            return result

    def _note_failure(self, name: str, exc: BaseException) -> None:
        with self._lock:
            if self._outage_since is None:
                self._outage_since = time.monotonic()
            self._retried += 1
        first = " ".join(str(getattr(exc, "orig", None) or exc).split())[:200]
        log.warning("database call %s failed (%s); retrying for up to %.0fs", name, first, self.budget)

    def _note_success(self, args: tuple) -> None:
        with self._lock:
            since, retried = self._outage_since, self._retried
            self._outage_since, self._retried = None, 0
        if since is None:
            return
        seconds = time.monotonic() - since
        log.warning("database reachable again after %.1fs (%d calls retried)", seconds, retried)
        run_id = args[0] if args and isinstance(args[0], str) else None
        if run_id:
            try:  # once per outage: the run's log says the blip was ridden out
                self.inner.add_event(run_id, "warning", f"database unreachable for {seconds:.1f}s; "
                                                         f"{retried} writes retried, nothing lost")
            except Exception as exc:  # noqa: BLE001  a note, not worth failing for
                log.warning("could not record the database outage: %s", exc)
