"""`latentq search`: the space and its bad inputs, the study in the run store's database, a trial
pruned in its training process (and retried), and a search on a real worker whose driver is
killed and resumed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest

from support import cli, invoke, wait_for

SPACE = ("codings=int:2..8",)
FIELDS = {"dataset": "digits", "epochs": 3, "batch_size": 64, "seed": 0}


# ---- the space and bad input ------------------------------------------------------------------


@pytest.mark.unit
def test_parse_param_kinds():
    from latentq.search import parse_param

    p = parse_param("codings=int:2..64:log")
    assert (p.kind, p.low, p.high, p.log) == ("int", 2, 64, True)
    p = parse_param("learning_rate=float:1e-4..1e-2:log")
    assert (p.kind, p.low, p.high, p.log) == ("float", 1e-4, 1e-2, True)
    p = parse_param("optimizer=choice:adam,sgd,adam")
    assert (p.kind, p.choices) == ("choice", ("adam", "sgd"))
    assert p.describe() == "optimizer=choice:adam,sgd"


BAD = [
    (["--param", "nope=int:1..4"], "has no parameter 'nope'"),
    (["--param", "codings=int:0..4"], "greater than or equal to 1"),
    (["--param", "codings=int:2..5000"], "less than or equal to 1024"),
    (["--param", "codings=int:8..4"], "inverted"),
    (["--param", "codings=int:4..4"], "empty"),
    (["--param", "learning_rate=float:0..1e-2:log"], "log range must lie above zero"),
    (["--param", "learning_rate=float:-1e-3..1e-2:log"], "log range must lie above zero"),
    (["--param", "codings=float:2..8"], "is an integer"),
    (["--param", "optimizer=choice:adam,bogus"], "received 'bogus'"),
    (["--param", "codings=int:2..8", "--objective", "accuracy"], "never records it"),
    (["--param", "codings=int:2..8", "--objective", "val_neg_elbo_nats"], "only at the end"),
    (["--param", "codings=int:2..8", "--trials", "0"], "--trials 0"),
    (["--param", "codings=int:2..8", "--trials", "10001"], "--trials 10001"),
    (["--param", "optimizer=choice:adam,sgd", "--sampler", "cmaes"], "numeric spaces only"),
    (["--param", "codings=int:2..8", "--set", "codings=4"], "also given with --set"),
    ([], "give the search space"),
]


@pytest.mark.cli
@pytest.mark.parametrize("args,message", BAD, ids=[" ".join(a) or "none" for a, _ in BAD])
def test_bad_input_is_one_line_and_creates_nothing(lq_home, args, message):
    result = invoke(["search", "vae", *args])
    assert result.code != 0
    assert len(result.error_lines) == 1, result.stderr
    assert message in result.error_lines[0]
    assert not (lq_home / "latentq.db").exists()  # not even the database


# ---- the study in the run store ---------------------------------------------------------------


def _definition(trials: int = 3, prune: str = "median"):
    from latentq.worker import search as searching

    return searching.define("linear-ae", SPACE, {}, dict(FIELDS), objective="val_loss", maximize=False,
                            trials=trials, parallel=1, prune=prune, sampler_name="random", queue="latentq",
                            priority=5, max_attempts=None)


@pytest.mark.unit
def test_study_beside_the_schema_leaves_latentq_db_commands_alone(store, settings):
    from latentq.worker import search as searching

    searching.create(store, settings, "beside", _definition())
    assert searching.searches(settings.db_url) == ["beside"]
    assert searching.resume(settings, "beside").space[0].describe() == "codings=int:2..8"
    current = invoke(["db", "current"])
    assert current.code == 0 and "(head)" in current.stdout, current.stdout + current.stderr
    again = invoke(["search", "linear-ae", "--param", "codings=int:2..8", "--group", "beside", "-d", "digits"])
    assert again.code != 0 and "exists" in again.error_lines[0]


@pytest.mark.training
def test_a_trial_is_pruned_in_its_process_then_retried_to_its_end(store, settings):
    """Two finished trials far better than anything linear-ae reaches: the median rule stops the
    third after its first epoch; the run ends cancelled with the decision, checkpointed; retried,
    it trains on to its end (its trial already ended in the study: nothing more to prune)."""
    import optuna
    from optuna.distributions import IntDistribution
    from optuna.trial import TrialState, create_trial

    from latentq.db.studies import storage
    from latentq.worker import jobs
    from latentq.worker import search as searching

    definition = _definition()
    study = searching.create(store, settings, "prune", definition)
    for codings in (3, 5):
        study.add_trial(create_trial(params={"codings": codings}, distributions={"codings": IntDistribution(2, 8)},
                                     value=1e-6, intermediate_values={1: 1e-6, 2: 1e-6, 3: 1e-6}))
    trial = study.ask()
    point = {"codings": trial.suggest_int("codings", 2, 8)}
    run_id = searching._submit(store, settings, "prune", definition, study, trial.number, trial._trial_id, point,
                               send=lambda _run_id: None, say=lambda _line: None)

    status = jobs.execute_run(run_id, settings)
    assert status["status"] == "cancelled", status
    assert status["error"].startswith("pruned at epoch 1: val_loss ")
    assert "worse than the median 1e-06 of 2 finished trials at epoch 1" in status["error"]
    run = store.get(run_id)
    assert (run.epoch, run.checkpoint_epoch) == (1, 1)
    assert any(e.message == status["error"] for e in store.events(run_id))
    assert optuna.load_study(study_name="latentq:prune", storage=storage(settings.db_url)).trials[2].state == TrialState.PRUNED
    shown = searching.summary(store, "prune")
    assert shown["counts"] == {"complete": 2, "pruned": 1}
    assert shown["pruned_at"] == {"1": 1}
    assert shown["trials"][2]["run"] == run_id

    assert jobs.retry(store, run_id, local=(socket.gethostname(), os.getpid())) == "local"
    status = jobs.execute_run(run_id, settings)
    assert status["status"] == "succeeded", status
    assert store.get(run_id).epoch == 3
    assert any("already ended in the study" in e.message for e in store.events(run_id))


# ---- on the fleet -----------------------------------------------------------------------------


def test_search_on_a_worker_survives_its_driver(store, settings, start_worker, tmp_path):
    """4 tiny trials, 2 at a time, ASHA: the driver is killed once two trials are queued; they still
    run; --resume tells the study how they ended and finishes the search."""
    import optuna

    from latentq.db.studies import storage

    start_worker()
    args = ["search", "linear-ae", "-d", "digits", "--epochs", "3", "--batch-size", "64",
            "--param", "codings=int:2..16", "--param", "learning_rate=float:0.003..0.1:log",
            "--trials", "4", "--parallel", "2", "--prune", "asha", "--sampler", "random", "--group", "fleet",
            "--poll", "0.2"]
    driver = subprocess.Popen([sys.executable, "-m", "latentq.cli.main", *args], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, env=os.environ.copy(), start_new_session=True)
    try:
        wait_for(lambda: len(store.list_runs(group="fleet")) >= 2, timeout=120, what="two trials queued")
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    first = [r.id for r in store.list_runs(group="fleet")]
    wait_for(lambda: all(store.get(r).status.finished for r in first), timeout=240,
             what="the dead driver's trials to end on the worker")

    resumed = cli("search", "--resume", "fleet", "--poll", "0.2", timeout=400)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "best: trial" in resumed.stdout

    study = optuna.load_study(study_name="latentq:fleet", storage=storage(settings.db_url))
    assert len(study.trials) == 4
    runs = {r.id: r for r in store.list_runs(group="fleet")}
    assert len(runs) == 4  # none submitted twice
    points = {tuple(sorted(t.params.items())) for t in study.trials}
    assert len(points) == 4  # the resumed driver proposes new points, not the dead one's again
    for t in study.trials:
        run = runs[t.user_attrs["run_id"]]
        assert run.spec and f'"trial": {t.number}' in run.spec
        if t.state.name == "PRUNED":
            assert run.status == "cancelled" and run.error.startswith("pruned at epoch ")
            assert run.epoch < 3
        elif t.state.name == "FAIL":  # only a run that failed, or ended with no finite objective
            assert run.status != "succeeded" or "val_loss" not in store.latest_metrics(run.id), run.error
        else:
            assert t.state.name == "COMPLETE", t.state
            assert run.status == "succeeded" and run.epoch == 3
            assert t.value == pytest.approx(store.latest_metrics(run.id)["val_loss"])
    shown = invoke(["search", "show", "fleet", "--json"])
    assert shown.code == 0, shown.stderr
    import json

    data = json.loads(shown.stdout)
    assert data["epochs_trained"] == sum(r.epoch for r in runs.values())
    assert data["best"]["run"] in runs
    assert (settings.artifact_root / data["best"]["run"] / "plots/search.png").is_file()
