"""FID offline: the pipeline with random Inception weights, the closed form, the no-weights path."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("keras")

import keras  # noqa: E402

from latentq.models.evaluation import fid  # noqa: E402

from latentq.models.evaluation import quality  # noqa: E402


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.standard_normal(6), rng.standard_normal(6)
    s1, s2 = rng.uniform(0.1, 3.0, 6), rng.uniform(0.1, 3.0, 6)
    closed = float(np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2)))
    assert quality.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(closed, rel=1e-9)
    # from features: a large sample of those two Gaussians approaches the closed form
    real = mu1 + np.sqrt(s1) * rng.standard_normal((200_000, 6))
    fake = mu2 + np.sqrt(s2) * rng.standard_normal((200_000, 6))
    assert fid.fid_from_features(real, fake) == pytest.approx(closed, rel=0.02)
    assert fid.fid_from_features(real, real) == pytest.approx(0.0, abs=1e-9)


def test_images_get_three_channels_and_the_reference_size_in_minus_one_to_one():
    grey = np.linspace(0, 1, 2 * 8 * 8, dtype=np.float32).reshape(2, 8, 8)
    prepared = fid.prepare(grey)
    assert prepared.shape == (2, 299, 299, 3)
    assert prepared.min() >= -1.0 and prepared.max() <= 1.0
    assert np.array_equal(prepared[..., 0], prepared[..., 2])
    assert fid.prepare(np.zeros((1, 4, 4, 1), np.float32)).shape == (1, 299, 299, 3)
    assert np.all(fid.prepare(np.ones((1, 5, 5, 3), np.float32)) == 1.0)
    with pytest.raises(ValueError, match=r"Received: images.shape=\(2, 8, 8, 2\)"):
        fid.prepare(np.zeros((2, 8, 8, 2), np.float32))


@pytest.mark.slow  # a 299x299 Inception-v3 on a CPU: about a minute here
def test_the_pipeline_with_random_inception_weights_gives_a_finite_distance():
    keras.utils.set_random_seed(0)
    model = fid.build_inception(weights=None)
    rng = np.random.default_rng(0)
    real, fake = rng.random((3, 8, 8), dtype=np.float32), rng.random((3, 8, 8, 1), dtype=np.float32)
    feats = fid.features(model, real, batch_size=2)  # two batches: 2 + 1 images
    assert feats.shape == (3, fid.FEATURES) and np.all(np.isfinite(feats))
    value = fid.fid(model, real, fake, batch_size=3)
    assert np.isfinite(value) and value > 0.0


class Ctx:
    def __init__(self, cache_dir):
        self.cache_dir = cache_dir
        self.events, self.records = [], []

    def event(self, level, message):
        self.events.append((level, message))

    def record(self, step, **values):
        self.records.append((step, values))


def test_without_weights_or_network_one_line_says_so_and_the_run_goes_on(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: [Errno -3] "
                        "Temporary failure in name resolution")

    monkeypatch.setattr(keras.utils, "get_file", no_network)
    model, reason = fid.inception(tmp_path / "empty-cache")
    assert model is None
    assert reason.startswith("FID skipped: the Inception-v3 ImageNet weights are not in")
    assert "name resolution" in reason and "\n" not in reason
    ctx = Ctx(tmp_path / "empty-cache")
    assert fid.record_fid(ctx, np.zeros((2, 8, 8)), np.zeros((2, 8, 8)), step=3) is None
    assert ctx.events == [("info", reason)] and ctx.records == []
