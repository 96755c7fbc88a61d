"""MinibatchDiscrimination and ReplayBuffer: shapes, behaviour, arguments, config and saving."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import latentq.models  # noqa: F401  (registers the layers)
from latentq.models.layers.gan import MinibatchDiscrimination, ReplayBuffer

# ---- minibatch discrimination ------------------------------------------------------------------


def test_minibatch_discrimination_appends_one_feature_per_kernel():
    layer = MinibatchDiscrimination(num_kernels=5, kernel_dim=3)
    x = np.random.default_rng(0).normal(size=(7, 11)).astype("float32")
    out = keras.ops.convert_to_numpy(layer(x))
    assert out.shape == (7, 16)
    assert layer.compute_output_shape((None, 11)) == (None, 16)
    np.testing.assert_allclose(out[:, :11], x)  # the input features pass through unchanged


def test_minibatch_discrimination_sees_batch_diversity():
    layer = MinibatchDiscrimination(num_kernels=8, kernel_dim=4)
    rng = np.random.default_rng(1)
    one = rng.normal(size=(1, 20)).astype("float32")
    same = np.repeat(one, 16, axis=0)
    diverse = rng.normal(scale=3.0, size=(16, 20)).astype("float32")
    close_same = keras.ops.convert_to_numpy(layer(same))[:, 20:]
    close_diverse = keras.ops.convert_to_numpy(layer(diverse))[:, 20:]
    np.testing.assert_allclose(close_same, 1.0, atol=1e-6)  # identical samples: closeness 1 to all others
    assert close_diverse.mean() < 0.5 * close_same.mean()
    # the same sample gets a different feature in a different batch
    mixed = np.concatenate([one, diverse[1:]])
    assert not np.allclose(keras.ops.convert_to_numpy(layer(mixed))[0, 20:], close_same[0])
    # a batch of one has nobody to be close to
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(one))[:, 20:], 0.0)


def test_minibatch_discrimination_config_roundtrip_and_training():
    layer = MinibatchDiscrimination(num_kernels=4, kernel_dim=2, name="mbd")
    clone = MinibatchDiscrimination.from_config(layer.get_config())
    assert (clone.num_kernels, clone.kernel_dim, clone.name) == (4, 2, "mbd")
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(revived, MinibatchDiscrimination) and revived.num_kernels == 4
    model = keras.Sequential([keras.Input((6,)), layer, keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    before = keras.ops.convert_to_numpy(layer.kernel).copy()
    rng = np.random.default_rng(2)
    history = model.fit(rng.normal(size=(64, 6)), rng.integers(0, 2, size=(64, 1)), batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.allclose(before, keras.ops.convert_to_numpy(layer.kernel))  # the kernel learns


def test_minibatch_discrimination_checks_arguments():
    with pytest.raises(ValueError, match="Received: num_kernels=0"):
        MinibatchDiscrimination(num_kernels=0)
    with pytest.raises(ValueError, match="Received: kernel_dim=2.5"):
        MinibatchDiscrimination(kernel_dim=2.5)
    with pytest.raises(ValueError, match="Received: input_shape"):
        MinibatchDiscrimination()(np.zeros((2, 3, 4), "float32"))


# ---- replay buffer -----------------------------------------------------------------------------


def constant_images(values, shape=(2, 2)) -> np.ndarray:
    return np.stack([np.full(shape, v, dtype="float32") for v in values])


def state(buffer: ReplayBuffer) -> tuple[np.ndarray, int, int]:
    return (keras.ops.convert_to_numpy(buffer.images), int(keras.ops.convert_to_numpy(buffer.filled)),
            int(keras.ops.convert_to_numpy(buffer.position)))


def test_replay_buffer_is_a_ring_of_capacity_images():
    buffer = ReplayBuffer(5, (2, 2), seed=0)
    buffer.store(constant_images([1, 2, 3]))
    images, filled, position = state(buffer)
    assert (filled, position) == (3, 3)
    np.testing.assert_array_equal(images[:, 0, 0], [1, 2, 3, 0, 0])
    buffer.store(constant_images([4, 5, 6, 7]))  # wraps: 6 and 7 overwrite the oldest (1 and 2)
    images, filled, position = state(buffer)
    assert (filled, position) == (5, 2)
    np.testing.assert_array_equal(images[:, 0, 0], [6, 7, 3, 4, 5])
    buffer.store(constant_images(range(10, 22)))  # a batch over capacity keeps its last 5
    images, filled, position = state(buffer)
    assert filled == 5
    assert sorted(images[:, 0, 0]) == [17, 18, 19, 20, 21]


def test_replay_buffer_samples_only_filled_slots():
    buffer = ReplayBuffer(50, (2, 2), seed=3)
    buffer.store(constant_images([1, 2, 3]))
    drawn = keras.ops.convert_to_numpy(buffer.sample(300))[:, 0, 0]
    assert set(np.unique(drawn)) == {1.0, 2.0, 3.0}  # never an empty (zero) slot, every stored image
    assert drawn.shape == (300,)


def test_replay_buffer_mixes_its_fraction_of_the_batch():
    buffer = ReplayBuffer(20, (2, 2), fraction=0.25, seed=1)
    fresh = constant_images([-1] * 8)
    first = keras.ops.convert_to_numpy(buffer(fresh, training=True))
    np.testing.assert_array_equal(first, fresh)  # empty buffer: nothing to replay yet
    assert state(buffer)[1] == 8  # ... but the batch was stored
    newer = constant_images([-2] * 8)
    mixed = keras.ops.convert_to_numpy(buffer(newer, training=True))[:, 0, 0]
    np.testing.assert_array_equal(mixed[:2], [-1, -1])  # round(0.25 * 8) = 2 rows from the past
    np.testing.assert_array_equal(mixed[2:], [-2] * 6)
    before = state(buffer)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(buffer(newer, training=False)), newer)
    assert state(buffer)[1:] == before[1:]  # inference neither mixes nor stores


def test_replay_buffer_config_and_arguments():
    buffer = ReplayBuffer(7, (3, 3, 2), fraction=0.3, seed=4, name="replay")
    clone = ReplayBuffer.from_config(buffer.get_config())
    assert (clone.capacity, clone.image_shape, clone.fraction, clone.seed) == (7, (3, 3, 2), 0.3, 4)
    assert tuple(clone.images.shape) == (7, 3, 3, 2) and not clone.trainable_weights
    with pytest.raises(ValueError, match="Received: capacity=0"):
        ReplayBuffer(0, (2, 2))
    with pytest.raises(ValueError, match="Received: fraction=1.5"):
        ReplayBuffer(4, (2, 2), fraction=1.5)
    with pytest.raises(ValueError, match="Received: image_shape"):
        ReplayBuffer(4, (2, -2))
