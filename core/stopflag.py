"""A flag that signal handlers set: the one safe thing a handler can do is store a value.

A Python signal handler runs in the main thread between any two bytecodes, including those of
another handler or of code holding a lock. threading.Event.set() takes the Event's lock, so a
second SIGTERM arriving while the first handler was inside set() (a process group's SIGTERM and
the worker's forwarded one, microseconds apart) deadlocked the training process for good. This
flag takes no lock; its wait() polls."""

from __future__ import annotations

import time


class StopFlag:
    POLL_SECONDS = 0.05

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True  # one store: atomic under the GIL, safe from a handler

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float) -> bool:
        """Whether it is set, waiting at most `timeout` seconds for it."""
        deadline = time.monotonic() + timeout
        while not self._set:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(self.POLL_SECONDS, left))
        return self._set
