"""Two autoencoder recipes through the queue: CLI submit → real Redis → real worker."""

from __future__ import annotations

import json
from pathlib import Path

from support import cli


def _submit(*args: str) -> dict:
    result = cli("submit", *args, "--wait", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_tied_and_greedy_ae_run_on_a_real_worker(start_worker, store):
    worker = start_worker()
    tied = _submit("tied-ae", "-d", "digits", "-e", "2", "--set", "hidden=16", "--set", "codings=4",
                   "--set", "learning_rate=0.01")
    greedy = _submit("greedy-ae", "-d", "digits", "-e", "1", "--set", "hidden=16", "--set", "codings=4",
                     "--set", "phases=2")
    for status in (tied, greedy):
        assert status["status"] == "succeeded", status
        assert status["worker"] and str(worker.proc.pid) in status["worker"]
        m = status["metrics"]
        for name in ("loss", "val_loss", "val_mse", "baseline_mse", "params"):
            assert name in m, (status["recipe"], name)
        kinds = {a["kind"] for a in status["artifacts"]}
        assert {"spec", "model", "reconstructions", "loss_curve", "tsne"} <= kinds, kinds
        for art in status["artifacts"]:
            assert Path(art["path"]).is_file() and Path(art["path"]).stat().st_size > 0
    assert tied["metrics"]["val_mse"] < tied["metrics"]["baseline_mse"]
    assert sorted({m.step for m in store.metrics(tied["id"]) if m.name == "val_loss"}) == [1, 2]
    assert {"phase1_loss", "phase2_loss", "phase1_val_loss", "phase2_val_loss"} <= set(greedy["metrics"])
    assert tied["metrics"]["params"] < greedy["metrics"]["params"]  # tied weights: about half
