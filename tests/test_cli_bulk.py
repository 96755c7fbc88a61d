"""Runs in bulk: `cancel` of several ids or of a selection (asking first), `rm --cancel` of queued
runs, "n" at a prompt (exit 1, nothing done), and a worker dropping the message of a run deleted
while queued with one info line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from support import invoke, wait_for


def _queued(store, n: int, recipe: str = "vae", group: str | None = None) -> list[str]:
    spec = {"kind": "train", "recipe": recipe, "dataset": "digits", "epochs": 1, "batch_size": 32, "seed": 0,
            "params": {}, "queue": "latentq", "priority": 5}
    return [store.create_run(dict(spec), max_attempts=3, group=group)[0] for _ in range(n)]


def _answering(answer: str, *args: str) -> subprocess.CompletedProcess:
    """The real entry point, with `answer` typed at its prompt."""
    return subprocess.run([sys.executable, "-m", "latentq.cli.main", *args], input=answer, capture_output=True,
                          text=True, env=dict(os.environ), timeout=120)


def _statuses(store, ids: list[str]) -> list[str]:
    return [store.get(i).status for i in ids]


def test_cancel_takes_several_ids(store):
    a, b, c = _queued(store, 3)
    result = invoke(["cancel", a, b[:8], "--yes"])
    assert result.code == 0, result.stderr
    assert "cancelled 2 queued runs" in result.stdout
    assert _statuses(store, [a, b, c]) == ["cancelled", "cancelled", "queued"]


def test_cancel_by_group_asks_first_and_n_cancels_nothing(store):
    mine = _queued(store, 3, group="sweep-a")
    other = _queued(store, 2, group="sweep-b")
    refused = _answering("n\n", "cancel", "--group", "sweep-a")
    assert refused.returncode == 1, refused.stderr
    assert "Cancel 3 runs?" in refused.stderr and "nothing cancelled" in refused.stderr
    assert mine[0] in refused.stdout  # the runs are listed before the question
    assert set(_statuses(store, mine + other)) == {"queued"}

    agreed = _answering("y\n", "cancel", "--group", "sweep-a")
    assert agreed.returncode == 0, agreed.stderr
    assert _statuses(store, mine) == ["cancelled"] * 3 and _statuses(store, other) == ["queued"] * 2


def test_cancel_filters_by_status_and_recipe(store):
    vae = _queued(store, 2, recipe="vae")
    ae = _queued(store, 2, recipe="stacked-ae")
    running = _queued(store, 1, recipe="vae")[0]
    assert store.claim(running, owner="test", worker="test-host")

    result = invoke(["cancel", "--status", "queued", "--recipe", "vae", "--yes"])
    assert result.code == 0, result.stderr
    assert _statuses(store, vae) == ["cancelled"] * 2 and _statuses(store, ae) == ["queued"] * 2
    assert store.get(running).status == "running" and not store.get(running).cancel_requested

    result = invoke(["cancel", "--status", "running", "--yes"])
    assert result.code == 0 and "1 running run stop at the next batch" in result.stdout, result.stdout
    assert store.get(running).cancel_requested and _statuses(store, ae) == ["queued"] * 2


def test_cancel_of_one_finished_run_is_still_one_error_line(store):
    run = _queued(store, 1)[0]
    assert invoke(["cancel", run]).code == 0
    again = invoke(["cancel", run])
    assert again.code == 1 and len(again.error_lines) == 1 and "already cancelled" in again.error_lines[0]
    nothing = invoke(["cancel"])
    assert nothing.code == 2 and "--group" in nothing.error_lines[0]


def test_rm_of_queued_runs_needs_cancel_and_then_deletes_them(store, settings):
    queued = _queued(store, 3)
    refused = invoke(["rm", "--status", "queued", "--yes"])
    assert refused.code == 1 and "--cancel" in refused.error_lines[0]
    assert _statuses(store, queued) == ["queued"] * 3

    result = invoke(["rm", "--status", "queued", "--cancel", "--yes"])
    assert result.code == 0 and "deleted 3 runs" in result.stdout, result.stdout + result.stderr
    assert store.list_runs() == []


def test_rm_cancel_still_refuses_a_running_run(store):
    running = _queued(store, 1)[0]
    assert store.claim(running, owner="test", worker="test-host")
    result = invoke(["rm", running, "--cancel", "--yes"])
    assert result.code == 1 and "is running" in result.error_lines[0]
    assert store.get(running).status == "running" and not store.get(running).cancel_requested


def test_n_at_the_rm_prompt_exits_1_with_nothing_deleted(store):
    run = _queued(store, 1)[0]
    store.cancel(run)
    result = _answering("n\n", "rm", run)
    assert result.returncode == 1, result.stderr
    assert "nothing deleted" in result.stderr and "Aborted" not in result.stderr
    assert store.get(run).status == "cancelled"


def test_a_worker_drops_the_message_of_a_run_deleted_while_queued(store, start_worker):
    from latentq.worker.broker import enqueue

    run = _queued(store, 1)[0]
    enqueue(run, "latentq", 5, recipe="vae")
    store.mark_sent(run)
    assert invoke(["rm", run, "--cancel", "--yes"]).code == 0
    worker = start_worker()
    log = wait_for(lambda: "message dropped" in worker.log_path.read_text(), timeout=60,
                   what="the worker to drop the message") and worker.log_path.read_text()
    assert f"run {run} (vae): no such run (deleted while queued): message dropped" in log
    assert "Traceback" not in log and "NotFound" not in log
