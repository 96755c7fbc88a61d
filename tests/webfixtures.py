"""Runs in a real store with real picture files, written without training (fast), for the page tests."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np


def fake_run(store, settings, recipe: str = "vae", name: Optional[str] = None, group: Optional[str] = None,
             epochs: int = 3, status: str = "succeeded", seed: int = 0, params: Optional[dict[str, Any]] = None,
             sample_epochs: int = 3) -> str:
    """A run with per-epoch metrics, per-epoch sample grids, a reconstructions picture and events."""
    from latentq import pictures
    from latentq.spec import build_spec

    spec = build_spec(kind="train", recipe=recipe, dataset="digits", epochs=epochs, seed=seed, name=name,
                      params=params or {})
    run_id, _ = store.create_run(spec.model_dump(mode="json"), group=group)
    run_dir = settings.artifact_root / run_id
    rng = np.random.default_rng(seed)
    if status != "queued":
        assert store.claim(run_id, owner="test", worker="test-host")
    for epoch in range(1, sample_epochs + 1):
        store.record_metrics(run_id, epoch, {"loss": 1.0 / epoch + seed, "val_loss": 1.2 / epoch + seed,
                                             "fcd": 50.0 / epoch})
        rel = f"images/samples/epoch_{epoch:03d}.png"
        pictures.save_grid(run_dir / rel, rng.random((16, 8, 8)), cols=4)
        store.add_artifact(run_id, "samples_epoch", rel)
        if status != "queued":
            store.set_progress(run_id, "test", epoch)
    store.record_metrics(run_id, 0, {"params": 1234.0})
    pictures.save_rows(run_dir / "images/reconstructions.png", [rng.random((5, 8, 8)), rng.random((5, 8, 8))])
    store.add_artifact(run_id, "reconstructions", "images/reconstructions.png")
    store.add_event(run_id, "info", f"fake run {name or run_id}")
    if status in ("succeeded", "failed", "cancelled"):
        from latentq.db.schema import RunStatus

        store.finish(run_id, "test", RunStatus(status), error="boom" if status == "failed" else None)
    return run_id
