"""The generator EMA: the analytic average, the ramp-up, compiled updates, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("keras")

import keras  # noqa: E402
from keras import ops  # noqa: E402

from latentq.models.gan.ema import WeightAverage, half_life_from_decay  # noqa: E402


def tiny_network(name="generator") -> keras.Model:
    inputs = keras.Input((3,))
    x = keras.layers.Dense(4, name="dense")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    return keras.Model(inputs, x, name=name)


def numpy_weights(network):
    return [np.array(ops.convert_to_numpy(w)) for w in network.weights]


def perturb(network, rng):
    for w in network.trainable_weights:
        w.assign(ops.convert_to_numpy(w) + rng.standard_normal(tuple(w.shape)).astype(np.float32))
    for w in network.non_trainable_weights:
        w.assign(ops.convert_to_numpy(w) + 1.0)


@keras.saving.register_keras_serializable(package="latentq_test")
class Holder(keras.Model):
    """A model that holds a network and its average, like the GAN models will."""

    def __init__(self, network, half_life_images=64.0, rampup=None, **kwargs):
        super().__init__(**kwargs)
        self.network = network
        self.ema = WeightAverage(half_life_images, rampup=rampup, name="generator_ema").track(network)
        self.built = True

    def call(self, x):
        return self.network(x)

    def get_config(self):
        return {**super().get_config(), "network": keras.saving.serialize_keras_object(self.network),
                "half_life_images": self.ema.half_life_images, "rampup": self.ema.rampup}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        return cls(**config)


def test_shadow_follows_the_analytic_average_and_copies_non_trainable_weights():
    rng = np.random.default_rng(0)
    network = tiny_network()
    ema = WeightAverage(half_life_images=64.0, rampup=None).track(network)
    trainable = [any(w is t for t in network.trainable_weights) for w in network.weights]
    expected = numpy_weights(network)
    beta = 0.5 ** (16 / 64.0)
    for _ in range(5):
        perturb(network, rng)
        ema.update(network, 16)
        current = numpy_weights(network)
        expected = [c + beta * (e - c) if t else c for e, c, t in zip(expected, current, trainable)]
    for shadow, want in zip(ema.shadows, expected):
        np.testing.assert_allclose(ops.convert_to_numpy(shadow), want, rtol=1e-5, atol=1e-6)
    assert float(ops.convert_to_numpy(ema.images_seen)) == 80.0
    assert not ema.trainable_weights and len(ema.non_trainable_weights) == len(network.weights) + 1


def test_rampup_limits_the_half_life_to_a_share_of_the_images_seen():
    network = tiny_network()
    ema = WeightAverage(half_life_images=10_000.0, rampup=0.05).track(network)
    assert float(ops.convert_to_numpy(ema.decay(32))) == 0.0  # nothing seen: the shadow takes the weights
    ema.images_seen.assign(1000.0)  # half-life 50 images, not 10 000
    assert float(ops.convert_to_numpy(ema.decay(32))) == pytest.approx(0.5 ** (32 / 50))
    ema.images_seen.assign(1e6)
    assert float(ops.convert_to_numpy(ema.decay(32))) == pytest.approx(0.5 ** (32 / 10_000))
    assert half_life_from_decay(0.5 ** (32 / 10_000), 32) == pytest.approx(10_000)
    with pytest.raises(ValueError, match="Received: decay=1.0"):
        half_life_from_decay(1.0, 32)


def test_update_runs_inside_a_compiled_function_and_swapping_restores_the_weights():
    import tensorflow as tf

    rng = np.random.default_rng(1)
    network = tiny_network()
    ema = WeightAverage(half_life_images=32.0, rampup=None).track(network)
    start = numpy_weights(network)
    perturb(network, rng)
    raw = numpy_weights(network)

    @tf.function(jit_compile=False)
    def step(n):
        ema.update(network, n)

    step(tf.constant(32))  # beta = 0.5: halfway between the start and the raw weights
    kernel = network.weights.index(network.get_layer("dense").kernel)
    np.testing.assert_allclose(ops.convert_to_numpy(ema.shadows[kernel]), (start[kernel] + raw[kernel]) / 2, rtol=1e-5)
    with ema.swapped_into(network) as averaged:
        np.testing.assert_allclose(ops.convert_to_numpy(averaged.get_layer("dense").kernel),
                                   (start[kernel] + raw[kernel]) / 2, rtol=1e-5)
    np.testing.assert_allclose(numpy_weights(network)[kernel], raw[kernel])
    copy = ema.averaged_copy(network)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    with ema.swapped_into(network):
        np.testing.assert_allclose(ops.convert_to_numpy(copy(x)), ops.convert_to_numpy(network(x)), rtol=1e-5)
    with pytest.raises(ValueError, match="Received: network='other'"):
        ema.copy_to(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)], name="other"))


def test_the_average_survives_a_save_and_load_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    holder = Holder(tiny_network(), half_life_images=48.0)
    for _ in range(3):
        perturb(holder.network, rng)
        holder.ema.update(holder.network, 8)
    path = tmp_path / "holder.keras"
    holder.save(path)
    loaded = keras.models.load_model(path)
    for a, b in zip(holder.ema.shadows, loaded.ema.shadows):
        np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))
    assert float(ops.convert_to_numpy(loaded.ema.images_seen)) == 24.0
    assert loaded.ema.half_life_images == 48.0
    # and it continues exactly as the original would
    perturb(holder.network, rng)
    loaded.network.set_weights(holder.network.get_weights())
    holder.ema.update(holder.network, 8)
    loaded.ema.update(loaded.network, 8)
    for a, b in zip(holder.ema.shadows, loaded.ema.shadows):
        np.testing.assert_allclose(ops.convert_to_numpy(a), ops.convert_to_numpy(b), rtol=1e-6)


def test_bad_arguments_say_what_was_received():
    with pytest.raises(ValueError, match="Received: half_life_images=0"):
        WeightAverage(half_life_images=0)
    with pytest.raises(ValueError, match="Received: rampup=-1"):
        WeightAverage(rampup=-1)
    ema = WeightAverage().track(tiny_network())
    with pytest.raises(ValueError, match="already tracks"):
        ema.track(tiny_network("another"))


def test_the_layer_config_round_trips():
    ema = WeightAverage(half_life_images=123.0, rampup=None, name="g_ema")
    again = WeightAverage.from_config(ema.get_config())
    assert (again.half_life_images, again.rampup, again.name, again.trainable) == (123.0, None, "g_ema", False)


def test_a_fixed_list_of_variables_can_be_tracked_instead_of_a_network():
    """ProGAN re-wires its generator per stage: the average follows all blocks' variables."""
    rng = np.random.default_rng(3)
    a, b = tiny_network("block_a"), tiny_network("block_b")
    variables = [*a.weights, *b.weights]
    ema = WeightAverage(half_life_images=16.0, rampup=None).track(variables)
    before = [np.array(ops.convert_to_numpy(v)) for v in variables]
    perturb(a, rng)
    ema.update(variables, 16)  # beta = 0.5
    kernel = a.get_layer("dense").kernel
    i = next(i for i, v in enumerate(variables) if v is kernel)
    np.testing.assert_allclose(ops.convert_to_numpy(ema.shadows[i]),
                               (before[i] + ops.convert_to_numpy(kernel)) / 2, rtol=1e-5)
    moving = a.get_layer("bn").moving_mean
    j = next(j for j, v in enumerate(variables) if v is moving)
    np.testing.assert_allclose(ops.convert_to_numpy(ema.shadows[j]), ops.convert_to_numpy(moving))  # copied
    with pytest.raises(ValueError, match="Received: network='6 variables'"):
        ema.update(a.weights, 16)


def test_batch_norm_statistics_are_measured_again_on_the_given_inputs():
    from latentq.models.gan.ema import recalibrate_batch_norm

    network = tiny_network()
    x = np.random.default_rng(4).standard_normal((50, 3)).astype(np.float32)
    recalibrate_batch_norm(network, x)
    bn, dense = network.get_layer("bn"), network.get_layer("dense")
    pre = ops.convert_to_numpy(dense(x))
    np.testing.assert_allclose(ops.convert_to_numpy(bn.moving_mean), pre.mean(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(bn.moving_variance), pre.var(0), rtol=1e-3, atol=1e-6)
    assert bn.momentum == 0.99
