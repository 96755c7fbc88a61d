"""One background thread per run that does the run's slow writes (checkpoint files, pictures,
metric rows, TensorBoard events), so the training thread only trains.

Jobs run in the order they were submitted, except checkpoints: a new checkpoint replaces one
still waiting (the newest snapshot is the one worth writing), so the training thread never
waits for an old write. Pictures waiting are bounded, so a writer that falls behind on short
epochs holds a few pictures, not one per epoch: a picture with the key of one still waiting
replaces it; past MAX_PENDING_PICTURES the oldest waiting `droppable` picture (a per-epoch
one) is dropped and counted; a picture that may not be dropped (a final one) makes the
training thread wait for room instead. Checkpoints and metric rows are never dropped. The first failure of a job is raised on the training thread at its
next submit or flush (a full disk fails the run as before)."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Callable, Optional

log = logging.getLogger("latentq.writer")

Job = Callable[[], None]
PARTS = ("checkpoint", "picture", "other")  # what a job writes, for where a wait for it is counted
MAX_PENDING_PICTURES = 4


class _Dropped(Exception):
    """This droppable picture is the one dropped (every waiting picture must be written)."""


class BackgroundWriter:
    def __init__(self, name: str = "latentq-writer"):
        self._name = name
        self._jobs: deque[list] = deque()  # [job, part, key, droppable]
        self._part: Optional[str] = None  # the part of the job being written now
        self._checkpoint: Optional[Job] = None  # the newest checkpoint still to write
        self._cond = threading.Condition()
        self._busy = False
        self._error: Optional[BaseException] = None
        self._raised = False
        self._thread: Optional[threading.Thread] = None
        self._closed = False
        self.busy_seconds = 0.0  # time spent writing, off the training thread
        self.dropped_pictures = 0  # pictures replaced or dropped while waiting

    # ---- the training thread's side ---------------------------------------------------------

    def submit(self, job: Job, part: str = "other", key: Optional[str] = None, droppable: bool = False) -> None:
        """Run `job` after those already queued; `part` (PARTS) names what it writes. A picture
        with a `key` (the file it writes) replaces a waiting picture of the same key; a
        `droppable` picture may be dropped when too many wait."""
        assert part in PARTS, part
        self._raise_error()
        with self._cond:
            self._start()
            if part == "picture":
                if key is not None and self._replace(key, job):
                    return
                try:
                    self._make_room(droppable)
                except _Dropped:
                    return
            self._jobs.append([job, part, key, droppable])
            self._cond.notify_all()

    def _replace(self, key: str, job: Job) -> bool:
        for entry in self._jobs:
            if entry[1] == "picture" and entry[2] == key:
                entry[0] = job
                self.dropped_pictures += 1
                self._cond.notify_all()
                return True
        return False

    def _make_room(self, droppable: bool) -> None:
        """Called holding the lock: at most MAX_PENDING_PICTURES pictures wait."""
        while True:
            waiting = [entry for entry in self._jobs if entry[1] == "picture"]
            if len(waiting) < MAX_PENDING_PICTURES or self._error is not None:
                return
            old = next((entry for entry in waiting if entry[3]), None)
            if old is not None:
                self._jobs.remove(old)
                self.dropped_pictures += 1
            elif droppable:
                self.dropped_pictures += 1
                raise _Dropped
            elif threading.current_thread() is self._thread:
                return  # a job submitting from the writer thread itself: waiting would never end
            else:
                self._cond.wait(0.05)  # room comes as the writer thread takes the next job

    def submit_checkpoint(self, job: Job) -> None:
        """Write this checkpoint after the jobs already queued; a checkpoint still waiting is dropped."""
        self._raise_error()
        with self._cond:
            self._start()
            if self._checkpoint is None:
                self._jobs.append([self._write_checkpoint, "checkpoint", None, False])
            self._checkpoint = job
            self._cond.notify_all()

    def flush(self) -> dict[str, float]:
        """Wait until everything submitted so far is written; raise the first failure. Returns
        the seconds waited, by the part of the job being written meanwhile."""
        waited: dict[str, float] = {}
        with self._cond:
            while self._thread is not None and (self._jobs or self._busy):
                part = self._part or (self._jobs[0][1] if self._jobs else "other")
                start = time.perf_counter()
                self._cond.wait(0.05)
                waited[part] = waited.get(part, 0.0) + time.perf_counter() - start
        self._raise_error()
        return waited

    def close(self) -> None:
        try:
            self.flush()
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()

    # ---- the writer thread ------------------------------------------------------------------

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
            self._thread.start()

    def _write_checkpoint(self) -> None:
        with self._cond:
            job, self._checkpoint = self._checkpoint, None
        if job is not None:
            job()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._closed:
                    self._cond.wait()
                if not self._jobs:
                    return
                job, self._part, _, _ = self._jobs.popleft()
                self._busy = True
            start = time.perf_counter()
            try:
                if self._error is None:  # after a failure, drop the rest: the run is failing
                    job()
            except BaseException as exc:  # noqa: BLE001  raised on the training thread
                log.warning("background write failed: %s", exc)
                self._error = exc
            finally:
                self.busy_seconds += time.perf_counter() - start
                with self._cond:
                    self._busy = False
                    self._part = None
                    self._cond.notify_all()

    def _raise_error(self) -> None:
        """The first failure, once (later jobs were dropped: the run is failing)."""
        if self._error is not None and not self._raised:
            self._raised = True
            raise self._error
