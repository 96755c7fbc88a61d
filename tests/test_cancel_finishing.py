"""A cancel during the finishing work (after the last epoch) is honoured at the next phase, and a
run whose model.keras is already written ends succeeded with an event saying the cancel came too
late: never a complete model in a cancelled run. The real execute_claimed, store and files; the
`train` it is given stands in for a recipe's finishing work (no TensorFlow)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.unit


def _claimed(store, settings):
    from latentq.spec import build_spec
    from latentq.worker.jobs import claim_run

    spec = build_spec(kind="train", recipe="linear-ae", dataset="synthetic-3d", epochs=1, batch_size=64, seed=0,
                      params={}).model_dump(mode="json")
    run_id, _ = store.create_run(spec)
    owner = claim_run(run_id, settings)
    assert owner is not None
    return run_id, owner


def _finish(store, settings, model_first: bool):
    from latentq.runtime.context import Signals
    from latentq.runtime.job import execute_claimed

    run_id, owner = _claimed(store, settings)
    signals = Signals()
    reached: list[str] = []

    def train(ctx) -> None:  # a recipe's finishing work: model.keras, then pictures and t-SNE
        if model_first:
            ctx.put_artifact("model", "model.keras", b"a complete model")
        signals.cancel.set()  # `latentq cancel` lands here, as the heartbeat would set it
        with ctx.phase("final pictures"):
            reached.append("final pictures")
        with ctx.phase("t-SNE"):
            reached.append("t-SNE")

    status = execute_claimed(run_id, owner, settings, train, on_shutdown=lambda *args: None, signals=signals)
    return run_id, status, reached


def test_a_cancel_before_the_model_is_written_cancels_at_the_next_phase(store, settings):
    run_id, status, reached = _finish(store, settings, model_first=False)
    assert status["status"] == "cancelled" and reached == []
    assert not (settings.artifact_root / run_id / "model.keras").exists()


def test_a_cancel_after_the_model_is_written_ends_succeeded_and_says_too_late(store, settings):
    from latentq.spec import GenerateOptions, check_generate_parent

    run_id, status, reached = _finish(store, settings, model_first=True)
    assert status["status"] == "succeeded" and reached == [], status
    assert (settings.artifact_root / run_id / "model.keras").read_bytes() == b"a complete model"
    (note,) = [e.message for e in store.events(run_id) if "too late to cancel" in e.message]
    assert "model.keras" in note
    check_generate_parent(store, run_id, GenerateOptions(reconstruct=True))  # generate takes it: no UserError
