"""sweep, run-id prefixes, rm, compare, list filters through the real entry point (subprocesses), with
real Redis and a real worker where a run must move."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from support import cli, fake_run, wait_for

SWEEP = ["sweep", "stacked-ae", "--grid", "codings=2,3", "--grid", "hidden=8,16", "--dataset", "digits",
         "--epochs", "1", "--name", "tiny", "--json"]


def test_a_sweep_submitted_twice_is_one_group_of_four_runs(lq_home, broker, tmp_path):
    first = cli(*SWEEP)
    assert first.returncode == 0, first.stderr
    made = json.loads(first.stdout)
    assert made["group"] == "tiny" and made["created"] == 4
    assert sorted((r["point"]["codings"], r["point"]["hidden"]) for r in made["runs"]) == [
        ("2", "16"), ("2", "8"), ("3", "16"), ("3", "8")]  # each run's grid values
    again = json.loads(cli(*SWEEP).stdout)
    assert again["created"] == 0
    assert [r["id"] for r in again["runs"]] == [r["id"] for r in made["runs"]]
    listed = json.loads(cli("list", "--group", "tiny", "--json").stdout)
    assert len(listed) == 4 and {r["group"] for r in listed} == {"tiny"}
    assert sorted(r["name"] for r in listed) == ["tiny-01", "tiny-02", "tiny-03", "tiny-04"]
    assert {r["id"] for r in listed} == {r["id"] for r in made["runs"]}
    compared = cli("compare", "--group", "tiny", "-o", str(tmp_path / "c.png"), "--json")
    assert compared.returncode == 0, compared.stderr
    diff = json.loads(compared.stdout)["differences"]
    assert sorted(diff) == ["name", "params.codings", "params.hidden"]
    assert sorted(diff["params.codings"].values()) == [2, 2, 3, 3]
    human = cli("list", "--group", "tiny")
    assert all(r["id"] in human.stdout for r in listed) and "tiny-01" in human.stdout
    table = cli(*SWEEP[:-1])  # a sweep again, for people: a row per run with its point
    assert table.returncode == 0, table.stderr
    header, *rows = [line.split() for line in table.stdout.splitlines() if line.strip()][:5]
    assert header == ["id", "status", "codings", "hidden", "name"], table.stdout
    assert sorted((row[2], row[3]) for row in rows) == [("2", "16"), ("2", "8"), ("3", "16"), ("3", "8")]


def test_a_random_sweep_draws_the_same_points_for_the_same_seed(lq_home, broker):
    args = ["sweep", "stacked-ae", "--grid", "codings=2,3,4", "--grid", "hidden=8,16", "--random", "2",
            "--seed", "7", "--epochs", "1", "--dataset", "digits", "--json"]
    one = json.loads(cli(*args).stdout)
    two = json.loads(cli(*args).stdout)
    assert one["created"] == 2 and two["created"] == 0 and one["group"].startswith("stacked-ae-")
    assert [r["id"] for r in one["runs"]] == [r["id"] for r in two["runs"]]


@pytest.mark.parametrize("args, needle", [
    (["sweep", "stacked-ae", "--grid", "codings"], "expected key=v1,v2"),
    (["sweep", "stacked-ae", "--grid", "codings=2,-1"], "codings"),
    (["sweep", "stacked-ae", "--grid", "bogus=1,2"], "unknown parameter 'bogus'"),
    (["sweep", "stacked-ae", "--grid", "codings=2", "--set", "codings=3"], "both on the grid and in --set"),
])
def test_a_bad_sweep_is_one_line_and_creates_nothing(lq_home, args, needle):
    result = cli(*args)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and needle in errors[0], result.stderr
    assert json.loads(cli("list", "--json").stdout) == []


def test_an_empty_list_says_how_to_make_a_run_or_that_nothing_matches(lq_home, store, settings):
    first = cli("list")
    assert first.returncode == 0 and "no runs yet" in first.stdout and "latentq run RECIPE" in first.stdout
    fake_run(store, settings, name="only")
    assert cli("list", "--recipe", "gan").stdout.strip() == "no run matches these filters"
    assert "only" in cli("list").stdout


def test_unique_prefixes_work_everywhere_and_ambiguous_ones_list_the_matches(lq_home, store, settings):
    ids = [fake_run(store, settings, name=f"r{i}", sample_epochs=1) for i in range(17)]
    by_first: dict[str, list[str]] = {}
    for run_id in ids:
        by_first.setdefault(run_id[0], []).append(run_id)
    prefix, matches = next((p, m) for p, m in by_first.items() if len(m) > 1)
    result = cli("status", prefix)
    assert result.returncode == 2 and "ambiguous" in result.stderr
    assert all(m in result.stderr for m in matches) and len(result.stderr.strip().splitlines()) == 1
    unique = next(r for r in ids if not any(o != r and o.startswith(r[:5]) for o in ids))
    line = cli("status", unique[:5])
    assert line.returncode == 0 and line.stdout.count("\n") == 1 and line.stdout.startswith(unique)
    shown = json.loads(cli("show", unique[:5], "--history", "--json").stdout)
    assert shown["id"] == unique and shown["history"]["loss"] == [[1, pytest.approx(shown["history"]["loss"][0][1])]]
    assert "per epoch" in cli("show", unique[:5], "--history").stdout
    assert cli("cancel", unique[:5]).returncode == 1  # found, but already finished: a state error


def test_list_filters_and_the_name_column(lq_home, store, settings):
    fake_run(store, settings, name="keep-me", group="g")
    fake_run(store, settings, recipe="stacked-ae", name="other", status="failed")
    names = lambda *a: [r["name"] for r in json.loads(cli("list", "--json", *a).stdout)]  # noqa: E731
    assert names("--recipe", "vae") == ["keep-me"]
    assert names("--status", "failed") == ["other"]
    assert names("--name", "keep") == ["keep-me"] and names("--group", "g") == ["keep-me"]
    assert len(names("--limit", "1")) == 1
    wide = cli("list", "--wide", env={"COLUMNS": "60"}).stdout
    assert all(len(line) > 60 for line in wide.splitlines()[1:])  # one line per run, never wrapped


def test_models_recipe_details_one_recipe(lq_home):
    out = cli("models", "vae")
    assert out.returncode == 0 and "codings" in out.stdout and "generation jobs: " in out.stdout
    assert "stacked-ae" not in out.stdout
    assert json.loads(cli("models", "vae", "--json").stdout)["name"] == "vae"
    bad = cli("models", "nope")
    assert bad.returncode == 2 and "unknown recipe 'nope'" in bad.stderr


def _rm(*args: str, answer: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "latentq.cli.main", "rm", *args], capture_output=True, text=True,
                          input=answer, env=dict(os.environ), timeout=120)


@pytest.mark.integration
def test_rm_refuses_a_running_run_then_deletes_it_with_its_files_once_cancelled(lq_home, start_worker):
    start_worker()
    submitted = cli("submit", "stacked-ae", "--dataset", "digits", "--epochs", "500", "--set", "hidden=8",
                    "--set", "codings=2", "--json")
    run_id = json.loads(submitted.stdout)["id"]
    wait_for(lambda: json.loads(cli("status", run_id, "--json").stdout)["epoch"] >= 1, what="first epoch")
    run_dir = lq_home / "runs" / run_id
    refused = _rm(run_id[:6], "--yes")
    assert refused.returncode == 1 and "cancel it first" in refused.stderr and run_dir.is_dir()
    assert cli("cancel", run_id[:6]).returncode == 0
    wait_for(lambda: json.loads(cli("status", run_id, "--json").stdout)["status"] == "cancelled", what="cancelled")
    kept = _rm(run_id[:6], answer="n\n")
    assert kept.returncode != 0 and run_dir.is_dir()
    gone = _rm(run_id[:6], answer="y\n")
    assert gone.returncode == 0 and "deleted 1 run" in gone.stdout, gone.stderr
    assert not run_dir.exists()
    assert "no run with id" in cli("status", run_id).stderr


def test_rm_by_status_and_age(lq_home, store, settings):
    failed = fake_run(store, settings, status="failed", sample_epochs=1)
    ok = fake_run(store, settings, sample_epochs=1)
    assert "no runs match" in _rm("--status", "failed", "--older-than", "1", "--yes").stdout
    done = _rm("--status", "failed", "--yes")
    assert done.returncode == 0 and failed in done.stdout
    assert not (settings.artifact_root / failed).exists() and (settings.artifact_root / ok).is_dir()
    assert [r.id for r in store.list_runs()] == [ok]
    assert _rm().returncode == 2
