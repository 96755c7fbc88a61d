"""Custom layers and regularizers, each registered as `latentq>Name` and round-trippable.

- `DenseTranspose`: a decoder layer that reuses a `Dense` layer's kernel, transposed, with
  biases of its own (the notes' "tying weights").
- `TiedAutoencoder`: the stacked autoencoder whose decoder is made of `DenseTranspose`
  layers. The ties are rebuilt by its constructor, so they survive `model.save` /
  `keras.models.load_model` (a layer on its own cannot know which `Dense` of another
  sub-model it was tied to).
- `KLDivergenceRegularizer`: the notes' sparsity regularizer, the KL divergence between a
  target activation p and each unit's mean activation q over the batch.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import keras
from keras import ops

from latentq.models.layers import checks

PACKAGE = "latentq"


@keras.saving.register_keras_serializable(package=PACKAGE)
class DenseTranspose(keras.layers.Layer):
    """`activation(inputs @ dense.kernel.T + bias)`: maps `dense.units` features back to the
    `dense` layer's input size. Only the bias is this layer's own weight; the kernel is the
    tied `Dense` layer's (the same variable, so both are trained together and counted once).

    Args:
        dense: the built (or to-be-built) `keras.layers.Dense` whose kernel is reused.
        activation: activation of the output.
        units: the output size (the tied layer's input size). Optional when `dense` is
            built; recorded in the config so a deserialised layer can build its `dense`.
        bias_initializer: initializer of the bias.

    Serialisation: the config holds the tied layer's config, so `from_config` gives an
    equivalent layer tied to a fresh copy of that `Dense`. Ties between layers of one
    model survive a save/load only through a model that rebuilds them in its constructor,
    such as `TiedAutoencoder`.
    """

    def __init__(self, dense, activation=None, units: Optional[int] = None, bias_initializer="zeros",
                 **kwargs):
        super().__init__(**kwargs)
        if not isinstance(dense, keras.layers.Dense):
            raise ValueError(f"`dense` must be a keras.layers.Dense layer. Received: dense={dense!r}")
        if dense.built:
            kernel_rows = int(dense.kernel.shape[0])
            if units is not None and units != kernel_rows:
                raise ValueError(
                    f"`units` must equal the tied Dense layer's input size {kernel_rows}. Received: units={units!r}"
                )
            units = kernel_rows
        if units is not None:
            checks.positive_int("units", units)
        self.dense = dense  # tracked: its kernel is saved with this layer too (same variable, deduplicated)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        if input_shape[-1] is not None and input_shape[-1] != self.dense.units:
            raise ValueError(
                f"DenseTranspose tied to a Dense of {self.dense.units} units needs inputs with "
                f"{self.dense.units} features. Received: input_shape={tuple(input_shape)}"
            )
        if not self.dense.built:
            if self.units is None:
                raise ValueError("DenseTranspose needs `units` when its Dense layer is not built. Received: units=None")
            self.dense.build((None, self.units))
        self.units = int(self.dense.kernel.shape[0])
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer=self.bias_initializer)

    def call(self, inputs):
        z = ops.matmul(inputs, ops.transpose(self.dense.kernel))
        return self.activation(z + self.bias)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(
            dense=keras.saving.serialize_keras_object(self.dense),
            activation=keras.activations.serialize(self.activation),
            units=self.units,
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["dense"] = keras.saving.deserialize_keras_object(config["dense"])
        return cls(**config)


@keras.saving.register_keras_serializable(package=PACKAGE)
class TiedAutoencoder(keras.Model):
    """Stacked autoencoder with tied weights: `Flatten → Dense(units[0]) → … → Dense(units[-1])`
    as the `encoder` sub-model, and `DenseTranspose` layers in reverse order (then `Reshape`)
    as the `decoder` sub-model: about half the weights of the untied model.

    Args:
        sample_shape: shape of one input sample, e.g. (28, 28).
        units: sizes of the encoder's Dense layers, the last one being the codings.
        activation: activation of the hidden layers and the codings.
        output_activation: activation of the reconstruction.
    """

    def __init__(self, sample_shape: Sequence[int], units: Sequence[int] = (100, 30), activation="selu",
                 output_activation="sigmoid", **kwargs):
        super().__init__(**kwargs)
        try:
            self.sample_shape = tuple(int(s) for s in sample_shape)
        except (TypeError, ValueError):
            raise ValueError(f"`sample_shape` must be a sequence of positive integers. "
                             f"Received: sample_shape={sample_shape!r}") from None
        if not self.sample_shape or min(self.sample_shape) < 1:
            raise ValueError(f"`sample_shape` must be a sequence of positive integers. "
                             f"Received: sample_shape={sample_shape!r}")
        if isinstance(units, int) or not units:
            raise ValueError(f"`units` must be a non-empty sequence of positive integers. Received: units={units!r}")
        self.units = tuple(checks.positive_int("units", int(u)) for u in units)
        self.activation = keras.activations.serialize(keras.activations.get(activation))
        self.output_activation = keras.activations.serialize(keras.activations.get(output_activation))
        size = math.prod(self.sample_shape)
        denses = [keras.layers.Dense(u, activation=self.activation, name=f"dense_{i}") for i, u in enumerate(self.units)]
        self.encoder = keras.Sequential([keras.Input(self.sample_shape), keras.layers.Flatten(), *denses],
                                        name="encoder")
        sizes_out = [*self.units[:-1][::-1], size]
        activations = [self.activation] * (len(self.units) - 1) + [self.output_activation]
        self.decoder = keras.Sequential(
            [keras.Input((self.units[-1],))]
            + [DenseTranspose(dense, activation=act, units=n, name=f"dense_transpose_{i}")
               for i, (dense, act, n) in enumerate(zip(denses[::-1], activations, sizes_out))]
            + [keras.layers.Reshape(self.sample_shape, dtype="float32")],
            name="decoder",
        )
        self.build((None, *self.sample_shape))

    def build(self, input_shape):
        # Both sub-models are built by their Input layers in the constructor.
        self.built = True

    def call(self, inputs, training=None):
        return self.decoder(self.encoder(inputs, training=training), training=training)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.sample_shape)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "sample_shape": list(self.sample_shape),
            "units": list(self.units),
            "activation": self.activation,
            "output_activation": self.output_activation,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package=PACKAGE)
class KLDivergenceRegularizer(keras.regularizers.Regularizer):
    """Activity regularizer: `weight * Σ_units KL(target ‖ mean activation over the batch)`,
    with KL(p‖q) = p log(p/q) + (1-p) log((1-p)/(1-q)), for activations in (0, 1) (sigmoid).

    Keras divides activity-regularizer losses by the batch size (as tf.keras 2 did, which the
    notes' weights assume)."""

    EPSILON = 1e-7

    def __init__(self, weight: float = 0.05, target: float = 0.1):
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
            raise ValueError(f"`weight` must be a finite number >= 0. Received: weight={weight!r}")
        if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0 < target < 1:
            raise ValueError(f"`target` must be a number strictly between 0 and 1. Received: target={target!r}")
        self.weight = float(weight)
        self.target = float(target)

    def __call__(self, x):
        x = ops.convert_to_tensor(x)
        axes = tuple(range(len(x.shape) - 1)) or None
        q = ops.clip(ops.mean(x, axis=axes), self.EPSILON, 1.0 - self.EPSILON)
        p = self.target
        kl = p * ops.log(p / q) + (1.0 - p) * ops.log((1.0 - p) / (1.0 - q))
        return self.weight * ops.sum(kl)

    def get_config(self):
        return {"weight": self.weight, "target": self.target}
