"""Waiting notes that tell the truth: a queued run's note says whether every worker of its queue is
busy (and how many runs are ahead of it), no live worker consumes the queue, or its message was
re-sent; `latentq status` prints it on its one line."""

from __future__ import annotations

import pytest

from latentq.db import reads
from latentq.db.tables import RunStatus
from support import PausePoint, cli, submit, wait_for


def _queued(store, queue: str = "gpu") -> str:
    from latentq.spec import build_spec

    spec = build_spec(kind="train", recipe="stacked-ae", dataset="digits", epochs=1, batch_size=8, seed=0,
                      params={}, queue=queue)
    run_id, _ = store.create_run(spec.model_dump(mode="json"))
    store.mark_sent(run_id)
    return run_id


def _notes(store, ids, workers):
    return {st["id"]: st["waiting_reason"] for st in reads.queue_notes(store, [store.status(i) for i in ids], workers)}


@pytest.mark.unit
def test_notes_say_busy_with_how_many_ahead_no_live_worker_or_re_sent(store):
    running, first, second = _queued(store), _queued(store), _queued(store)
    other = _queued(store, queue="cpu")
    assert store.claim(running, "owner-1", "worker-1@gpu-box")  # a live worker of "gpu", busy
    busy = [{"name": "worker-1@gpu-box", "queues": ["gpu"], "runs": [{"id": running}]}]

    notes = _notes(store, [first, second, other], busy)
    assert notes[first] == "waiting: every worker on queue gpu is busy (0 ahead)"
    assert notes[second] == "waiting: every worker on queue gpu is busy (1 ahead)"
    assert notes[other] == "no live worker consumes queue cpu"

    idle = [{"name": "worker-1@gpu-box", "queues": ["gpu"], "runs": []}]
    assert _notes(store, [second], idle)[second] == "waiting for a free worker on queue gpu to take it (1 ahead)"

    # Presence unknown (Redis away): the store's fresh heartbeat of the running run stands for a
    # busy worker of "gpu"; of "cpu" nothing is known, and the note does not pretend otherwise.
    notes = _notes(store, [second, other], None)
    assert notes[second] == "waiting: every worker on queue gpu is busy (1 ahead)"
    assert notes[other] == "waiting for a worker on queue cpu"

    seen = store.get(other).sent_at
    assert store.mark_sent(other, seen=seen, resend=True)
    note = _notes(store, [other], [])[other]
    assert note.startswith("no live worker consumes queue cpu; message re-sent at "), note

    # What `latentq status` prints on its one line (the store's status object, its note made true).
    from latentq.cli import render

    st = reads.queue_notes(store, [store.status(second)], busy)[0]
    line = render.status_line(st)
    assert line.startswith(f"{second} queued stacked-ae") and "every worker on queue gpu is busy (1 ahead)" in line


@pytest.mark.slow
def test_status_of_a_run_behind_a_busy_worker_says_so(start_worker, store, tmp_path):
    """A real worker held at the end of its run's first epoch (the test-only pause point): the run
    queued behind it is waiting for a busy worker, not for "a worker"."""
    pause = PausePoint(tmp_path, epoch=1)
    worker = start_worker(**pause.env)
    args = ("stacked-ae", "--dataset", "digits", "--epochs", "2", "--batch-size", "64")
    held = submit(*args)["id"]
    assert pause.wait() == held
    behind = submit(*args)["id"]
    result = cli("status", behind[:8])
    assert result.returncode == 0, result.stderr
    assert f"{behind} queued" in result.stdout
    assert "waiting: every worker on queue latentq is busy (0 ahead)" in result.stdout, result.stdout
    worker.stop()  # a warm stop: the held run is handed back, the worker's presence withdrawn
    wait_for(lambda: "no live worker consumes queue latentq" in cli("status", behind).stdout, timeout=60,
             what="the note to say no live worker is left")
    assert store.status(held)["status"] in (RunStatus.QUEUED, RunStatus.RUNNING)  # handed back, or reaped later
