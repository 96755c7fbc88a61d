"""Layers of the notes' last two GANs: progressive growing (ProGAN) and StyleGAN.

ProGAN (Karras et al., 2018):
- `EqualizedDense`, `EqualizedConv2D`: equalized learning rate. Weights are initialised from
  N(0, 1) and multiplied at run time by the He constant gain / sqrt(fan_in), so every weight
  has the same dynamic range and adaptive optimizers (Adam, RMSprop) move them all at the
  same relative speed. `EqualizedDense` also takes StyleGAN's `lr_multiplier` (the mapping
  network learns 100x slower).
- `PixelNorm`: pixelwise feature-vector normalisation, after each generator convolution.
- `MinibatchStdDev`: near the end of the discriminator, one extra feature map holding how
  much the batch varies, so a generator with too little variety is easy to spot.
- `FadeIn`: blends the output of the previous stage into the new one while a stage grows in;
  its `alpha` is a non-trainable weight that the training step sets.

StyleGAN (Karras et al., 2019):
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

from latentq.models import arg_checks

PACKAGE = "latentq"
HE_GAIN = math.sqrt(2.0)  # the He constant's gain for (leaky) ReLU layers


def _feature_maps(layer: str, input_shape) -> tuple[int, int, int]:
    """(height, width, channels) of a (batch, height, width, channels) input with known sizes."""
    if len(input_shape) != 4 or any(d is None for d in input_shape[1:]):
        raise ValueError(f"{layer} expects feature maps of shape (batch, height, width, channels) with known "
                         f"sizes. Received: input_shape={tuple(input_shape)}")
    return int(input_shape[1]), int(input_shape[2]), int(input_shape[3])


# ---- equalized learning rate -------------------------------------------------------------------


@keras.saving.register_keras_serializable(package=PACKAGE)
class EqualizedDense(keras.layers.Layer):
    """A dense layer with equalized learning rate.

    The stored kernel is drawn from N(0, 1 / lr_multiplier^2); the layer computes
    `inputs @ (kernel * scale) + bias * lr_multiplier` with
    `scale = gain / sqrt(fan_in) * lr_multiplier`. At lr_multiplier 1 the effective weights
    have He initialisation's spread, while the optimizer sees unit-variance parameters.

    Args:
        units: output size.
        gain: numerator of the He constant (sqrt(2) before a (leaky) ReLU, 1 for a linear output).
        lr_multiplier: how fast this layer learns relative to the others (StyleGAN's mapping
            network: 0.01).
        use_bias: add a bias.
        bias_init: the bias's starting (effective) value, e.g. 1.0 for a scale that starts at one.
    """

    def __init__(self, units: int, gain: float = HE_GAIN, lr_multiplier: float = 1.0, use_bias: bool = True,
                 bias_init: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.units = arg_checks.positive_int("units", units)
        self.gain = arg_checks.positive_float("gain", gain)
        self.lr_multiplier = arg_checks.positive_float("lr_multiplier", lr_multiplier)
        if not isinstance(use_bias, bool):
            raise ValueError(f"`use_bias` must be True or False. Received: use_bias={use_bias!r}")
        self.use_bias = use_bias
        if isinstance(bias_init, bool) or not isinstance(bias_init, (int, float)) or not math.isfinite(bias_init):
            raise ValueError(f"`bias_init` must be a number. Received: bias_init={bias_init!r}")
        self.bias_init = float(bias_init)

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"EqualizedDense expects inputs of shape (..., features) with a known feature size. "
                             f"Received: input_shape={tuple(input_shape)}")
        fan_in = int(input_shape[-1])
        self.scale = self.gain / math.sqrt(fan_in) * self.lr_multiplier
        self.kernel = self.add_weight(
            name="kernel", shape=(fan_in, self.units),
            initializer=keras.initializers.RandomNormal(0.0, 1.0 / self.lr_multiplier))
        self.bias = (self.add_weight(name="bias", shape=(self.units,),
                                     initializer=keras.initializers.Constant(self.bias_init / self.lr_multiplier))
                     if self.use_bias else None)

    def call(self, inputs):
        outputs = ops.matmul(inputs, self.kernel * self.scale)
        if self.bias is not None:
            outputs = outputs + self.bias * self.lr_multiplier
        return outputs

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "gain": self.gain,
                "lr_multiplier": self.lr_multiplier, "use_bias": self.use_bias, "bias_init": self.bias_init}


@keras.saving.register_keras_serializable(package=PACKAGE)
class EqualizedConv2D(keras.layers.Layer):
    """A stride-1 2-D convolution (channels last) with equalized learning rate: kernel from
    N(0, 1), multiplied at run time by gain / sqrt(kernel_size^2 * input channels).

    Args:
        filters: output channels.
        kernel_size: side of the square kernel (odd, so "same" padding stays centred).
        gain: numerator of the He constant (sqrt(2) before a leaky ReLU, 1 for to-RGB layers).
        padding: "same" or "valid".
        use_bias: add a per-filter bias.
    """

    def __init__(self, filters: int, kernel_size: int = 3, gain: float = HE_GAIN, padding: str = "same",
                 use_bias: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.filters = arg_checks.positive_int("filters", filters)
        self.kernel_size = arg_checks.positive_int("kernel_size", kernel_size)
        if self.kernel_size % 2 == 0:
            raise ValueError(f"`kernel_size` must be odd. Received: kernel_size={kernel_size!r}")
        self.gain = arg_checks.positive_float("gain", gain)
        if padding not in ("same", "valid"):
            raise ValueError(f"`padding` must be 'same' or 'valid'. Received: padding={padding!r}")
        self.padding = padding
        if not isinstance(use_bias, bool):
            raise ValueError(f"`use_bias` must be True or False. Received: use_bias={use_bias!r}")
        self.use_bias = use_bias

    def build(self, input_shape):
        _, _, channels = _feature_maps("EqualizedConv2D", input_shape)
        fan_in = self.kernel_size * self.kernel_size * channels
        self.scale = self.gain / math.sqrt(fan_in)
        self.kernel = self.add_weight(
            name="kernel", shape=(self.kernel_size, self.kernel_size, channels, self.filters),
            initializer=keras.initializers.RandomNormal(0.0, 1.0))
        self.bias = (self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
                     if self.use_bias else None)

    def call(self, inputs):
        outputs = ops.conv(inputs, self.kernel * self.scale, strides=1, padding=self.padding,
                           data_format="channels_last")
        if self.bias is not None:
            outputs = outputs + self.bias
        return outputs

    def compute_output_shape(self, input_shape):
        n, h, w = input_shape[0], input_shape[1], input_shape[2]
        if self.padding == "valid":
            h = None if h is None else h - self.kernel_size + 1
            w = None if w is None else w - self.kernel_size + 1
        return (n, h, w, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "gain": self.gain, "padding": self.padding, "use_bias": self.use_bias}


# ---- ProGAN's normalisations ---------------------------------------------------------------------


@keras.saving.register_keras_serializable(package=PACKAGE)
class PixelNorm(keras.layers.Layer):
    """Pixelwise feature-vector normalisation: each position's feature vector divided by its
    root mean square over the channels, `x / sqrt(mean(x^2, channels) + epsilon)`. Keeps the
    generator's and the discriminator's magnitudes from escalating. Works on (batch, features)
    too (StyleGAN normalises z this way)."""

    def __init__(self, epsilon: float = 1e-8, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = arg_checks.positive_float("epsilon", epsilon)

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"PixelNorm expects inputs of shape (batch, ..., channels) with known channels. "
                             f"Received: input_shape={tuple(input_shape)}")

    def call(self, inputs):
        return inputs * ops.rsqrt(ops.mean(ops.square(inputs), axis=-1, keepdims=True) + self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package=PACKAGE)
class MinibatchStdDev(keras.layers.Layer):
    """Minibatch standard deviation: appends one feature map filled with a single number, the
    standard deviation of each feature at each position across the instances of the batch,
    averaged over all features and positions (ProGAN's definition). A generator that produces
    too little variety gives a small value, which the discriminator can read.

    (The notes' one-liner also reduces over the channels, which measures how features differ
    from each other as well; this layer measures variety across instances only, as the paper.)
    Output: (batch, ..., channels + 1). A batch of one has no spread: 0 (plus sqrt(epsilon)).
    """

    def __init__(self, epsilon: float = 1e-8, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = arg_checks.positive_float("epsilon", epsilon)

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"MinibatchStdDev expects inputs of shape (batch, ..., channels) with known channels. "
                             f"Received: input_shape={tuple(input_shape)}")

    def call(self, inputs):
        std = ops.sqrt(ops.var(inputs, axis=0) + self.epsilon)  # per feature and position
        stat = ops.mean(std)
        fill = ops.ones_like(inputs[..., :1]) * ops.cast(stat, inputs.dtype)
        return ops.concatenate([inputs, fill], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package=PACKAGE)
class FadeIn(keras.layers.Layer):
    """`old + alpha * (new - old)` for inputs [old, new] of one shape: while a new stage grows
    in, its output is blended with the (upsampled or downsampled) output of the previous one.

    `alpha` is a non-trainable scalar weight (saved with the model) that the training step
    assigns: 0 = the previous stage only, 1 = the new stage only.
    """

    def __init__(self, alpha: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
            raise ValueError(f"`alpha` must be a number in [0, 1]. Received: alpha={alpha!r}")
        self.initial_alpha = float(alpha)
        self.alpha = self.add_weight(name="alpha", shape=(), initializer=keras.initializers.Constant(alpha),
                                     trainable=False, autocast=False)

    def build(self, input_shape):
        if (not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2
                or not isinstance(input_shape[0], (list, tuple))
                or tuple(input_shape[0][1:]) != tuple(input_shape[1][1:])):
            raise ValueError(f"FadeIn expects two inputs [old, new] of one shape. Received: input_shape={input_shape}")

    def call(self, inputs):
        old, new = inputs
        alpha = ops.cast(self.alpha, old.dtype)
        return old + alpha * (new - old)

    def compute_output_shape(self, input_shape):
        return input_shape[1]

    def get_config(self):
        return {**super().get_config(), "alpha": self.initial_alpha}


# ---- StyleGAN's synthesis pieces -----------------------------------------------------------------


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
        self.epsilon = arg_checks.positive_float("epsilon", epsilon)

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
