"""StyleGAN sampling tools: the average w, truncation, interpolation in w space."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("keras")

import keras  # noqa: E402
from keras import ops  # noqa: E402

from latentq.models.gan.stylegan.sampling import WAverage, interpolate_w, truncate, truncated_styles  # noqa: E402


def test_the_average_w_follows_its_running_mean_and_is_saved(tmp_path):
    avg = WAverage(3, beta=0.5)
    expected = np.zeros(3)
    rng = np.random.default_rng(0)
    for _ in range(4):
        w = rng.standard_normal((8, 3)).astype(np.float32)
        avg.update(w)
        expected = w.mean(0) + 0.5 * (expected - w.mean(0))
    np.testing.assert_allclose(ops.convert_to_numpy(avg.w_avg), expected, rtol=1e-5)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, avg(inputs, psi=0.5))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    layer = [layer for layer in loaded.layers if isinstance(layer, WAverage)][0]
    np.testing.assert_allclose(ops.convert_to_numpy(layer.w_avg), expected, rtol=1e-6)
    assert layer.beta == 0.5


def test_truncation_psi_zero_gives_the_average_and_one_leaves_w():
    w = np.array([[1.0, 2.0], [3.0, -4.0]], np.float32)
    w_avg = np.array([0.5, 0.5], np.float32)
    np.testing.assert_allclose(ops.convert_to_numpy(truncate(ops.convert_to_tensor(w), w_avg, 0.0)),
                               np.tile(w_avg, (2, 1)))
    np.testing.assert_allclose(ops.convert_to_numpy(truncate(ops.convert_to_tensor(w), w_avg, 1.0)), w)
    styles = truncated_styles(ops.convert_to_tensor(w), w_avg, 0.5, count=4, layers=2)
    assert len(styles) == 4
    np.testing.assert_allclose(ops.convert_to_numpy(styles[0]), w_avg + 0.5 * (w - w_avg))
    np.testing.assert_allclose(ops.convert_to_numpy(styles[3]), w)
    with pytest.raises(ValueError, match="Received: psi=2"):
        truncated_styles(w, w_avg, 2, count=4)
    with pytest.raises(ValueError, match="Received: layers=5"):
        truncated_styles(w, w_avg, 0.7, count=4, layers=5)


def test_interpolation_runs_in_w_between_the_mapped_ends():
    keras.utils.set_random_seed(0)
    mapping = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh")])
    z0, z1 = np.ones(4, np.float32), -np.ones(4, np.float32)
    path = interpolate_w(mapping, z0, z1, 5)
    ends = ops.convert_to_numpy(mapping(np.stack([z0, z1])))
    assert path.shape == (5, 3)
    np.testing.assert_allclose(path[0], ends[0], rtol=1e-6)
    np.testing.assert_allclose(path[-1], ends[1], rtol=1e-6)
    np.testing.assert_allclose(path[2], ends.mean(0), rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="Received: steps=1"):
        interpolate_w(mapping, z0, z1, 1)
