"""`latentq search`: an Optuna study whose trials are ordinary runs on the fleet.

The driver (the CLI process) loops ask -> submit -> poll the store -> tell; Celery runs the
trials, and each trial reports its objective per epoch to the study itself (latentq.runtime.pruning),
so a pruned trial stops in its training process. Everything the driver knows lives in the run
store's database (the study, its definition as a user attribute, each trial's run id), so a
driver that dies leaves its queued trials running, and `--resume GROUP` (from any machine) tells
the study what finished meanwhile and goes on."""

from __future__ import annotations

import io
import json
import logging
import math
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional

from latentq.db.tables import RunStatus
from latentq.db.store import Store
from latentq.db.studies import storage
from latentq.errors import NotFound, StateError, UserError
from latentq.search import (MAX_TRIALS, PRUNERS, SPEC_FIELDS, Param, check_objective, check_space, parse_space,
                            pruner, sampler, study_name)
from latentq.settings import Settings

log = logging.getLogger("latentq.search")

DEFINITION = "latentq_search"  # the study's user attribute holding its Definition
RUN_ID = "run_id"  # each trial's user attribute: the run that trains it
PICTURE = "plots/search.png"


@dataclass(frozen=True)
class Definition:
    """What a search is: enough to resume it from any machine."""

    recipe: str
    space: list[Param]
    params: dict[str, Any]  # --set: fixed recipe parameters
    fields: dict[str, Any]  # dataset, epochs, batch_size, seed
    objective: str = "val_loss"
    maximize: bool = False
    trials: int = 20
    parallel: int = 4
    prune: str = "median"
    sampler: str = "tpe"
    queue: str = "latentq"
    priority: int = 5
    max_attempts: Optional[int] = None
    idempotency_key: Optional[str] = field(default=None)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["space"] = [p.as_dict() for p in self.space]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Definition":
        return cls(**{**data, "space": [Param.from_dict(p) for p in data["space"]]})

    def spec(self, point: dict[str, Any], group: str, number: Optional[int] = None):
        """The validated job of one point (and trial `number`, when it is one)."""
        from latentq.data_checks import check_job
        from latentq.spec import build_spec

        fields = dict(self.fields)
        params = dict(self.params)
        for key, value in point.items():
            (fields if key in SPEC_FIELDS else params)[key] = value
        extra: dict[str, Any] = {}
        if number is not None:
            extra = {"name": f"{group}-{number + 1:02d}", "idempotency_key": f"search:{group}:{number}",
                     "search": {"study": study_name(group), "trial": number, "objective": self.objective,
                                "prune": self.prune}}
        spec = build_spec(kind="train", recipe=self.recipe, params=params, queue=self.queue, priority=self.priority,
                          **fields, **extra)
        check_job(spec)
        return spec


def define(recipe: str, param_texts: tuple[str, ...], params: dict[str, Any], fields: dict[str, Any], *,
           objective: str, maximize: bool, trials: int, parallel: int, prune: str, sampler_name: str,
           queue: str, priority: int, max_attempts: Optional[int]) -> Definition:
    """Check a whole search before anything exists: one UserError line for the first problem."""
    if not 1 <= trials <= MAX_TRIALS:
        raise UserError(f"--trials {trials}: allowed 1 to {MAX_TRIALS}")
    if not 1 <= parallel <= MAX_TRIALS:
        raise UserError(f"--parallel {parallel}: allowed 1 to {MAX_TRIALS}")
    if prune not in PRUNERS:
        raise UserError(f"--prune {prune}: allowed: {', '.join(PRUNERS)}")
    space = parse_space(param_texts)
    definition = Definition(recipe=recipe, space=space, params=params, fields=fields, objective=objective,
                            maximize=maximize, trials=trials, parallel=min(parallel, trials), prune=prune,
                            sampler=sampler_name, queue=queue, priority=priority, max_attempts=max_attempts)
    definition.spec({}, "check")  # the fixed part alone: unknown recipe, bad --set, dataset
    check_space(recipe, space, params, lambda point: definition.spec(point, "check"))
    check_objective(recipe, objective, prune)
    sampler(sampler_name, int(fields.get("seed") or 0), space)
    return definition


