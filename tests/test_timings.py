"""Where a run's time goes (worker.timings), the background writer (worker.writer), checkpoint
snapshots (worker.snapshot) and the time-based evaluation cadence (models.gan_monitors)."""

from __future__ import annotations

import json
import threading
from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from latentq.runtime import snapshot
from latentq.runtime.callbacks import first_call_extra
from latentq.runtime.timings import PARTS
from latentq.runtime.writer import BackgroundWriter

def test_a_runs_timings_add_up_to_its_wall_time(train, store):
    from latentq import datasets

    status = train("stacked-ae", dataset="digits", epochs=3, batch_size=64)
    assert status["status"] == "succeeded", status["error"]
    m = status["metrics"]
    parts = [m[f"{part}_seconds"] for part in PARTS] + [m["other_seconds"]]
    assert all(value >= 0 for value in parts)
    assert sum(parts) == pytest.approx(m["wall_seconds"], rel=1e-6)
    assert m["train_seconds"] > 0 and m["setup_seconds"] > 0 and m["checkpoint_seconds"] > 0
    samples = len(datasets.load("digits", 0).x_train) * 3
    assert m["samples_per_second"] == pytest.approx(samples / m["train_seconds"], rel=1e-6)
    assert m["end_to_end_samples_per_second"] == pytest.approx(samples / m["wall_seconds"], rel=1e-6)
    # the background writer finished everything before the run ended: checkpoint, progress, pictures
    assert store.get(status["id"]).epoch == 3
    kinds = {a["kind"]: Path(a["path"]) for a in status["artifacts"]}
    assert {"reconstructions", "loss_curve", "model"} <= set(kinds)
    state = json.loads((kinds["model"].parent / "checkpoints" / "state.json").read_text())
    assert state["epoch"] == 3


def test_first_call_extra_is_the_first_calls_excess_over_the_typical_one():
    assert first_call_extra([5.0, 1.0, 1.2, 0.8]) == pytest.approx(4.0)
    assert first_call_extra([0.5, 1.0, 1.0]) == 0.0  # never negative
    assert first_call_extra([5.0]) == 0.0  # one call per epoch: cannot be told apart


def test_the_writer_keeps_order_and_a_newer_checkpoint_replaces_one_still_waiting():
    writer = BackgroundWriter("test-writer")
    written, release = [], threading.Event()
    started = threading.Event()

    def slow():
        started.set()
        assert release.wait(30)
        written.append("slow")

    writer.submit(slow)
    assert started.wait(30)
    # the writer is busy: none of these waits for it
    writer.submit(lambda: written.append("metrics"))
    writer.submit_checkpoint(lambda: written.append("checkpoint 1"))
    writer.submit_checkpoint(lambda: written.append("checkpoint 2"))
    writer.submit(lambda: written.append("picture"))
    assert written == []
    release.set()
    writer.close()
    assert written == ["slow", "metrics", "checkpoint 2", "picture"]


def test_a_failed_write_is_raised_once_on_the_training_thread_and_the_rest_dropped():
    writer = BackgroundWriter("test-writer")
    written = []

    def full():
        raise OSError(28, "No space left on device")

    writer.submit(full)
    writer.submit(lambda: written.append("after"))
    with pytest.raises(OSError) as raised:
        writer.flush()
    assert raised.value.errno == 28 and written == []
    writer.close()  # not raised twice


def test_a_snapshot_written_later_holds_the_state_of_when_it_was_taken(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(4)])
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).random((64, 4), dtype=np.float32)
    model.fit(x, x, epochs=1, batch_size=16, verbose=0)
    taken = snapshot.take(model)
    weights, steps = [w.copy() for w in model.get_weights()], int(model.optimizer.iterations.numpy())
    model.fit(x, x, epochs=2, batch_size=16, verbose=0)  # training goes on before the write
    taken.write(tmp_path / "latest.keras")
    loaded = keras.models.load_model(tmp_path / "latest.keras")
    assert int(loaded.optimizer.iterations.numpy()) == steps == 4
    for saved, now in zip(loaded.get_weights(), weights):
        np.testing.assert_array_equal(saved, now)
    assert not np.allclose(loaded.get_weights()[0], model.get_weights()[0])


def test_later_snapshots_read_the_variables_the_first_walk_found_until_the_model_changes(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(4)])
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).random((64, 4), dtype=np.float32)

    def check(taken, name: str):
        taken.write(tmp_path / name)
        loaded = keras.models.load_model(tmp_path / name)
        assert type(loaded.optimizer) is type(model.optimizer)
        for saved, now in zip(loaded.get_weights() + [v.numpy() for v in loaded.optimizer.variables],
                              model.get_weights() + [v.numpy() for v in model.optimizer.variables]):
            np.testing.assert_array_equal(saved, now)

    model.fit(x, x, epochs=1, batch_size=16, verbose=0)
    check(snapshot.take(model), "walked.keras")
    plan = snapshot._plans[id(model)]
    model.fit(x, x, epochs=1, batch_size=16, verbose=0)
    check(snapshot.take(model), "planned.keras")  # the same plan, fresh values
    assert snapshot._plans[id(model)] is plan and int(model.optimizer.iterations.numpy()) == 8
    model.compile(optimizer="sgd", loss="mse")  # other optimizer variables: walked again
    model.fit(x, x, epochs=1, batch_size=16, verbose=0)
    check(snapshot.take(model), "recompiled.keras")
    assert snapshot._plans[id(model)] is not plan


def test_default_evaluation_cadence_keeps_its_cost_near_a_tenth_of_the_time(monkeypatch):
    """Epochs of 1 s, evaluations of 0.5 s on a fake clock: evaluated at epoch 1 (to learn the
    cost), then only while the time spent stays under 10 %, and always after the last epoch."""
    from latentq.models.gan import monitors as gan_monitors

    clock = SimpleNamespace(now=0.0)
    monkeypatch.setattr(gan_monitors.time, "perf_counter", lambda: clock.now)

    def evaluate(ctx, images):
        clock.now += 0.5
        return {"fcd": 1.0}

    monkeypatch.setattr(gan_monitors, "evaluate", evaluate)
    recorded = []
    ctx = SimpleNamespace(spec=SimpleNamespace(epochs=60, seed=0), history=lambda *names: {},
                          record=lambda step, **values: recorded.append(step), event=lambda *a: None,
                          phase=lambda name: nullcontext(),
                          timings=SimpleNamespace(measure=lambda part: nullcontext(), elapsed=lambda: clock.now))
    monitor = gan_monitors.QualityMonitor(ctx, every=None, noise=np.zeros((3, 2), "float32"), threshold=0.7,
                                          sample_fn=lambda model, noise: np.zeros((3, 8, 8), "float32"))
    monitor.set_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    for epoch in range(60):
        clock.now += 1.0  # the epoch's training
        monitor.on_epoch_end(epoch)
    assert recorded[0] == 1 and recorded[-1] == 60
    assert 3 <= len(recorded) <= 12
    assert monitor.spent <= 0.1 * clock.now + 1e-9
    explicit = gan_monitors.QualityMonitor(ctx, every=20, noise=np.zeros((3, 2), "float32"), threshold=0.7)
    assert [e for e in range(1, 61) if explicit.due(e)] == [20, 40, 60]  # eval_every overrides
