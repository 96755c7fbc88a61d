"""Exact resume: a seeded run killed (kill -9 of `latentq run`) and resumed with `retry --local`
ends with every weight of model.keras equal to an uninterrupted twin's, for every recipe family:
the random generators (GAN noise, VAE sampling, dropout and noise layers, the replay buffer), the
input order, the EMA, ProGAN's stage and fade-in, greedy-ae's phases, and a stop in the middle
of an epoch (checkpoint_minutes) resuming at the same batch.

The killed run trains in a subprocess held by the test-only pause point (or killed once its
checkpoint is inside an epoch); its twin trains in this process meanwhile; the resume runs in
this process through the CLI's real `retry --local`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from support import PausePoint, invoke, run_job, wait_for

CLOSED_BROKER = "redis://127.0.0.1:1/0"  # `latentq run` needs no broker

# (recipe, epochs, kill after epoch, params): tiny models on digits.
CASES = {
    "vae": ("vae", 3, 1, {"hidden1": 16, "hidden2": 8, "codings": 2, "eval_samples": 0}),
    "gan": ("gan", 3, 1, {"codings": 4, "eval_samples": 0}),
    "dcgan-replay-ema": ("dcgan", 2, 1, {"codings": 4, "filters": 4, "replay_size": 64, "ema": 0.99,
                                         "eval_samples": 0}),
    "progan-stage-change": ("progan", 3, 1, {"start_resolution": 4, "epochs_per_stage": 1, "filters": 4,
                                             "codings": 4, "eval_samples": 0}),
    "stylegan": ("stylegan", 2, 1, {"codings": 4, "w_dim": 4, "filters": 4, "mapping_layers": 2,
                                    "eval_samples": 0}),
    "denoising-ae-dropout": ("denoising-ae", 3, 1, {"hidden": 16, "codings": 4, "noise": "dropout"}),
    # 2 phases of 2 epochs: the pause point counts over the phases, epoch 3 is the last phase's first.
    "greedy-ae-last-phase": ("greedy-ae", 2, 3, {"hidden": 16, "codings": 4, "phases": 2}),
}
SEED = 3
BATCH = 64


def _args(recipe: str, epochs: int, params: dict, batch: int = BATCH) -> list[str]:
    args = [recipe, "--dataset", "digits", "--epochs", str(epochs), "--batch-size", str(batch), "--seed", str(SEED)]
    for key, value in params.items():
        args += ["--set", f"{key}={value}"]
    return args


def _start_killable(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "latentq.cli.main", "run", *args, "--json"], stdout=out,
                                stderr=subprocess.STDOUT, env={**os.environ, "LATENTQ_BROKER_URL": CLOSED_BROKER, **env})


def _kill(proc: subprocess.Popen) -> None:
    proc.kill()  # SIGKILL: nothing of the run's own shutdown runs
    proc.wait(timeout=30)


def _weights(path: Path) -> dict[str, np.ndarray]:
    import h5py

    out: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as fh:
        with h5py.File(fh, "r") as f:
            f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def _assert_same_weights(settings, twin: str, resumed: str) -> None:
    mine = _weights(settings.artifact_root / resumed / "model.keras")
    theirs = _weights(settings.artifact_root / twin / "model.keras")
    assert mine.keys() == theirs.keys() and mine
    unequal = [name for name in mine if not np.array_equal(mine[name], theirs[name])]
    assert not unequal, f"{len(unequal)} of {len(mine)} weights differ, e.g. {unequal[:4]}"


def _retry_local(store, run_id: str) -> dict:
    result = invoke(["retry", run_id, "--local"], env={"LATENTQ_BROKER_URL": CLOSED_BROKER})
    assert result.code == 0, result.stderr[-3000:]
    status = store.status(run_id)
    assert status["status"] == "succeeded", status["error"]
    return status


@pytest.mark.parametrize("case", list(CASES))
def test_a_killed_and_resumed_run_ends_with_the_uninterrupted_twins_weights(case, store, settings, tmp_path):
    recipe, epochs, kill_after, params = CASES[case]
    pause = PausePoint(tmp_path, kill_after)
    proc = _start_killable(_args(recipe, epochs, params), pause.env, tmp_path / "run.log")
    try:
        twin = run_job(store, settings, recipe, dataset="digits", epochs=epochs, batch_size=BATCH, seed=SEED,
                       **params)
        assert twin["status"] == "succeeded", twin["error"]
        run_id = pause.wait()
    finally:
        _kill(proc)
    status = _retry_local(store, run_id)
    if recipe == "greedy-ae":
        assert any("resumed in phase 2 of 2 after epoch 1" in e.message for e in store.events(run_id))
    else:
        assert status["resumed_from_epoch"] == kill_after, status
    _assert_same_weights(settings, twin["id"], run_id)


def test_a_run_killed_inside_an_epoch_resumes_at_the_batch_of_its_checkpoint(store, settings, tmp_path):
    """checkpoint_minutes small enough to checkpoint before every call of the step: killed once
    a checkpoint inside epoch 2 is on disk (stopped at once with SIGSTOP, so it stays inside the
    epoch's 90 batches), the resumed run goes on at the batch its checkpoint holds."""
    import signal

    from latentq.runtime.snapshot import read_position

    params = {"hidden1": 16, "hidden2": 8, "codings": 2, "eval_samples": 0, "steps_per_execution": 1,
              "checkpoint_minutes": 0.0001}
    pause = PausePoint(tmp_path, 1)
    proc = _start_killable(_args("vae", 3, params, batch=16), pause.env, tmp_path / "run.log")
    try:
        twin = run_job(store, settings, "vae", dataset="digits", epochs=3, batch_size=16, seed=SEED, **params)
        assert twin["status"] == "succeeded", twin["error"]
        run_id = pause.wait()
        state_file = settings.artifact_root / run_id / "checkpoints" / "state.json"

        def inside_epoch_2():
            try:
                state = json.loads(state_file.read_text())
            except (OSError, ValueError):
                return None
            return state if state["epoch"] == 1 and state.get("batch", 0) >= 3 else None

        pause.release()
        wait_for(inside_epoch_2, timeout=120, interval=0.01, what="a checkpoint inside epoch 2")
        proc.send_signal(signal.SIGSTOP)
    finally:
        _kill(proc)
    position = read_position(settings.artifact_root / run_id / "checkpoints" / "latest.keras")
    assert position["epoch"] == 1 and position["batch"] >= 3, position
    status = _retry_local(store, run_id)
    assert status["resumed_from_epoch"] == 1, status
    assert any(f"at batch {position['batch']} of epoch 2" in e.message for e in store.events(run_id))
    _assert_same_weights(settings, twin["id"], run_id)
