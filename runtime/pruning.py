"""A search trial's pruning, in the training process at each epoch's end: the objective goes to the
trial through Optuna's storage (the run store's database), the study's pruner decides, and a
pruned trial stops through the run's stop signals (reason "pruned"), so the epoch's checkpoint is
on disk and the run ends cancelled with the decision as its error and an event."""

from __future__ import annotations

import logging
import math

import keras

log = logging.getLogger("latentq.pruning")


class PruningCallback(keras.callbacks.Callback):
    """Reports `spec.search.objective` after every epoch to the run's Optuna trial; when the pruner
    says so, marks the trial PRUNED and stops the run. A trial that is no longer running in the
    study (pruned before, and now retried) reports nothing and trains to its end."""

    def __init__(self, ctx):
        super().__init__()
        self.ctx = ctx
        self.search = ctx.spec.search
        self._trial = None
        self._study = None
        self._off = False

    def _open(self):
        import optuna
        from optuna.trial import TrialState

        from latentq.db.studies import storage
        from latentq.search import pruner

        rdb = storage(self.ctx.store.db_url)
        self._study = optuna.load_study(study_name=self.search.study, storage=rdb, pruner=pruner(self.search.prune))
        trial_id = rdb.get_trial_id_from_study_id_trial_number(self._study._study_id, self.search.trial)
        if rdb.get_trial(trial_id).state != TrialState.RUNNING:
            self._off = True
            self.ctx.event("info", f"search trial {self.search.trial} already ended in the study: no pruning")
            return None
        return optuna.trial.Trial(self._study, trial_id)

    def on_epoch_end(self, epoch, logs=None):
        if self._off or self.ctx.stop_reason():
            return
        value = (logs or {}).get(self.search.objective)
        if value is None or not math.isfinite(float(value)):
            return
        value, step = float(value), epoch + 1
        try:
            if self._trial is None:
                self._trial = self._open()
                if self._trial is None:
                    return
            self._trial.report(value, step)
            if not self._trial.should_prune():
                return
            from optuna.trial import TrialState

            from latentq.search import prune_reason

            reason = prune_reason(self._study, self.search.prune, self.search.objective, step, value)
            self._study.tell(self._trial, state=TrialState.PRUNED)
        except Exception as exc:  # the search's bookkeeping must not fail the run: it trains on, unpruned
            self._off = True
            log.warning("run %s: pruning off: %s", self.ctx.run_id, exc)
            self.ctx.event("warning", f"search trial {self.search.trial}: pruning off ({type(exc).__name__}: {exc})")
            return
        self.ctx.signals.pruned = reason
        self.model.stop_training = True
