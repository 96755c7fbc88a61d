"""TensorBoard event files for a run: per-epoch scalars and its picture grids, under
runs/<id>/tensorboard/, so `tensorboard --logdir $LATENTQ_HOME/runs` shows every run.

Written from the training process only (TensorFlow is imported on first use); a failure to
write events is logged once and never fails the run. The event files are appended to as the run
goes, so the writer gets its folder from the artifact store's `local_path` for the whole run."""

from __future__ import annotations

import contextlib
import logging
import re
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from latentq.runtime.artifacts import ArtifactStore

log = logging.getLogger("latentq.tensorboard")
_NUMBERED = re.compile(r"(\d+)\.[a-z]+$", re.IGNORECASE)


class EventWriter:
    def __init__(self, files: "ArtifactStore", name: str = "tensorboard"):
        self.files = files
        self.name = name
        self._held = contextlib.ExitStack()  # the local folder, until close (a remote store uploads it then)
        self._writer = None
        self._broken = False
        self.last_step = 0

    def _get(self):
        if self._writer is None and not self._broken:
            try:
                import tensorflow as tf

                logdir = self._held.enter_context(self.files.local_path(self.name))
                self._writer = tf.summary.create_file_writer(str(logdir))
            except Exception as exc:  # no TensorFlow / TensorBoard here: events are optional
                self._fail(exc)
        return self._writer

    def _fail(self, exc: Exception) -> None:
        if not self._broken:
            log.warning("TensorBoard events off for %s: %s", self.files.location(self.name), exc)
        self._broken = True

    def scalars(self, step: int, values: dict[str, float]) -> None:
        writer = self._get()
        if writer is None or not values:
            return
        try:
            import tensorflow as tf

            with writer.as_default():
                for name, value in values.items():
                    tf.summary.scalar(name, value, step=step)
            writer.flush()
            self.last_step = max(self.last_step, step)
        except Exception as exc:
            self._fail(exc)

    def image(self, rel: str, kind: str, picture: np.ndarray) -> None:
        """A grid PNG as an image summary: numbered files (samples/epoch_003.png) under their kind at
        that step, other pictures under their path at the latest epoch."""
        writer = self._get()
        if writer is None:
            return
        match = _NUMBERED.search(rel)
        tag, step = (kind, int(match.group(1))) if match else (rel.rsplit(".", 1)[0], self.last_step)
        try:
            import tensorflow as tf

            picture = np.asarray(picture, dtype=np.uint8)
            if picture.ndim == 2:
                picture = picture[..., None]
            with writer.as_default():
                tf.summary.image(tag, picture[None], step=step)
            writer.flush()
        except Exception as exc:
            self._fail(exc)

    def close(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception as exc:
                self._fail(exc)
            self._writer = None
        self._held.close()
