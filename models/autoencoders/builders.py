"""The autoencoder networks: one `build_*(params, shape)` per recipe."""

from __future__ import annotations

from typing import Optional

import keras
import numpy as np

from latentq.models.layers.tied import KLDivergenceRegularizer, TiedAutoencoder
from latentq.recipes import autoencoders as recipes


def dense_decoder(shape: tuple[int, ...], hidden: list[int], activation: str = "selu",
                  output_activation: str = "sigmoid", name: str = "decoder") -> keras.Sequential:
    return keras.Sequential(
        [keras.layers.Dense(units, activation=activation) for units in hidden]
        + [keras.layers.Dense(int(np.prod(shape)), activation=output_activation), keras.layers.Reshape(shape, dtype="float32")],
        name=name,
    )


def build_linear_ae(params: recipes.LinearAEParams, shape: tuple[int, ...]) -> keras.Model:
    """The notes' PCA autoencoder: no activations, codings = params.codings."""
    size = int(np.prod(shape))  # the recipe's data needs keep codings below it
    encoder = keras.Sequential([keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(params.codings)],
                               name="encoder")
    decoder = keras.Sequential([keras.layers.Dense(size), keras.layers.Reshape(shape, dtype="float32")], name="decoder")
    return keras.Sequential([encoder, decoder], name="linear_ae")


def _dense_encoder(shape: tuple[int, ...], layers: list, name: str = "encoder") -> keras.Sequential:
    return keras.Sequential([keras.Input(shape), keras.layers.Flatten(), *layers], name=name)


def build_stacked_ae(params: recipes.StackedAEParams, shape: tuple[int, ...]) -> keras.Model:
    encoder = _dense_encoder(shape, [
        keras.layers.Dense(params.hidden, activation="selu"),
        keras.layers.Dense(params.codings, activation="selu"),
    ])
    return keras.Sequential([encoder, dense_decoder(shape, [params.hidden])], name="stacked_ae")


def build_tied_ae(params: recipes.TiedAEParams, shape: tuple[int, ...]) -> keras.Model:
    """The notes' tied-weights AE: DenseTranspose decoder layers reuse the encoder's kernels."""
    return TiedAutoencoder(shape, units=(params.hidden, params.codings), name="tied_ae")


def build_denoising_ae(params: recipes.DenoisingAEParams, shape: tuple[int, ...], seed: int = 0) -> keras.Model:
    """A stacked AE with GaussianNoise or Dropout on the encoder's inputs (active in training only)."""
    if params.noise == "gaussian":
        noise = keras.layers.GaussianNoise(params.noise_std, seed=seed, name="input_noise")
    else:
        noise = keras.layers.Dropout(params.dropout, seed=seed, name="input_noise")
    encoder = _dense_encoder(shape, [
        noise,
        keras.layers.Dense(params.hidden, activation="selu"),
        keras.layers.Dense(params.codings, activation="selu"),
    ])
    return keras.Sequential([encoder, dense_decoder(shape, [params.hidden])], name="denoising_ae")


def build_sparse_ae(params: recipes.SparseAEParams, shape: tuple[int, ...]) -> keras.Model:
    """Wide sigmoid coding layer followed by ActivityRegularization(l1): the encoder's output
    is the (regularized) codings."""
    encoder = _dense_encoder(shape, [
        keras.layers.Dense(params.hidden, activation="selu"),
        keras.layers.Dense(params.codings, activation="sigmoid", name="codings"),
        keras.layers.ActivityRegularization(l1=params.l1, name="l1_activity"),
    ])
    return keras.Sequential([encoder, dense_decoder(shape, [params.hidden])], name="sparse_ae")


def build_sparse_kl_ae(params: recipes.SparseKLAEParams, shape: tuple[int, ...]) -> keras.Model:
    regularizer = KLDivergenceRegularizer(weight=params.sparsity_weight, target=params.sparsity_target)
    encoder = _dense_encoder(shape, [
        keras.layers.Dense(params.hidden, activation="selu"),
        keras.layers.Dense(params.codings, activation="sigmoid", activity_regularizer=regularizer, name="codings"),
    ])
    return keras.Sequential([encoder, dense_decoder(shape, [params.hidden])], name="sparse_kl_ae")


