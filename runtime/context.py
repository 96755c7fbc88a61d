"""What a running job hands to a recipe: its spec, data, files, metrics and stop signals.

TensorFlow-free: recipes in latentq.models receive a RunContext and do the Keras work.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np

from latentq import datasets, pictures
from latentq.db.store import Store
from latentq.stopflag import StopFlag
from latentq.spec import GenerateOptions, JobSpec, check_generate_parent
from latentq.runtime.artifacts import ArtifactStore, put_json, read_json
from latentq.runtime.checkpoints import LATEST, STATE
from latentq.runtime.tensorboard import EventWriter
from latentq.runtime.timings import Timings
from latentq.runtime.writer import BackgroundWriter

log = logging.getLogger("latentq.context")


class StopRun(Exception):
    """The loop stopped early; `reason` says why (cancel, shutdown, lost lease, time limit, pruned:
    a search's pruner stopped this trial)."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail


class LiveProgress:
    """Where the training thread is (batch of the epoch, end-of-run phase), set in memory by the
    callbacks and read by the heartbeat thread, which writes it with its beat: no write per batch.
    Phases may be entered from the background writer too (t-SNE): the one shown is the latest
    entered that has not ended."""

    def __init__(self) -> None:
        self.step: Optional[int] = None
        self.steps: Optional[int] = None
        self._phases: list[str] = []
        self._lock = threading.Lock()
        self._written: Optional[tuple] = None

    @property
    def phase(self) -> Optional[str]:
        with self._lock:
            return self._phases[-1] if self._phases else None

    def enter(self, name: str) -> None:
        with self._lock:
            self._phases.append(name)

    def leave(self, name: str) -> None:
        with self._lock:
            for i in range(len(self._phases) - 1, -1, -1):
                if self._phases[i] == name:
                    del self._phases[i]
                    return

    def changes(self) -> Optional[dict[str, Any]]:
        """The columns to write if they changed since the last call, else None."""
        now = (self.step, self.steps, self.phase)
        if now == self._written:
            return None
        self._written = now
        return {"step": now[0], "steps": now[1], "phase": now[2]}

    def forget(self) -> None:
        """The last write failed: write it again next time."""
        self._written = None


class Signals:
    """Flags set from other threads (the heartbeat), read at batch boundaries; and the live
    progress going the other way (LiveProgress). A shutdown is PROCESS_SHUTDOWN's, for every run
    of the process."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.lost_lease = threading.Event()
        self.live = LiveProgress()
        # Set by the training thread itself (latentq.runtime.pruning) at an epoch's end: why the
        # search's pruner stopped this trial.
        self.pruned: Optional[str] = None

    def reason(self) -> Optional[str]:
        if self.lost_lease.is_set():
            return "lost_lease"
        if self.cancel.is_set():
            return "cancel"
        if self.pruned:
            return "pruned"
        return None


# Set by the worker's shutdown signal handler; every run in this process sees it.
PROCESS_SHUTDOWN = StopFlag()


class RunContext:
    def __init__(self, store: Store, run_id: str, owner: str, spec: JobSpec, signals: Signals, *,
                 runs: ArtifactStore, cache: ArtifactStore, max_seconds: Optional[float] = None):
        self.store = store
        self.run_id = run_id
        self.owner = owner
        self.spec = spec
        self.params = spec.recipe_params()
        # Every file of the run goes through these (latentq.runtime.artifacts): its own folder,
        # every run's (a generation job reads its parent's model), and the cache runs share.
        self.runs = runs
        self.files = runs.scope(run_id)
        self.cache = cache
        self._held = contextlib.ExitStack()  # local paths handed out for the whole run
        self.signals = signals
        self.started = time.monotonic()
        self.timings = Timings(time.perf_counter())
        # Metric rows, TensorBoard events, pictures and checkpoint files are written off the
        # training thread, in order; reading the history waits for what is queued.
        self.writer = BackgroundWriter(f"latentq-writer-{run_id}")
        self.writer.submit(pictures.preload, part="picture")  # every run draws curves: matplotlib off the training thread
        self.max_seconds = max_seconds
        self._dataset: Optional[datasets.Source] = None
        self.events_writer = EventWriter(self.files, "tensorboard")

    # ---- inputs --------------------------------------------------------------------------

    def dataset(self) -> datasets.Source:
        """The run's dataset, opened (a prepared one's manifest and file size checked), its split
        fixed by the seed; no training pixels read: latentq.models.inputs streams them."""
        if self._dataset is None:
            self._dataset = datasets.open_source(self.spec.dataset, self.spec.seed)
        return self._dataset

    # ---- stop signals --------------------------------------------------------------------

    def stop_reason(self) -> Optional[str]:
        reason = self.signals.reason()
        if reason is None and PROCESS_SHUTDOWN.is_set():
            reason = "shutdown"
        if reason is None and self.max_seconds is not None and time.monotonic() - self.started > self.max_seconds:
            reason = "time_limit"
        return reason

    def raise_if_stopped(self) -> None:
        reason = self.stop_reason()
        if reason:
            detail = f"ran longer than max_minutes={self.max_seconds / 60:g}" if reason == "time_limit" else ""
            if reason == "pruned":
                detail = self.signals.pruned or ""
            raise StopRun(reason, detail)

    # ---- progress and metrics ------------------------------------------------------------

    def record(self, step: int, **values: float) -> None:
        clean = {k: float(v) for k, v in values.items() if v is not None and np.isfinite(float(v))}

        def write() -> None:
            self.store.record_metrics(self.run_id, step, clean)
            self.events_writer.scalars(step, clean)

        self.writer.submit(write)

    def flush(self) -> None:
        """Wait for every queued write (metrics, pictures, checkpoint); raise the first failure.
        The wait counts as the part being written meanwhile (checkpoint, picture, other)."""
        self.timings.add_waits(self.writer.flush())

    def progress(self, epoch: int) -> None:
        self.store.set_progress(self.run_id, self.owner, epoch)
        self.signals.live.forget()  # that cleared the step: the next heartbeat writes it again

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Name the end-of-run work under way ("final pictures", "t-SNE", "quality evaluation",
        "saving the model") for `run`/`watch` and the run page; the enclosing phase comes back after.
        Any thread may enter one (LiveProgress). A cancel is honoured as the training thread enters
        one: the finishing work after the last epoch stops there, not minutes later (once
        model.keras is written, the run then ends succeeded: latentq.runtime.job)."""
        if self.signals.cancel.is_set() and threading.current_thread().name != self.writer._name:
            raise StopRun("cancel")
        live = self.signals.live
        live.enter(name)
        self._write_phase(live.phase)
        try:
            yield
        finally:
            live.leave(name)
            self._write_phase(live.phase)

    def _write_phase(self, name: Optional[str]) -> None:
        try:  # a few writes per run, at once: a phase may be shorter than a heartbeat
            self.store.set_phase(self.run_id, self.owner, name)
        except Exception as exc:  # a database blip must not fail the run; the heartbeat writes it again
            log.warning("run %s: could not record phase %r: %s", self.run_id, name, exc)

    def event(self, level: str, message: str) -> None:
        self.store.add_event(self.run_id, level, message)

    def history(self, *names: str) -> dict[str, list[float]]:
        """Per-epoch values of the named metrics, from the store (resumed attempts included)."""
        self._flush_if_not_writer()
        series: dict[str, list[float]] = {name: [] for name in names}
        for metric in self.store.metrics(self.run_id):
            if metric.name in series and metric.step > 0:
                series[metric.name].append(metric.value)
        return {k: v for k, v in series.items() if v}

    def history_by_step(self, *names: str) -> dict[str, dict[int, float]]:
        """{name: {step: value}} of the named metrics recorded at some epochs only (every K epochs)."""
        self._flush_if_not_writer()
        series: dict[str, dict[int, float]] = {}
        for metric in self.store.metrics(self.run_id):
            if metric.name in names and metric.step > 0:
                series.setdefault(metric.name, {})[metric.step] = metric.value
        return series

    def _flush_if_not_writer(self) -> None:
        if threading.current_thread().name != self.writer._name:
            self.writer.flush()

    def mark_resumed(self, epoch: int) -> None:
        """This attempt continues from the checkpoint after `epoch`."""
        self.store.mark_resumed(self.run_id, self.owner, epoch)

    # ---- the parent run of a generation job ----------------------------------------------

    def parent_spec(self, options: GenerateOptions) -> JobSpec:
        """The trained run this generation job reads, checked against what the job asks of it."""
        return check_generate_parent(self.store, self.spec.parent, options)

    def parent_files(self) -> ArtifactStore:
        """The files of the trained run this generation job reads (its model.keras)."""
        return self.runs.scope(self.spec.parent)

    # ---- checkpoints ---------------------------------------------------------------------

    @property
    def cache_dir(self) -> Path:
        """The shared cache as a local folder, for libraries that download into one (FID's
        Inception weights); everything else goes through `cache`."""
        return self._held.enter_context(self.cache.local_path(""))

    def checkpoint_state(self) -> Optional[dict[str, Any]]:
        """The last checkpoint's state ({"epoch": n, ...}), or None when there is none."""
        return read_json(self.files, STATE)

    def save_checkpoint_state(self, state: dict[str, Any]) -> None:
        put_json(self.files, STATE, state)
        self.store.record_checkpoint(self.run_id, self.owner, int(state["epoch"]))

    def checkpoint(self, model, epochs_done: int, progress: Optional[int] = None, batch: int = 0,
                   state: Optional[dict[str, Any]] = None) -> None:
        """Checkpoint `model` after `epochs_done` epochs and `batch` batches of the next: its state
        (its random generators' included) is copied now (training thread),
        checkpoints/latest.keras then state.json are written in the background, and the run's
        progress moves to `progress` only once both are on disk (what a kill -9 resumes from).
        `state`: more of the recipe's position (greedy-ae's phase), kept with it in both files."""
        from latentq.runtime import snapshot

        with self.timings.measure("checkpoint"):
            taken = snapshot.take(model)
        position = {**(state or {}), "epoch": epochs_done, "batch": batch}
        taken.extra = position
        saved_at = time.time()

        def write() -> None:
            self.files.put(LATEST, taken.write)
            self.save_checkpoint_state({**position, "saved_at": saved_at})
            if progress is not None:
                self.progress(progress)

        self.writer.submit_checkpoint(write)

    # ---- artifacts -----------------------------------------------------------------------

    def artifact(self, kind: str, rel: str) -> None:
        """Register a file already written through `files`."""
        self.store.add_artifact(self.run_id, kind, rel)

    def put_artifact(self, kind: str, rel: str, data) -> None:
        """Write (bytes, or a callback writing a local path) and register one file, now."""
        self.files.put(rel, data)
        self.artifact(kind, rel)

    def save_grid(self, kind: str, rel: str, images: np.ndarray, cols: int, tensorboard: bool = True) -> None:
        """Drawn and written in the background (the images are the caller's to give away)."""
        self.writer.submit(self.grid_job(kind, rel, images, cols, tensorboard), part="picture", key=rel)

    def grid_job(self, kind: str, rel: str, images: np.ndarray, cols: int, tensorboard: bool = True):
        """What save_grid runs in the background: draw, write, send to TensorBoard (unless not), register."""
        def write() -> None:
            picture = pictures.grid(images, cols)
            self.files.put(rel, pictures.png(picture))
            if tensorboard:
                self.events_writer.image(rel, kind, picture)
            self.artifact(kind, rel)

        return write

    def save_rows(self, kind: str, rel: str, rows: list[np.ndarray]) -> None:
        """Rows of equally many images (originals over reconstructions), in the background."""
        self.save_grid(kind, rel, np.concatenate([np.asarray(r) for r in rows]), len(rows[0]))

    def close(self) -> None:
        try:
            self.writer.close()
        finally:
            try:
                self.events_writer.close()
            finally:
                self._held.close()
                if self._dataset is not None:
                    self._dataset.close()

    def save_curves(self, kind: str, rel: str, names: tuple[str, ...], title: str) -> None:
        """Drawn in the background from the metrics recorded so far (when there are any)."""
        def write() -> None:
            history = self.history(*names)
            if history:
                self.put_artifact(kind, rel, pictures.curves_png(history, title))

        self.writer.submit(write, part="picture", key=rel)

    def save_scatter(self, kind: str, rel: str, points: np.ndarray, labels: Optional[np.ndarray], title: str) -> None:
        self.put_artifact(kind, rel, pictures.scatter_png(points, labels, title))

    def save_model(self, model, rel: str = "model.keras", kind: str = "model") -> None:
        with self.phase("saving the model"), self.timings.measure("checkpoint"):
            self.files.put(rel, lambda tmp: model.save(tmp))
        self.artifact(kind, rel)

    def keras_callbacks(self) -> list:
        from latentq.runtime.callbacks import JobCallback

        callbacks = [JobCallback(self)]
        if self.spec.search is not None and self.spec.search.prune != "none":
            from latentq.runtime.pruning import PruningCallback

            callbacks.append(PruningCallback(self))  # after JobCallback: the epoch is recorded and checkpointed
        return callbacks
