"""Generation jobs: `latentq generate` through a real worker, reproducibility, and the refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from support import artifact_paths, cli

SMALL_VAE = dict(hidden1=24, hidden2=12, codings=4, eval_samples=200)
QUALITY = ("fcd", "class_coverage", "class_kl", "mean_confidence", "classifier_accuracy")


@pytest.fixture(scope="module")
def trained_classifier(tmp_path_factory) -> Path:
    """The digits quality classifier, trained once for this module (in a pytest-private cache)."""
    pytest.importorskip("keras")
    from latentq.models.evaluation import quality

    cache = tmp_path_factory.mktemp("cache")
    quality.classifier_for("digits", cache)
    return cache / "quality"


@pytest.fixture
def vae_run(train, settings, trained_classifier):
    """A succeeded VAE run on digits; its LATENTQ_HOME's cache already holds the classifier."""
    shutil.copytree(trained_classifier, settings.home / "cache" / "quality")
    status = train("vae", dataset="digits", epochs=2, **SMALL_VAE)
    assert status["status"] == "succeeded", status.get("error")
    return status


def generate_in_process(store, settings, parent: str, seed: int = 0, **options) -> dict:
    """Create a generation run and execute it here through the shared job function."""
    from latentq.spec import GenerateOptions, build_spec
    from latentq.worker.jobs import execute_run

    parent_spec = store.spec(parent)
    spec = build_spec(kind="generate", recipe=parent_spec["recipe"], dataset=parent_spec["dataset"], epochs=1,
                      seed=seed, parent=parent, generate=GenerateOptions(**options))
    run_id, _ = store.create_run(spec.model_dump(mode="json"))
    return execute_run(run_id, settings)


def pixels(status: dict, kind: str) -> list[np.ndarray]:
    return [np.asarray(Image.open(p)) for p in artifact_paths(status, kind)]


@pytest.mark.integration
def test_generate_through_a_real_worker_makes_grids_and_metrics(vae_run, start_worker, store, settings):
    parent = vae_run["id"]
    parent_files = sorted(p for p in settings.run_dir(parent).rglob("*"))
    worker = start_worker()
    result = cli("generate", parent, "--n", "12", "--interpolate", "--reconstruct", "--seed", "4", "--json",
                 "--wait")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["status"] == "succeeded", status
    assert str(worker.proc.pid) in status["worker"]
    run = store.get(status["id"])
    assert run.kind == "generate" and run.parent_id == parent
    spec = store.spec(status["id"])
    assert spec["generate"] == {"n": 12, "interpolate": True, "reconstruct": True, "truncation": None,
                                 "style_mix": False, "crossover": None, "fid": False} and spec["seed"] == 4
    assert spec["recipe"] == "vae" and spec["dataset"] == "digits"

    for name in (*QUALITY, "val_mse"):
        assert np.isfinite(status["metrics"][name]), name
    assert 0 < status["metrics"]["class_coverage"] <= 1
    run_dir = settings.run_dir(status["id"])
    names = {p.name: p for p in (Path(a["path"]) for a in status["artifacts"])}
    for name in ("samples.png", "interpolation_source.png", "interpolation_grid.png", "interpolation_line.png",
                 "reconstructions.png"):
        assert names[name].parent == run_dir / "images", name
        assert Image.open(names[name]).format == "PNG"
    # digits are 8x8, enlarged 12x with 2-pixel gaps: a grid of c columns is (c * 10 + 2) * 12 pixels wide
    assert Image.open(names["samples.png"]).size == (4 * 10 * 12 + 24, 3 * 10 * 12 + 24)  # 12 samples: 4x3
    assert Image.open(names["interpolation_grid.png"]).size == (7 * 10 * 12 + 24, 5 * 10 * 12 + 24)  # 5x7
    assert Image.open(names["interpolation_source.png"]).size == (4 * 10 * 12 + 24, 3 * 10 * 12 + 24)  # 3x4
    assert Image.open(names["interpolation_line.png"]).size == (11 * 10 * 12 + 24, 10 * 12 + 24)  # 2 ends + 9
    assert Image.open(names["reconstructions.png"]).size[1] == 4 * 10 * 12 + 24  # 2 x (originals, recons)
    assert sorted(p for p in settings.run_dir(parent).rglob("*")) == parent_files  # the parent is untouched


