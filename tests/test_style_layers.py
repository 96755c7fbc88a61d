"""The ProGAN / StyleGAN layers: behaviour, arguments, config round trips, saving, training."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

import latentq.models  # noqa: F401  (registers the layers)
from latentq.models.layers.progressive import EqualizedConv2D, EqualizedDense, FadeIn, MinibatchStdDev, PixelNorm
from latentq.models.layers.style import AdaIN, ConstantInput, NoiseInjection

RNG = np.random.default_rng(0)


def np_(x) -> np.ndarray:
    return keras.ops.convert_to_numpy(x)


def maps(n=4, h=5, w=5, c=3, scale=1.0, seed=0) -> np.ndarray:
    return (np.random.default_rng(seed).normal(size=(n, h, w, c)) * scale).astype("float32")


# ---- behaviour -----------------------------------------------------------------------------------


def test_pixel_norm_gives_unit_mean_square_per_pixel():
    x = maps(c=6, scale=7.0)
    y = np_(PixelNorm()(x))
    np.testing.assert_allclose(np.mean(y**2, axis=-1), 1.0, rtol=1e-4)
    np.testing.assert_allclose(y / np.linalg.norm(y, axis=-1, keepdims=True),
                               x / np.linalg.norm(x, axis=-1, keepdims=True), rtol=1e-4, atol=1e-6)  # same direction
    z = np_(PixelNorm()(RNG.normal(size=(3, 10)).astype("float32") * 0.01))  # codings (StyleGAN's z)
    np.testing.assert_allclose(np.mean(z**2, axis=-1), 1.0, rtol=1e-3)


def test_minibatch_stddev_appends_the_batch_statistic():
    layer = MinibatchStdDev()
    x = maps(n=8, c=4)
    y = np_(layer(x))
    assert y.shape == (8, 5, 5, 5) and layer.compute_output_shape((None, 5, 5, 4)) == (None, 5, 5, 5)
    np.testing.assert_allclose(y[..., :4], x)
    expected = np.mean(np.sqrt(np.var(x, axis=0) + 1e-8))  # std across instances, averaged over features
    np.testing.assert_allclose(y[..., 4], expected, rtol=1e-5)  # one value everywhere

    same = np.repeat(x[:1], 8, axis=0)
    narrow, wide = np_(layer(x * 0.1))[0, 0, 0, 4], np_(layer(x * 3.0))[0, 0, 0, 4]
    assert np_(layer(same))[0, 0, 0, 4] < 1e-3 < narrow < wide  # a more diverse batch: a larger value
    assert np_(layer(RNG.normal(size=(6, 10)).astype("float32"))).shape == (6, 11)  # (batch, features) too


def test_equalized_dense_scales_unit_weights_by_the_he_constant():
    layer = EqualizedDense(300, name="eq")
    x = RNG.normal(size=(16, 200)).astype("float32")
    y = np_(layer(x))
    kernel = np_(layer.kernel)
    assert abs(kernel.std() - 1.0) < 0.02  # stored: N(0, 1)
    assert layer.scale == pytest.approx(math.sqrt(2.0) / math.sqrt(200))  # applied at run time
    np.testing.assert_allclose(y, x @ (kernel * layer.scale), rtol=1e-4, atol=1e-4)
    assert abs(y.std() - math.sqrt(2.0)) < 0.1  # He initialisation's output spread

    slow = EqualizedDense(50, lr_multiplier=0.01, bias_init=1.0)
    out = np_(slow(x))
    assert abs(np_(slow.kernel).std() - 100.0) < 5.0  # stored 1/lr larger: each step moves it 100x less
    assert slow.scale == pytest.approx(math.sqrt(2.0) / math.sqrt(200) * 0.01)
    np.testing.assert_allclose(out, x @ (np_(slow.kernel) * slow.scale) + 1.0, rtol=1e-4, atol=1e-4)


def test_equalized_conv_scales_unit_weights_by_the_he_constant():
    layer = EqualizedConv2D(8, 3, padding="same")
    x = maps(n=2, h=6, w=6, c=5)
    y = np_(layer(x))
    assert y.shape == (2, 6, 6, 8) and layer.scale == pytest.approx(math.sqrt(2.0) / math.sqrt(9 * 5))
    plain = keras.layers.Conv2D(8, 3, padding="same")
    plain.build((None, 6, 6, 5))
    plain.kernel.assign(np_(layer.kernel) * layer.scale)
    np.testing.assert_allclose(y, np_(plain(x)), rtol=1e-4, atol=1e-5)
    assert EqualizedConv2D(4, 3, padding="valid").compute_output_shape((None, 6, 6, 5)) == (None, 4, 4, 4)


def test_adain_output_statistics_are_the_styles():
    layer = AdaIN()
    x = maps(n=3, h=6, w=6, c=4, scale=5.0) + 3.0
    w = RNG.normal(size=(3, 7)).astype("float32")
    y = np_(layer([x, w]))
    scale, shift = (np_(s) for s in layer.styles(w))
    assert y.shape == x.shape and scale.shape == shift.shape == (3, 4)
    np.testing.assert_allclose(y.mean(axis=(1, 2)), shift, atol=1e-4)
    np.testing.assert_allclose(y.std(axis=(1, 2)), np.abs(scale), rtol=1e-3)
    # scale starts around 1 (bias 1), shift around 0: a fresh layer is close to instance norm
    assert abs(np_(layer.scale_bias).mean() - 1.0) < 1e-6 and np.allclose(np_(layer.shift_bias), 0.0)


def test_noise_injection_is_identity_at_zero_scale_and_random_in_training():
    layer = NoiseInjection(seed=3)
    x = maps(n=2, h=4, w=4, c=3)
    np.testing.assert_allclose(np_(layer(x, training=True)), x)  # scale starts at 0
    layer.scale.assign(np.array([1.0, 0.0, 2.0], "float32"))
    a, b = np_(layer(x, training=True)), np_(layer(x, training=True))
    assert not np.allclose(a, b)  # fresh noise each call
    np.testing.assert_allclose(a[..., 1], x[..., 1])  # a channel with scale 0 gets none
    np.testing.assert_allclose(a[..., 2] - x[..., 2], 2 * (a[..., 0] - x[..., 0]), rtol=1e-4, atol=1e-5)  # shared
    c, d = np_(layer(x, training=False)), np_(layer(x, training=False))
    np.testing.assert_allclose(c, d)  # inference: the fixed noise map, deterministic
    assert not np.allclose(c, x)


def test_fade_in_blends_by_alpha_and_constant_input_repeats_per_sample():
    fade = FadeIn(alpha=0.0)
    old, new = np.zeros((2, 3), "float32"), np.ones((2, 3), "float32")
    np.testing.assert_allclose(np_(fade([old, new])), 0.0)
    fade.alpha.assign(0.25)
    np.testing.assert_allclose(np_(fade([old, new])), 0.25)
    assert not fade.alpha.trainable and fade.trainable_weights == []

    const = ConstantInput((4, 4, 2))
    out = np_(const(np.zeros((5, 7), "float32")))
    assert out.shape == (5, 4, 4, 2) and np.allclose(out[0], out[4])


# ---- arguments -----------------------------------------------------------------------------------


@pytest.mark.parametrize("make, message", [
    (lambda: EqualizedDense(0), "Received: units=0"),
    (lambda: EqualizedDense(3, lr_multiplier=0), "Received: lr_multiplier=0"),
    (lambda: EqualizedDense(3, gain=-1.0), "Received: gain=-1.0"),
    (lambda: EqualizedConv2D(4, 2), "Received: kernel_size=2"),
    (lambda: EqualizedConv2D(4, padding="causal"), "Received: padding='causal'"),
    (lambda: PixelNorm(epsilon=0), "Received: epsilon=0"),
    (lambda: MinibatchStdDev(epsilon="x"), "Received: epsilon='x'"),
    (lambda: FadeIn(alpha=1.5), "Received: alpha=1.5"),
    (lambda: ConstantInput((4, 4)), "Received: shape=(4, 4)"),
    (lambda: NoiseInjection(seed=1.5), "Received: seed=1.5"),
    (lambda: AdaIN(epsilon=-1), "Received: epsilon=-1"),
])
def test_layers_check_their_arguments(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()


def test_layers_check_their_input_shapes():
    with pytest.raises(ValueError, match="Received: input_shape"):
        EqualizedConv2D(3)(np.zeros((2, 4, 3), "float32"))
    with pytest.raises(ValueError, match="Received: input_shape"):
        NoiseInjection()(np.zeros((2, 4), "float32"))
    with pytest.raises(ValueError, match="Received: input_shape"):
        AdaIN()([np.zeros((2, 4, 4, 3), "float32"), np.zeros((2, 3, 3), "float32")])
    with pytest.raises(ValueError, match="Received: input_shape"):
        FadeIn()([np.zeros((2, 4), "float32"), np.zeros((2, 5), "float32")])


# ---- config, saving, training --------------------------------------------------------------------

MAPS = (2, 4, 4, 3)
LAYERS = [  # a layer, and the shapes of the inputs it is called on
    (lambda: EqualizedDense(6, gain=1.5, lr_multiplier=0.1, bias_init=0.5, name="a"), (2, 5)),
    (lambda: EqualizedConv2D(5, 3, gain=1.0, use_bias=False, name="a"), MAPS),
    (lambda: PixelNorm(epsilon=1e-6, name="a"), MAPS),
    (lambda: MinibatchStdDev(epsilon=1e-6, name="a"), MAPS),
    (lambda: FadeIn(alpha=0.3, name="a"), [MAPS, MAPS]),
    (lambda: ConstantInput((2, 2, 3), name="a"), (2, 7)),
    (lambda: NoiseInjection(seed=4, name="a"), MAPS),
    (lambda: AdaIN(epsilon=1e-6, name="a"), [MAPS, (2, 6)]),
]


@pytest.mark.parametrize("make, shapes", LAYERS, ids=lambda m: type(m()).__name__ if callable(m) else "")
def test_output_shape_matches_compute_output_shape(make, shapes):
    layer = make()
    if isinstance(shapes, list):
        out = layer([RNG.normal(size=s).astype("float32") for s in shapes])
        expected = layer.compute_output_shape([(None, *s[1:]) for s in shapes])
    else:
        out = layer(RNG.normal(size=shapes).astype("float32"))
        expected = layer.compute_output_shape((None, *shapes[1:]))
    assert tuple(expected[1:]) == tuple(out.shape[1:]) and out.shape[0] == 2


@pytest.mark.parametrize("make, shapes", LAYERS, ids=lambda m: type(m()).__name__ if callable(m) else "")
def test_config_round_trip(make, shapes):
    layer = make()
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config and clone.name == "a"
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(revived) is type(layer) and revived.get_config() == config
    assert keras.saving.get_registered_name(type(layer)) == f"latentq>{type(layer).__name__}"


def tiny_model() -> keras.Model:
    """One model using every layer: (4, 4, 2) maps + a style -> a probability."""
    x_in, w_in = keras.Input((4, 4, 2)), keras.Input((3,))
    w = EqualizedDense(3, lr_multiplier=0.1)(PixelNorm()(w_in))
    const = ConstantInput((4, 4, 2))(w)
    x = FadeIn(alpha=0.5)([x_in, const])
    x = NoiseInjection(seed=1)(EqualizedConv2D(4)(x))
    x = AdaIN()([PixelNorm()(x), w])
    x = MinibatchStdDev()(x)
    out = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(x))
    return keras.Model([x_in, w_in], out)


def test_every_layer_saves_loads_and_trains_in_a_model(tmp_path):
    model = tiny_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy")
    rng = np.random.default_rng(5)
    x, w, y = rng.normal(size=(32, 4, 4, 2)), rng.normal(size=(32, 3)), rng.integers(0, 2, size=(32, 1))
    before = [np_(v).copy() for v in model.trainable_weights]
    history = model.fit([x, w], y, batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
    moved = [not np.allclose(a, np_(v)) for a, v in zip(before, model.trainable_weights)]
    assert all(moved), [v.path for v, m in zip(model.trainable_weights, moved) if not m]  # every weight learns

    path = tmp_path / "layers.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    probe = [x[:5].astype("float32"), w[:5].astype("float32")]
    np.testing.assert_allclose(np_(loaded(probe)), np_(model(probe)), rtol=1e-5, atol=1e-6)  # fixed noise too
    assert loaded.output_shape == (None, 1)
    loaded.fit([x, w], y, batch_size=8, epochs=1, verbose=0)  # and trains on