def _load(db_url: str, group: str, definition: Optional[Definition] = None):
    import optuna

    rdb = storage(db_url)
    name = study_name(group)
    try:
        study = optuna.load_study(study_name=name, storage=rdb)
    except KeyError:
        raise NotFound(f"no search {group!r} (searches: {', '.join(searches(db_url)) or 'none yet'})") from None
    stored = Definition.from_json(study.user_attrs[DEFINITION])
    definition = definition or stored
    # A sampler seeded as the first driver's would propose its points again: a resumed driver's
    # seed moves on by the trials already asked.
    seed = int(definition.fields.get("seed") or 0) + len(study.get_trials(deepcopy=False))
    return optuna.load_study(study_name=name, storage=rdb, pruner=pruner(definition.prune),
                             sampler=sampler(definition.sampler, seed, definition.space)), stored


def searches(db_url: str) -> list[str]:
    import optuna

    names = [s.study_name for s in optuna.get_all_study_summaries(storage(db_url), include_best_trial=False)]
    return sorted(n.split(":", 1)[1] for n in names if n.startswith("latentq:"))


def create(store: Store, settings: Settings, group: str, definition: Definition):
    """The study for a new search named `group`; refused when the group exists (as a search or a sweep)."""
    import optuna

    rdb = storage(settings.db_url)
    if group in searches(settings.db_url):
        raise StateError(f"search {group!r} exists: continue it with `latentq search --resume {group}`, "
                         "or choose another --group")
    if store.list_runs(limit=1, group=group):
        raise StateError(f"group {group!r} already holds runs (a sweep?); choose another --group")
    study = optuna.create_study(study_name=study_name(group), storage=rdb,
                                direction="maximize" if definition.maximize else "minimize",
                                sampler=sampler(definition.sampler, int(definition.fields.get("seed") or 0),
                                                definition.space),
                                pruner=pruner(definition.prune))
    study.set_user_attr(DEFINITION, definition.to_json())
    return study


def resume(settings: Settings, group: str) -> Definition:
    return _load(settings.db_url, group)[1]


Say = Callable[[str], None]


def drive(store: Store, settings: Settings, group: str, definition: Definition, poll: float = 1.0,
          say: Say = lambda line: None, send=None) -> dict[str, Any]:
    """Run the search to its end: keep `parallel` trials in flight until `trials` have been asked,
    then wait for the last. Returns the summary."""
    from optuna.trial import TrialState

    study, _ = _load(settings.db_url, group, definition)
    while True:
        trials = study.get_trials(deepcopy=False)
        for t in trials:
            if t.state != TrialState.RUNNING:
                continue
            run_id = t.user_attrs.get(RUN_ID)
            if run_id is None:  # the driver died between ask and submit: submit it now (same key, same run)
                if set(t.params) != {p.name for p in definition.space}:
                    study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
                    continue
                run_id = _submit(store, settings, group, definition, study, t.number, t._trial_id, dict(t.params),
                                 send, say)
            _tell_if_done(store, study, t.number, run_id, definition, say)
        trials = study.get_trials(deepcopy=False)
        in_flight = sum(t.state == TrialState.RUNNING for t in trials)
        if len(trials) < definition.trials and in_flight < definition.parallel:
            trial = study.ask()
            point = {p.name: p.suggest(trial) for p in definition.space}
            _submit(store, settings, group, definition, study, trial.number, trial._trial_id, point, send, say)
            continue
        if len(trials) >= definition.trials and in_flight == 0:
            break
        time.sleep(poll)
    return summary(store, group, settings, picture=True)


def _submit(store: Store, settings: Settings, group: str, definition: Definition, study, number: int,
            trial_id: int, point: dict[str, Any], send, say: Say) -> str:
    from latentq.worker import jobs

    spec = definition.spec(point, group, number)
    done = jobs.submit(store, settings, spec, max_attempts=definition.max_attempts, group=group, send=send)
    run_id = done.status["id"]
    study._storage.set_trial_user_attr(trial_id, RUN_ID, run_id)
    shown = ", ".join(f"{k}={_fmt(v)}" for k, v in point.items())
    say(f"trial {number}: run {run_id} queued ({shown})")
    return run_id


