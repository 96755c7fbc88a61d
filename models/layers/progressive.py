"""Layers of ProGAN (Karras et al., 2018), which StyleGAN reuses:

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

All are registered as `latentq>Name`, check their arguments ("Received: ..."), and use
`keras.ops` / `keras.random` only.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from latentq.models.layers import checks

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
        self.units = checks.positive_int("units", units)
        self.gain = checks.positive_float("gain", gain)
        self.lr_multiplier = checks.positive_float("lr_multiplier", lr_multiplier)
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
        self.filters = checks.positive_int("filters", filters)
        self.kernel_size = checks.positive_int("kernel_size", kernel_size)
        if self.kernel_size % 2 == 0:
            raise ValueError(f"`kernel_size` must be odd. Received: kernel_size={kernel_size!r}")
        self.gain = checks.positive_float("gain", gain)
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
        self.epsilon = checks.positive_float("epsilon", epsilon)

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
        self.epsilon = checks.positive_float("epsilon", epsilon)

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
