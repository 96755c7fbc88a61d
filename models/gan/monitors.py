"""What a GAN run watches: generation quality every K epochs and mode collapse."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

import keras
import numpy as np

from latentq.models.samples import SampleFn, generate_images


RECALL_FLOOR = 0.1  # recall must have reached this before its fall can mean a collapse


@dataclass
class ModeCollapseWatcher:
    """The notes' mode collapse made visible, from either of two signals:

    - class_coverage falling below `threshold` after having been above it (a class or two of
      sampling noise around the threshold is not a collapse);
    - recall (the share of real images the samples' manifold covers) falling below
      `recall_drop` x its best so far, once that best reached RECALL_FLOOR: a collapsing
      generator keeps its precision and loses its recall, often before a class disappears.

    `update` returns a warning when a collapse begins."""

    threshold: float
    recall_drop: float = 0.5
    best: float = 0.0
    best_recall: float = 0.0
    collapsed: bool = False

    @classmethod
    def from_history(cls, threshold: float, history: dict[str, list[float]]) -> "ModeCollapseWatcher":
        coverage = history.get("class_coverage", [])
        flags = history.get("mode_collapse", [])
        return cls(threshold, best=max(coverage, default=0.0), best_recall=max(history.get("recall", []), default=0.0),
                   collapsed=bool(flags and flags[-1] >= 0.5))

    def update(self, epoch: int, coverage: float, recall: Optional[float] = None) -> Optional[str]:
        was = self.collapsed
        by_coverage = self.best > self.threshold + 1e-9 and coverage < self.threshold - 1e-9
        by_recall = (recall is not None and self.best_recall >= RECALL_FLOOR
                     and recall < self.recall_drop * self.best_recall - 1e-9)
        self.collapsed = by_coverage or by_recall
        best, best_recall = self.best, self.best_recall
        self.best = max(self.best, coverage)
        if recall is not None:
            self.best_recall = max(self.best_recall, recall)
        if not self.collapsed or was:
            return None
        if by_coverage:
            return (f"mode collapse at epoch {epoch}: class_coverage fell to {coverage:.3f}, below "
                    f"collapse_threshold={self.threshold:g}, after reaching {best:.3f}")
        return (f"mode collapse at epoch {epoch}: recall fell to {recall:.3f}, below {self.recall_drop:g} x its "
                f"best {best_recall:.3f} (the samples cover less and less of the real images)")


class HeldOutMonitor(keras.callbacks.Callback):
    """After each epoch: the discriminator on held-out real images and on fakes from fixed
    codings (GAN.held_out_scores), recorded as val_loss, val_d_real_accuracy and
    val_d_fake_accuracy (a val_loss well above loss: it memorises the training set). Takes the
    place of Keras's validation pass; timed as validation_seconds."""

    def __init__(self, ctx, real: np.ndarray, codings: np.ndarray):
        super().__init__()
        self.ctx = ctx
        self.real = real
        self.codings = codings

    def on_epoch_end(self, epoch, logs=None):
        if getattr(self.model, "stop_training", False):
            return
        live = self.ctx.signals.live  # in memory: the heartbeat writes it, no write per epoch here
        live.enter("validation")
        try:
            with self.ctx.timings.measure("validation"):
                scores = self.model.held_out_scores(self.real, self.codings)
        finally:
            live.leave("validation")
            self.ctx.record(epoch + 1, **{f"val_{name}": value for name, value in scores.items()})


EVAL_SHARE = 0.10  # default cadence: evaluation under this share of the run's wall time


class QualityMonitor(keras.callbacks.Callback):
    """After the last epoch, and every `every` epochs (or, with every=None, whenever the time spent
    evaluating stays under EVAL_SHARE of the run's time so far, one more evaluation and the final
    one included): fcd, class_coverage, class_kl of images generated from fixed noise, plus
    mode_collapse (0 or 1) and a warning event when a collapse begins. Timed as eval_seconds."""

    def __init__(self, ctx, every: Optional[int], noise: np.ndarray, threshold: float,
                 sample_fn: SampleFn = generate_images):
        super().__init__()
        self.ctx = ctx
        self.every = every
        self.noise = noise
        self.sample_fn = sample_fn
        self.labelled = True  # until the dataset turns out to have no labels to score with
        self.spent = 0.0  # seconds evaluating in this attempt
        self.last_cost: Optional[float] = None
        self.watcher = ModeCollapseWatcher.from_history(threshold,
                                                        ctx.history("class_coverage", "recall", "mode_collapse"))

    def due(self, done: int) -> bool:
        if not self.labelled or not len(self.noise):  # eval_samples=0: no evaluation at all
            return False
        if done == self.ctx.spec.epochs:
            return True
        if self.every is not None:
            return self.every > 0 and done % self.every == 0
        if self.last_cost is None:  # the first one tells what one costs
            return True
        # this one and the final one must fit in the share of the time so far
        return self.spent + 2 * self.last_cost <= EVAL_SHARE * self.ctx.timings.elapsed()

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if getattr(self.model, "stop_training", False) or not self.due(done):
            return
        start = time.perf_counter()
        with self.ctx.phase("quality evaluation"), self.ctx.timings.measure("eval"):
            self._evaluate(done)
        self.last_cost = time.perf_counter() - start
        self.spent += self.last_cost

    def _evaluate(self, done: int) -> None:
        scores = evaluate(self.ctx, self.sample_fn(self.model, self.noise))
        if not scores:  # no class labels: nothing to score with, say so once
            self.labelled = False
            self.ctx.event("info", f"dataset {self.ctx.spec.dataset!r} has no class labels: fcd / class_coverage "
                                   "are not computed")
            return
        self.ctx.record(done, **scores)
        if "class_coverage" in scores:
            warning = self.watcher.update(done, scores["class_coverage"], scores.get("recall"))
            self.ctx.record(done, mode_collapse=float(self.watcher.collapsed))
            if warning:
                self.ctx.event("warning", warning)


def evaluate(ctx, images: np.ndarray) -> dict[str, float]:
    """Generation metrics of images in [0, 1] (latentq.models.evaluation.quality); {} for unlabelled datasets."""
    from latentq.models.evaluation.quality import evaluate_samples

    return evaluate_samples(ctx.dataset(), images, ctx.cache, seed=ctx.spec.seed)


def save_epoch_curves(ctx, kind: str, rel: str, names: tuple[str, ...], title: str) -> None:
    """Curves of metrics recorded at some epochs only (every eval_every), against their epochs."""
    from latentq import pictures

    def write() -> None:  # in the background, after the metric rows queued before it
        series = ctx.history_by_step(*names)
        if not series:
            return
        steps = sorted({step for values in series.values() for step in values})
        history = {name: [values.get(step, float("nan")) for step in steps] for name, values in series.items()}
        ctx.put_artifact(kind, rel, pictures.curves_png(history, title, steps=steps))

    ctx.writer.submit(write, part="picture", key=rel)
