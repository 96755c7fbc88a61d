"""The queue path end to end: CLI submit → real Redis → real `latentq worker` → SQL + disk."""

from __future__ import annotations

import json
from pathlib import Path

from support import cli, wait_for


def test_submit_wait_runs_on_a_real_worker(start_worker, store):
    worker = start_worker()
    result = cli("submit", "linear-ae", "--epochs", "3", "--json", "--wait")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["status"] == "succeeded", status
    assert status["attempts"] == 1
    assert status["epoch"] == 3
    assert status["worker"] and str(worker.proc.pid) in status["worker"]
    assert 0 <= status["queue_seconds"] < 60
    for name in ("loss", "val_loss", "val_mse", "params", "train_seconds", "samples_per_second",
                 "explained_variance_vs_pca"):
        assert name in status["metrics"], name
    kinds = {a["kind"] for a in status["artifacts"]}
    assert {"spec", "model", "loss_curve", "codings"} <= kinds
    for art in status["artifacts"]:
        assert Path(art["path"]).is_file() and Path(art["path"]).stat().st_size > 0
    epochs = sorted({m.step for m in store.metrics(status["id"]) if m.name == "loss"})
    assert epochs == [1, 2, 3]


def test_submit_without_wait_prints_queued_then_list_and_show(start_worker):
    result = cli("submit", "linear-ae", "--epochs", "2", "--json")
    assert result.returncode == 0, result.stderr
    queued = json.loads(result.stdout)
    assert queued["status"] == "queued"
    start_worker()
    final = wait_for(lambda: (s := json.loads(cli("status", queued["id"], "--json").stdout))["status"]
                     in ("succeeded", "failed") and s, what="run to finish")
    assert final["status"] == "succeeded", final
    listed = json.loads(cli("list", "--json").stdout)
    assert queued["id"] in [s["id"] for s in listed]
    shown = json.loads(cli("show", queued["id"], "--json").stdout)
    assert shown["spec"]["recipe"] == "linear-ae" and shown["spec"]["epochs"] == 2
