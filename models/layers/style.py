"""StyleGAN's synthesis layers (Karras et al., 2019):

- `ConstantInput`: the synthesis network's learned constant start.
- `NoiseInjection`: per-pixel Gaussian noise added with a learned per-channel scale.
- `AdaIN`: adaptive instance normalisation: each feature map standardised, then scaled and
  shifted by a style computed from w.

All are registered as `latentq>Name`, check their arguments ("Received: ..."), and use
`keras.ops` / `keras.random` only.
"""

from __future__ import annotations

import math
from typing import Optional

import keras
from keras import ops

from latentq.models.layers import checks

from latentq.models.layers.progressive import PACKAGE, _feature_maps


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConstantInput(keras.layers.Layer):
    """The synthesis network's learned constant, (height, width, channels), repeated for each
    sample of the batch. Its input only gives the batch size (any (batch, ...) tensor, e.g. w)."""

    def __init__(self, shape, **kwargs):
        super().__init__(**kwargs)
        shape = tuple(shape) if isinstance(shape, (list, tuple)) else None
        if not shape or len(shape) != 3 or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape):
            raise ValueError(f"`shape` must be (height, width, channels), positive integers. Received: shape={shape!r}")
        self.shape = shape
        self.constant = self.add_weight(name="constant", shape=(1, *shape),
                                        initializer=keras.initializers.RandomNormal(0.0, 1.0))

    def build(self, input_shape):
        if len(input_shape) < 1:
            raise ValueError(f"ConstantInput needs a batched input for its batch size. "
                             f"Received: input_shape={tuple(input_shape)}")

    def call(self, inputs):
        n = ops.shape(inputs)[0]
        return ops.broadcast_to(ops.cast(self.constant, self.compute_dtype), (n, *self.shape))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.shape)

    def get_config(self):
        return {**super().get_config(), "shape": list(self.shape)}


@keras.saving.register_keras_serializable(package=PACKAGE)
class NoiseInjection(keras.layers.Layer):
    """`x + scale * noise`: one Gaussian noise value per pixel, shared by the channels, each
    channel adding it with its own learned `scale` (zero at first, so the layer starts as the
    identity). The noise lets the generator place random detail without spending codings on it.

    In training the noise is fresh for every call. Otherwise it is a fixed noise map drawn
    once when the layer is built and saved with it (StyleGAN's "const" noise mode), so a
    trained generator is a deterministic function of its codings.
    """

    def __init__(self, seed: Optional[int] = None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"`seed` must be an integer or None. Received: seed={seed!r}")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        height, width, channels = _feature_maps("NoiseInjection", input_shape)
        self.scale = self.add_weight(name="scale", shape=(channels,), initializer="zeros")
        self.fixed_noise = self.add_weight(
            name="fixed_noise", shape=(1, height, width, 1), trainable=False,
            initializer=keras.initializers.RandomNormal(0.0, 1.0, seed=self.seed))

    def call(self, inputs, training=None):
        if training:
            shape = ops.shape(inputs)
            noise = keras.random.normal((shape[0], shape[1], shape[2], 1), seed=self.seed_generator,
                                        dtype=inputs.dtype)
        else:
            noise = ops.cast(self.fixed_noise, inputs.dtype)
        return inputs + ops.cast(self.scale, inputs.dtype) * noise

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package=PACKAGE)
class AdaIN(keras.layers.Layer):
    """Adaptive instance normalisation, inputs [x, w]: each feature map of x (batch, height,
    width, channels) is standardised on its own (mean 0, std 1 over its pixels), then scaled
    and shifted by a style computed from w (batch, w_dim) with a learned affine map:
    `scale = 1 + w @ A_s`, `shift = w @ A_b` (equalized learning rate, gain 1). The output's
    per-channel mean is `shift` and its standard deviation is |scale| (see `styles`).
    """

    def __init__(self, epsilon: float = 1e-8, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = checks.positive_float("epsilon", epsilon)

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2 \
                or not isinstance(input_shape[0], (list, tuple)):
            raise ValueError(f"AdaIN expects two inputs [x, w]. Received: input_shape={input_shape}")
        x_shape, w_shape = input_shape
        _, _, channels = _feature_maps("AdaIN", x_shape)
        if len(w_shape) != 2 or w_shape[-1] is None:
            raise ValueError(f"AdaIN expects w of shape (batch, w_dim). Received: input_shape={input_shape}")
        w_dim = int(w_shape[-1])
        self.channels = channels
        self.style_scale = 1.0 / math.sqrt(w_dim)
        normal = keras.initializers.RandomNormal(0.0, 1.0)
        self.scale_kernel = self.add_weight(name="scale_kernel", shape=(w_dim, channels), initializer=normal)
        self.scale_bias = self.add_weight(name="scale_bias", shape=(channels,), initializer="ones")
        self.shift_kernel = self.add_weight(name="shift_kernel", shape=(w_dim, channels), initializer=normal)
        self.shift_bias = self.add_weight(name="shift_bias", shape=(channels,), initializer="zeros")

    def styles(self, w):
        """(scale, shift), each (batch, channels), of the styles w."""
        scale = ops.matmul(w, self.scale_kernel * self.style_scale) + self.scale_bias
        shift = ops.matmul(w, self.shift_kernel * self.style_scale) + self.shift_bias
        return scale, shift

    def call(self, inputs):
        x, w = inputs
        mean, var = ops.moments(x, axes=[1, 2], keepdims=True)
        normalised = (x - mean) * ops.rsqrt(var + self.epsilon)
        scale, shift = self.styles(ops.cast(w, x.dtype))
        return normalised * ops.reshape(scale, (-1, 1, 1, self.channels)) + ops.reshape(shift, (-1, 1, 1, self.channels))

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}