def _split_padding(size: int, multiple: int) -> tuple[int, int]:
    extra = -size % multiple
    return extra // 2, extra - extra // 2


def build_conv_ae(params: recipes.ConvAEParams, shape: tuple[int, ...]) -> keras.Model:
    """The notes' convolutional AE for any H x W (x C): zero-pad to a multiple of 2**stages,
    `stages` x (Conv2D selu + MaxPool), then Conv2DTranspose stride 2 back up, crop, reshape."""
    height, width = shape[0], shape[1]
    channels = shape[2] if len(shape) == 3 else 1
    factor = 2 ** params.stages  # the recipe's data needs keep it within the longer side
    pad_h, pad_w = _split_padding(height, factor), _split_padding(width, factor)
    filters = [params.filters * 2 ** i for i in range(params.stages)]
    encoder_layers: list = [keras.Input(shape), keras.layers.Reshape((height, width, channels)),
                            keras.layers.ZeroPadding2D((pad_h, pad_w))]
    for n in filters:
        encoder_layers += [keras.layers.Conv2D(n, 3, padding="same", activation="selu"), keras.layers.MaxPool2D(2)]
    encoder = keras.Sequential(encoder_layers, name="encoder")
    code_h, code_w = (height + sum(pad_h)) // factor, (width + sum(pad_w)) // factor
    decoder_layers: list = [keras.Input((code_h, code_w, filters[-1]))]
    for n in filters[:-1][::-1]:
        decoder_layers.append(keras.layers.Conv2DTranspose(n, 3, strides=2, padding="same", activation="selu"))
    decoder_layers += [
        keras.layers.Conv2DTranspose(channels, 3, strides=2, padding="same", activation="sigmoid"),
        keras.layers.Cropping2D((pad_h, pad_w)),
        keras.layers.Reshape(shape, dtype="float32"),
    ]
    decoder = keras.Sequential(decoder_layers, name="decoder")
    return keras.Sequential([encoder, decoder], name="conv_ae")


def sequence_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """How a sample is read as a sequence: (T,) → T steps of 1; (H, W) → H rows of W;
    (H, W, C) → H rows of W*C."""
    if len(shape) == 1:
        return shape[0], 1
    return shape[0], int(np.prod(shape[1:]))


def build_recurrent_ae(params: recipes.RecurrentAEParams, shape: tuple[int, ...],
                       mean: Optional[np.ndarray] = None) -> keras.Model:
    """The notes' recurrent AE. The encoder reads a sample as a sequence along its first axis
    and takes sequences of any length: its input is (None, *shape[1:]) (grey images: rows of
    W pixels; colour: rows of W*C values; vectors: one value per step). The decoder repeats
    the codings over the training length and reshapes its output to the sample shape.

    `mean` (the mean training sample), when given, initialises the output layer's bias to
    the logit of each feature's mean: the model starts from the mean-image prediction
    instead of having to learn it first. Without this the LSTMs saturate while learning the
    mean and stay on that plateau for ~6 epochs of mnist-5k."""
    steps, features = sequence_shape(shape)
    encoder_layers: list = [keras.Input((None, *shape[1:]))]
    if len(shape) != 2:
        encoder_layers.append(keras.layers.Reshape((-1, features), name="as_sequence"))
    encoder = keras.Sequential(encoder_layers + [
        keras.layers.LSTM(params.hidden, return_sequences=True),
        keras.layers.LSTM(params.codings),
    ], name="encoder")
    output = keras.layers.Dense(features, activation="sigmoid")
    decoder = keras.Sequential([
        keras.Input((params.codings,)),
        keras.layers.RepeatVector(steps),
        keras.layers.LSTM(params.hidden, return_sequences=True),
        keras.layers.TimeDistributed(output),
        keras.layers.Reshape(shape, dtype="float32", name="as_sample"),
    ], name="decoder")
    if mean is not None:
        per_feature = np.clip(np.asarray(mean, dtype=np.float64).reshape(steps, features).mean(axis=0), 1e-3, 1 - 1e-3)
        output.bias.assign(np.log(per_feature / (1 - per_feature)).astype(np.float32))
    return keras.Sequential([keras.Input(shape), encoder, decoder], name="recurrent_ae")
