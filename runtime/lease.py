"""The heartbeat thread: renews a run's lease in the database and reads its cancel flag."""

from __future__ import annotations

import logging
import threading

from latentq.db.store import Store
from latentq.runtime.context import Signals

log = logging.getLogger("latentq.lease")


class Heartbeat(threading.Thread):
    """Every `interval` seconds: heartbeat_at = now, if this process still owns the run, with the
    live progress (batch within the epoch, phase) when it changed.

    Losing the lease (the reaper re-queued the run and another worker took it) or a cancel
    request sets a flag that the training loop reads at its next batch boundary."""

    def __init__(self, store: Store, run_id: str, owner: str, signals: Signals, interval: float):
        super().__init__(name=f"heartbeat-{run_id}", daemon=True)
        self.store, self.run_id, self.owner = store, run_id, owner
        self.signals, self.interval = signals, interval
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.interval):
            self.beat()

    def beat(self) -> None:
        try:
            live = self.signals.live.changes()
            owner, cancel = self.store.heartbeat(self.run_id, self.owner, live)
        except Exception as exc:  # a database blip: keep training, try again next beat
            log.warning("heartbeat for run %s failed: %s", self.run_id, exc)
            self.signals.live.forget()
            return
        if not owner:
            self.signals.lost_lease.set()
        if cancel:
            self.signals.cancel.set()

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=self.interval + 5)