def _tell_if_done(store: Store, study, number: int, run_id: str, definition: Definition, say: Say) -> None:
    """Tell the study how trial `number` ended once its run has: its objective (succeeded), pruned,
    or failed (failed, cancelled by a user, deleted)."""
    from optuna.trial import TrialState

    try:
        run = store.get(run_id)
    except NotFound:
        study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
        say(f"trial {number}: run {run_id} deleted: failed")
        return
    if run.status in RunStatus.ACTIVE:
        return
    if run.status == RunStatus.SUCCEEDED:
        value = store.latest_metrics(run_id).get(definition.objective)
        if value is not None and math.isfinite(value):
            study.tell(number, value, skip_if_finished=True)
            say(f"trial {number}: run {run_id} {definition.objective} {value:.5g}")
            return
    if run.status == RunStatus.CANCELLED and (run.error or "").startswith("pruned"):
        study.tell(number, state=TrialState.PRUNED, skip_if_finished=True)
        say(f"trial {number}: run {run_id} {run.error}")
        return
    study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
    say(f"trial {number}: run {run_id} {run.status}{': ' + run.error if run.error else ''}")


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


# ---- results ---------------------------------------------------------------------------------


def summary(store: Store, group: str, settings: Optional[Settings] = None, picture: bool = False) -> dict[str, Any]:
    """The search's trials, best trial, pruning (how many at which epoch) and budget: epochs
    trained against the same trials each run to its end."""
    from optuna.trial import TrialState

    study, definition = _load(store.db_url, group)
    trials = study.get_trials(deepcopy=False)
    runs = {r.id: r for r in store.list_runs(limit=MAX_TRIALS + 1, group=group)}
    rows = []
    for t in trials:
        run = runs.get(t.user_attrs.get(RUN_ID))
        rows.append({"trial": t.number, "state": t.state.name.lower(), "value": t.value, "params": t.params,
                     "run": run.id if run else None, "status": str(run.status) if run else None,
                     "epochs_trained": run.epoch if run else 0, "epochs": run.epochs if run else None,
                     "pruned_at": (max(t.intermediate_values) if t.state == TrialState.PRUNED and t.intermediate_values
                                   else None)})
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = None
    if complete:
        b = study.best_trial
        best = {"trial": b.number, "value": b.value, "params": b.params, "run": b.user_attrs.get(RUN_ID)}
    ended = [r for r in rows if r["state"] in ("complete", "pruned")]
    trained = sum(r["epochs_trained"] for r in ended)
    full = sum(r["epochs"] or 0 for r in ended)
    result = {
        "group": group, "recipe": definition.recipe, "objective": definition.objective,
        "direction": "maximize" if definition.maximize else "minimize", "sampler": definition.sampler,
        "prune": definition.prune, "space": [p.describe() for p in definition.space],
        "trials_planned": definition.trials, "counts": dict(Counter(r["state"] for r in rows)),
        "pruned_at": {str(k): v for k, v in sorted(Counter(r["pruned_at"] for r in rows
                                                           if r["pruned_at"] is not None).items())},
        "epochs_trained": trained, "epochs_unpruned": full,
        "budget_share": (trained / full) if full else None,
        "best": best, "trials": rows, "picture": None,
    }
    if picture and settings is not None and best and best["run"]:
        result["picture"] = save_picture(store, settings, study, definition, best["run"])
    return result


def save_picture(store: Store, settings: Settings, study, definition: Definition, run_id: str) -> Optional[str]:
    """Parallel coordinates of the trials (a line per trial through its parameters to its
    objective, the best in black) beside each parameter's importance, as the best trial's
    plots/search.png (shown by its page, `report`, and the group's compare page)."""
    from latentq.runtime import artifacts

    png = picture_png(study, definition)
    if png is None:
        return None
    artifacts.runs(settings).scope(run_id).put(PICTURE, png)
    store.add_artifact(run_id, "search", PICTURE)
    return PICTURE


