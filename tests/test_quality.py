"""The offline quality metrics: the cached classifier, fcd, class coverage, and what they separate."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import threading

import numpy as np
import pytest

from latentq import datasets
from latentq.runtime.artifacts import LocalArtifacts
from support import wait_for

pytest.importorskip("keras")

from latentq.models.evaluation import quality  # noqa: E402


@pytest.fixture(scope="module")
def digits_cache(tmp_path_factory):
    """A cache folder holding the digits classifier, trained once for this module."""
    cache = tmp_path_factory.mktemp("cache")
    quality.classifier_for("digits", cache)
    return cache


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits", 1)  # another split than the classifier's (seed 0)


def test_classifier_is_trained_once_cached_and_accurate(digits_cache):
    classifier = quality.classifier_for("digits", digits_cache)
    key = quality.cache_key("digits")
    assert "digits" in key and key.endswith(f"-v{quality.CLASSIFIER_VERSION}")
    meta_path = digits_cache / "quality" / f"{key}.json"
    meta = json.loads(meta_path.read_text())
    assert meta["dataset"] == "digits" and meta["version"] == quality.CLASSIFIER_VERSION
    assert meta["test_accuracy"] == classifier.accuracy > 0.9
    assert (digits_cache / "quality" / f"{key}.keras").stat().st_size > 0
    assert not list((digits_cache / "quality").glob(".*tmp*"))  # atomic writes leave no temp files
    mtime = meta_path.stat().st_mtime_ns
    assert quality.classifier_for("digits", digits_cache) is classifier
    assert meta_path.stat().st_mtime_ns == mtime  # not trained again


def test_metrics_separate_real_images_from_noise_and_collapse(digits_cache, digits):
    real = quality.evaluate_samples("digits", digits.x_val, digits_cache)
    noise = quality.evaluate_samples(
        "digits", np.random.default_rng(0).random((300, 8, 8), dtype=np.float32), digits_cache)
    collapsed = quality.evaluate_samples("digits", np.repeat(digits.x_val[:1], 300, axis=0), digits_cache)
    for scores in (real, noise, collapsed):
        assert set(quality.METRICS) <= set(scores)
        assert all(np.isfinite(v) for v in scores.values())
    assert real["fcd"] < 5.0
    assert real["fcd"] * 10 < noise["fcd"]
    assert real["fcd"] * 10 < collapsed["fcd"]
    assert real["class_coverage"] == 1.0 and real["class_kl"] < 0.05 and real["mean_confidence"] > 0.9
    assert collapsed["class_coverage"] == pytest.approx(0.1)
    assert collapsed["class_kl"] == pytest.approx(np.log(10), abs=1e-6)
    assert noise["mean_confidence"] < real["mean_confidence"]


def test_the_reference_is_measured_once_and_again_for_a_retrained_classifier(digits_cache, monkeypatch):
    classifier = quality.classifier_for("digits", digits_cache)
    measured = dataclasses.replace(classifier, _reference=None)
    features, stats = measured.reference_features(3), measured.reference(3)
    folder = digits_cache / "quality"
    assert len(list(folder.glob(f"{classifier.key}.reference-3-*.npz"))) == 1

    def no_dataset(*args, **kwargs):
        raise AssertionError("the dataset was loaded again")

    monkeypatch.setattr(quality.datasets, "open_source", no_dataset)
    cached = dataclasses.replace(classifier, _reference=None)
    assert np.array_equal(cached.reference_features(3), features)
    assert all(np.array_equal(a, b) for a, b in zip(cached.reference(3), stats))

    path = folder / f"{classifier.key}.keras"
    stat = path.stat()  # a retrained classifier has another version (mtime): its features differ
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    try:
        with pytest.raises(AssertionError, match="loaded again"):
            dataclasses.replace(classifier, _reference=None).reference(3)
    finally:
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_grey_images_may_carry_a_channel_axis_and_wrong_shapes_are_refused(digits_cache, digits):
    flat = quality.evaluate_samples("digits", digits.x_val[:100], digits_cache)
    channel = quality.evaluate_samples("digits", digits.x_val[:100, :, :, None], digits_cache)
    assert flat["fcd"] == pytest.approx(channel["fcd"])
    with pytest.raises(ValueError, match=r"Received: images.shape=\(4, 9, 9\)"):
        quality.evaluate_samples("digits", np.zeros((4, 9, 9), np.float32), digits_cache)


def test_unlabelled_dataset_gets_no_metrics(tmp_path):
    assert quality.classifier_for("synthetic-3d", tmp_path) is None
    assert quality.evaluate_samples("synthetic-3d", np.zeros((10, 3), np.float32), tmp_path) == {}
    assert not list((tmp_path / "quality").glob("*.keras"))


def _blocked_on(path) -> bool:
    """A process waits for the flock on `path` (a "->" line for its inode in /proc/locks)."""
    inode = f":{path.stat().st_ino} "
    return any("->" in line and "FLOCK" in line and inode in line for line in open("/proc/locks"))


def test_a_waiting_worker_uses_the_classifier_the_lock_holder_wrote(digits_cache, tmp_path):
    """Two workers: the second blocks on the lock, then loads what the first wrote (no retraining)."""
    key = quality.cache_key("digits")
    folder = tmp_path / "quality"
    results = []
    with LocalArtifacts(tmp_path).scope("quality").lock(f"{key}.lock"):
        waiter = threading.Thread(target=lambda: results.append(quality.classifier_for("digits", tmp_path)))
        waiter.start()
        wait_for(lambda: _blocked_on(folder / f"{key}.lock"), timeout=60, interval=0.05,
                 what="the waiter to block on the lock")
        assert waiter.is_alive() and not results
        for suffix in (".keras", ".json"):  # the "other worker" finishes its atomic writes
            shutil.copy(digits_cache / "quality" / f"{key}{suffix}", folder / f"{key}{suffix}")
        written = (folder / f"{key}.json").stat().st_mtime_ns
    waiter.join(timeout=60)
    assert results and results[0].accuracy > 0.9
    assert (folder / f"{key}.json").stat().st_mtime_ns == written


def test_frechet_distance_matches_the_scipy_formula():
    from scipy import linalg

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(200, 6)), rng.normal(size=(150, 6)) * 1.5 + 0.3
    mu1, mu2, s1, s2 = a.mean(0), b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = (mu1 - mu2) @ (mu1 - mu2) + np.trace(s1 + s2 - 2 * np.real(linalg.sqrtm(s1 @ s2)))
    assert quality.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-6)
    assert quality.frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-8)


def test_class_scores_count_classes_with_half_their_fair_share():
    probs = np.zeros((100, 4))
    probs[np.arange(100), [0] * 40 + [1] * 40 + [2] * 12 + [3] * 8] = 0.9  # fair share 25: half is 12.5
    scores = quality.class_scores(probs, 4)
    assert scores["class_coverage"] == 0.5
    assert scores["mean_confidence"] == pytest.approx(0.9)
    p = np.array([0.4, 0.4, 0.12, 0.08])
    assert scores["class_kl"] == pytest.approx(float(np.sum(p * np.log(p * 4))))


def test_precision_recall_on_identical_collapsed_and_disjoint_sets():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((200, 8))
    assert quality.precision_recall(real, real.copy()) == {"precision": 1.0, "recall": 1.0}
    collapsed = quality.precision_recall(real, np.repeat(real[:1] * 0.1, 200, axis=0))  # one point near the mode
    assert collapsed["precision"] == 1.0 and collapsed["recall"] < 0.05
    far = quality.precision_recall(real, rng.standard_normal((200, 8)) + 100.0)
    assert far == {"precision": 0.0, "recall": 0.0}
    other_draw = quality.precision_recall(real, rng.standard_normal((200, 8)))  # same distribution
    assert other_draw["precision"] > 0.6 and other_draw["recall"] > 0.6
    narrow = quality.precision_recall(real, 0.3 * rng.standard_normal((200, 8)))  # fidelity without diversity
    assert narrow["precision"] > 0.9 and narrow["recall"] < other_draw["recall"]
    with pytest.raises(ValueError, match=r"Received: real.shape=\(200, 8\), fake.shape=\(5, 3\)"):
        quality.precision_recall(real, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="Received: k=0"):
        quality.precision_recall(real, real, k=0)


def test_precision_and_recall_are_recorded_and_separate_collapse(digits_cache, digits):
    real = quality.evaluate_samples("digits", digits.x_val[:300], digits_cache)
    collapsed = quality.evaluate_samples("digits", np.repeat(digits.x_val[:1], 300, axis=0), digits_cache)
    assert real["precision"] > 0.7 and real["recall"] > 0.7
    assert collapsed["precision"] == 1.0 and collapsed["recall"] < 0.05
