"""Datasets that do not fit their recipe are refused before anything exists: one `Error:` line,
exit 2, and no run row, run folder or queued message, through `run` and through `submit`. The
worker checks again when the job starts (the files may change after submit)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

from support import invoke


def _npz(**arrays) -> Callable[[Path], str]:
    def make(tmp: Path) -> str:
        np.savez(tmp / "d.npz", **arrays)
        return f"npz:{tmp / 'd.npz'}"
    return make


def _images(sizes=((8, 8),) * 4, classes: tuple[str, ...] = (), corrupt: bool = False) -> Callable[[Path], str]:
    def make(tmp: Path) -> str:
        root = tmp / "imgs"
        root.mkdir()
        folders = [root / c for c in classes] or [root]
        for folder in folders:
            folder.mkdir(exist_ok=True)
            for i, (h, w) in enumerate(sizes):
                Image.fromarray(np.full((h, w), 30 * i, dtype=np.uint8)).save(folder / f"{i}.png")
        if corrupt:
            (root / "truncated.png").write_bytes((root / "0.png").read_bytes()[:20])
        return f"images:{root}"
    return make


def _named(name: str) -> Callable[[Path], str]:
    return lambda tmp: name


RNG = np.random.default_rng(0)
GOOD = RNG.random((40, 6, 6)).astype(np.float32)
LABELS = np.arange(40) % 4

# (case, recipe, dataset maker, extra args, what the error line must say)
CASES = [
    ("folder without images", "stacked-ae", _named("images:/etc"), [], "needs at least 2 images"),
    ("empty folder", "stacked-ae", lambda tmp: (tmp / "e").mkdir() or f"images:{tmp / 'e'}", [],
     "needs at least 2 images"),
    ("npz without x", "stacked-ae", _npz(images=GOOD), [], "needs an array named x"),
    ("values 0..999", "stacked-ae", _npz(x=RNG.integers(0, 1000, (40, 6, 6))), [], "0..255, got 0..99"),
    ("negative values", "stacked-ae", _npz(x=GOOD - 0.5), [], "values must lie in [0, 1] or 0..255"),
    ("nan", "stacked-ae", _npz(x=np.where(GOOD > 0.9, np.nan, GOOD)), [], "NaN or infinite"),
    ("inf", "stacked-ae", _npz(x=np.where(GOOD > 0.9, np.inf, GOOD)), [], "NaN or infinite"),
    ("complex", "stacked-ae", _npz(x=GOOD + 1j * GOOD), [], "complex numbers"),
    ("strings", "stacked-ae", _npz(x=np.array([["a", "b"], ["c", "d"]])), [], "must be numeric"),
    ("one sample", "stacked-ae", _npz(x=GOOD[:1]), [], "at least 2 samples"),
    ("zero-width vectors", "linear-ae", _npz(x=np.zeros((40, 0))), [], "zero-sized dimension"),
    ("zero-width images", "stacked-ae", _npz(x=np.zeros((40, 6, 0))), [], "zero-sized dimension"),
    ("5-d samples", "linear-ae", _npz(x=np.zeros((40, 2, 2, 2, 2))), [], "vectors (D,), images"),
    ("mixed image sizes", "stacked-ae", _images(sizes=((8, 8), (8, 8), (9, 8))), [],
     "latentq data prepare"),
    ("corrupt image", "stacked-ae", _images(corrupt=True), [], "'truncated.png'"),
    ("vectors to an image recipe", "stacked-ae", _npz(x=RNG.random((40, 6))), [], "needs image data (H, W)"),
    ("3-d points to dcgan", "dcgan", _named("synthetic-3d"), [], "needs image data (H, W)"),
    ("centred data to a sigmoid recipe", "recurrent-ae", _named("synthetic-3d"), [],
     "needs data in [0, 1]"),
    ("no labels", "pretrain-classifier", _npz(x=GOOD), ["--set", "labels=4"], "needs class labels"),
    ("one class", "pretrain-classifier", _images(classes=("cats",)), ["--set", "labels=2"], "has one class"),
    ("negative labels", "pretrain-classifier", _npz(x=GOOD, y=LABELS - 1), [], "class numbers 0..9999"),
    ("labels of 2**40", "stacked-ae", _npz(x=GOOD, y=LABELS + 2**40), [], "class numbers 0..9999"),
    ("label 10,000", "stacked-ae", _npz(x=GOOD, y=np.full(40, 10_000)), [], "class numbers 0..9999"),
    ("float labels", "stacked-ae", _npz(x=GOOD, y=LABELS + 0.5), [], "integer class label"),
    ("labels not one per sample", "stacked-ae", _npz(x=GOOD, y=LABELS[:10]), [], "10 labels for 40 samples"),
    ("too few labelled samples", "pretrain-classifier", _named("digits"), ["--set", "labels=5000"],
     "at least 5000 training samples"),
    ("stages too deep", "conv-ae", _named("digits"), ["--set", "stages=4"], "least 16 pixels (each Conv2D"),
    ("1x1 images, any stages", "conv-ae", _npz(x=RNG.random((40, 1, 1))), ["--set", "stages=1"],
     "no stages fits them"),
    ("as many codings as inputs", "linear-ae", _named("synthetic-3d"), ["--set", "codings=3"],
     "allowed: codings <= 2"),
    ("progan start above the image", "progan", _named("digits"), ["--set", "start_resolution=16"],
     "start_resolution=16 needs images with a longer side of at least 9 pixels"),
    ("growing stylegan start above the image", "stylegan", _named("digits"),
     ["--set", "grow=true", "--set", "start_resolution=16"],
     "start_resolution=16 needs images with a longer side of at least 9 pixels"),
]


def _runs(home: Path) -> int:
    if not (home / "latentq.db").exists():
        return 0
    from latentq.db.store import Store

    return len(Store(f"sqlite:///{home / 'latentq.db'}", home / "runs").list_runs(limit=10_000))


def _folders(home: Path) -> int:
    return len(list((home / "runs").iterdir())) if (home / "runs").exists() else 0


@pytest.fixture
def queued(broker) -> Callable[[], int]:
    import redis

    client = redis.Redis.from_url(broker)

    def count() -> int:  # one list per priority step: latentq, latentq:1, ...
        return sum(client.llen(k) for k in client.keys("latentq*") if client.type(k) == b"list")

    return count


def test_every_bad_dataset_is_refused_by_run_and_submit_with_nothing_created(lq_home, queued, tmp_path):
    assert invoke(["submit", "linear-ae", "--epochs", "1", "--json"]).code == 0  # a good job: counted below
    before = (_runs(lq_home), _folders(lq_home), queued())
    assert before[0] == 1 and before[2] == 1
    refused = []
    for i, (case, recipe, make, extra, needle) in enumerate(CASES):
        folder = tmp_path / f"case{i}"
        folder.mkdir()
        dataset = make(folder)
        for command in ("run", "submit"):
            result = invoke([command, recipe, "--dataset", dataset, "--epochs", "1", *extra])
            assert result.code == 2, (case, command, result.stderr)
            assert len(result.error_lines) == 1, (case, command, result.stderr)
            assert needle in result.error_lines[0], (case, command, result.error_lines[0])
            assert "stages <= 0" not in result.error_lines[0] and "stages <= -" not in result.error_lines[0]
            refused.append((case, command))
    assert len(refused) == 2 * len(CASES)
    assert (_runs(lq_home), _folders(lq_home), queued()) == before


def test_named_datasets_are_checked_without_loading(monkeypatch, lq_home):
    from latentq import data_checks, datasets

    def no_loading(*_args, **_kwargs):
        raise AssertionError("a named dataset was loaded to check it")

    monkeypatch.setattr(datasets, "load", no_loading)
    monkeypatch.setattr(datasets, "open_source", no_loading)
    result = invoke(["run", "conv-ae", "--dataset", "mnist-5k", "--set", "stages=2", "--dry-run"])
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["dataset"] == "mnist-5k"
    for name, facts in datasets.KNOWN_FACTS.items():
        assert facts.name == name and facts.classes == 10
    assert data_checks.facts_for("digits") is datasets.KNOWN_FACTS["digits"]


def test_known_facts_match_the_loaded_datasets():
    from latentq import datasets

    for name in ("digits", "mnist-5k"):
        loaded = datasets.load(name).facts()
        assert loaded == datasets.KNOWN_FACTS[name], name


def test_every_recipe_declares_its_data_needs():
    from latentq.recipes import all_recipes
    from latentq.recipes.needs import DataNeeds

    needs = {r.name: r.needs for r in all_recipes()}
    assert all(isinstance(n, DataNeeds) for n in needs.values())
    assert not needs["linear-ae"].images and not needs["linear-ae"].unit_range
    assert needs["pretrain-classifier"].labels
    assert needs["conv-ae"].side is not None and needs["progan"].side is not None
    assert sum(1 for n in needs.values() if n.images) >= 12


def test_the_worker_checks_again_when_the_job_starts(store, settings, tmp_path):
    """The dataset turned bad between submit and run: the run fails with one line, before any
    model code is imported."""
    from latentq.spec import build_spec
    from latentq.worker.jobs import execute_run

    path = tmp_path / "d.npz"
    np.savez(path, x=GOOD)
    spec = build_spec(kind="train", recipe="stacked-ae", dataset=f"npz:{path}", epochs=1)
    run_id, created = store.create_run(spec.model_dump(mode="json"))
    np.savez(path, x=RNG.random((40, 6)))  # now vectors
    status = execute_run(run_id, settings)
    assert status["status"] == "failed"
    assert "needs image data (H, W)" in status["error"] and "\n" not in status["error"]
    assert status["epoch"] == 0