def test_the_same_seed_gives_the_same_pixels(vae_run, store, settings):
    parent = vae_run["id"]
    a = generate_in_process(store, settings, parent, seed=7, n=9, interpolate=True)
    b = generate_in_process(store, settings, parent, seed=7, n=9, interpolate=True)
    c = generate_in_process(store, settings, parent, seed=8, n=9, interpolate=True)
    assert a["status"] == b["status"] == c["status"] == "succeeded", (a.get("error"), c.get("error"))
    for kind in ("samples", "interpolation"):
        for x, y in zip(pixels(a, kind), pixels(b, kind)):
            np.testing.assert_array_equal(x, y)
        assert not np.array_equal(pixels(a, kind)[0], pixels(c, kind)[0])
    assert a["metrics"] == b["metrics"]
    assert a["metrics"]["fcd"] != c["metrics"]["fcd"]


def test_reconstruct_from_an_autoencoder_scores_its_reconstructions(train, store, settings, trained_classifier):
    shutil.copytree(trained_classifier, settings.home / "cache" / "quality")
    parent = train("stacked-ae", dataset="digits", epochs=1, hidden=16, codings=4)
    status = generate_in_process(store, settings, parent["id"], n=6, reconstruct=True)
    assert status["status"] == "succeeded", status.get("error")
    assert status["metrics"]["val_mse"] == pytest.approx(parent["metrics"]["val_mse"], rel=1e-4)
    assert set(QUALITY) <= set(status["metrics"])
    (grid,) = pixels(status, "reconstructions")
    assert grid.shape[1] == 6 * 10 * 12 + 24  # one pair of rows of 6
    assert not artifact_paths(status, "samples")  # an autoencoder cannot sample


def test_cli_refuses_bad_parents_in_one_line_and_queues_nothing(train, store, settings):
    from latentq.spec import build_spec

    def refused(*args: str) -> str:
        before = len(store.list_runs(limit=1000))
        result = cli("generate", *args)
        assert result.returncode != 0 and result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
        assert len(store.list_runs(limit=1000)) == before  # nothing created
        return lines[0]

    assert "no run with id 'nope'" in refused("nope")

    queued_spec = build_spec(kind="train", recipe="vae", dataset="digits", epochs=1)
    queued, _ = store.create_run(queued_spec.model_dump(mode="json"))
    assert f"run {queued} is queued; generate needs a succeeded training run" in refused(queued)

    ae = train("linear-ae", epochs=1)
    line = refused(ae["id"], "--interpolate")
    assert "cannot interpolate (--interpolate)" in line and "it can: reconstruct (--reconstruct)" in line
    assert "cannot sample (--n)" in refused(ae["id"])
    assert "cannot style_mix (--style-mix)" in refused(ae["id"], "--style-mix")
    assert "cannot truncation (--truncation)" in refused(ae["id"], "--reconstruct", "--truncation", "0.5")
    assert "--crossover applies to --style-mix only" in refused(ae["id"], "--crossover", "2")

    failed = train("vae", dataset="synthetic-3d", epochs=1)
    assert "is failed" in refused(failed["id"], "--local")


def test_the_worker_checks_the_parent_again(train, store, settings):
    """A spec that skipped the CLI's checks still fails cleanly in the job, with the same line."""
    ae = train("linear-ae", epochs=1)
    status = generate_in_process(store, settings, ae["id"], interpolate=True)
    assert status["status"] == "failed"
    assert "cannot interpolate (--interpolate)" in status["error"]
    assert not artifact_paths(status, "interpolation")


def test_reconstruct_vectors_records_val_mse_without_pictures_or_scores(train, store, settings):
    parent = train("linear-ae", epochs=2)  # synthetic-3d: unlabelled vectors, outputs outside [0, 1]
    status = generate_in_process(store, settings, parent["id"], reconstruct=True)
    assert status["status"] == "succeeded", status.get("error")
    assert status["metrics"]["val_mse"] == pytest.approx(parent["metrics"]["val_mse"], rel=1e-4)
    assert not set(QUALITY) & set(status["metrics"])
    assert not artifact_paths(status, "reconstructions")
    messages = " ".join(e.message for e in store.events(status["id"]))
    assert "no reconstructions picture" in messages and "no class labels" in messages