def importances(study) -> dict[str, float]:
    """Optuna's fANOVA importance of each parameter (offline); empty when it cannot tell yet."""
    from optuna.trial import TrialState

    if len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < 3:
        return {}
    try:
        import optuna

        return dict(optuna.importance.get_param_importances(study))
    except Exception as exc:  # too few distinct points, or a single-valued parameter
        log.info("no importances: %s", exc)
        return {}


def picture_png(study, definition: Definition) -> Optional[bytes]:
    from optuna.trial import TrialState

    from latentq.pictures import _pyplot

    done = [t for t in study.get_trials(deepcopy=False) if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    if not done:
        return None
    plt = _pyplot()
    names = [p.name for p in definition.space]
    fig, (ax, bars) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [3, 1]})

    def position(p: Param, value: Any) -> float:
        if p.kind == "choice":
            return p.choices.index(str(value)) / max(len(p.choices) - 1, 1) if str(value) in p.choices else 0.5
        low, high, v = float(p.low), float(p.high), float(value)
        if p.log:
            low, high, v = math.log(low), math.log(high), math.log(v)
        return (v - low) / (high - low)

    def value_of(t) -> Optional[float]:
        if t.state == TrialState.COMPLETE:
            return t.value
        return t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else None

    values = [v for t in done if (v := value_of(t)) is not None and math.isfinite(v)]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    best = study.best_trial.number if any(t.state == TrialState.COMPLETE for t in done) else None
    cmap = plt.get_cmap("viridis_r" if not definition.maximize else "viridis")
    for t in done:
        v = value_of(t)
        if v is None or not math.isfinite(v):
            continue
        ys = [position(p, t.params.get(p.name)) for p in definition.space] + [(v - lo) / ((hi - lo) or 1.0)]
        pruned = t.state == TrialState.PRUNED
        ax.plot(range(len(ys)), ys, color="black" if t.number == best else cmap((v - lo) / ((hi - lo) or 1.0)),
                linewidth=2.5 if t.number == best else 1.0, linestyle=":" if pruned else "-", alpha=0.9)
    ax.set_xticks(range(len(names) + 1))
    ax.set_xticklabels([f"{p.name}\n{_range(p)}" for p in definition.space]
                       + [f"{definition.objective}\n{lo:.3g}..{hi:.3g}"], fontsize=8)
    ax.set_yticks([])
    for x in range(len(names) + 1):
        ax.axvline(x, color="grey", linewidth=0.5)
    ax.set_title(f"{len(done)} trials (dotted: pruned, at their last epoch; black: best)")
    scores = importances(study)
    if scores:
        keys = list(scores)[::-1]
        bars.barh(keys, [scores[k] for k in keys], color="C0")
        bars.set_title("importance (fANOVA)")
    else:
        bars.axis("off")
        bars.text(0.5, 0.5, "importance: needs 3 or more\nfinished trials", ha="center", va="center")
    fig.tight_layout()
    out = io.BytesIO()
    try:
        fig.savefig(out, format="png", dpi=90)
    finally:
        plt.close(fig)
    return out.getvalue()


def _range(p: Param) -> str:
    if p.kind == "choice":
        return ",".join(p.choices)
    return f"{p.low:g}..{p.high:g}" + (" log" if p.log else "")


def page_summary(store: Store, group: str) -> Optional[dict[str, Any]]:
    """For the group's compare page: the best trial and the picture, when the group is a search
    (read from one run's spec first, so a sweep's page never opens Optuna)."""
    first = store.list_runs(limit=1, group=group)
    if not first or "search" not in json.loads(first[0].spec):
        return None
    try:
        data = summary(store, group)
    except UserError:
        return None
    best_run = (data["best"] or {}).get("run")
    picture = None
    if best_run and any(a.path == PICTURE for a in store.artifacts(best_run)):
        picture = {"run": best_run, "path": PICTURE}
    return {"best": data["best"], "objective": data["objective"], "direction": data["direction"],
            "counts": data["counts"], "pruned_at": data["pruned_at"], "budget_share": data["budget_share"],
            "picture": picture}
