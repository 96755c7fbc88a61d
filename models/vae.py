"""Variational autoencoders of the notes: `vae` (Dense selu) and `conv-vae` (strided convolutions).

The encoder outputs a mean coding μ and γ = log σ²; a `Sampling` layer draws codings
μ + exp(γ/2)·ε; the decoder mirrors the encoder. `VAE` is one keras.Model holding both, with
its own train_step / test_step: loss = reconstruction + kl_weight · kl, where

- reconstruction = binary cross-entropy per pixel (the notes' compile loss), and
- kl = −½ Σ(1 + γ − exp(γ) − μ²) / pixels (the notes' `K.mean(latent_loss) / 784.`),

so with kl_weight = 1 the loss is the negative ELBO per pixel (Bernoulli likelihood), and
`fit` logs `loss`, `reconstruction`, `kl` and their `val_` twins every epoch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

import keras
import numpy as np

from latentq.models import training
from latentq.models.data_checks import require_images
from latentq.models.predict import batched
from latentq.models.samples import SampleMonitor, fixed_noise
from latentq.recipes import vae as recipes
from latentq.models import arg_checks

if TYPE_CHECKING:
    from latentq.worker.context import RunContext

SAMPLE_GRID = 32  # fixed-noise samples drawn after every epoch
SAMPLE_COLS = 8
RECONSTRUCTION_SAMPLES = 10


@keras.saving.register_keras_serializable(package="latentq")
class Sampling(keras.layers.Layer):
    """Draws codings from N(mean, exp(log_var)): inputs [mean, log_var], same shapes.

    It samples in training and in inference alike (a VAE is probabilistic even after
    training); use the encoder's mean output where a deterministic coding is wanted."""

    def __init__(self, seed: Optional[int] = None, **kwargs):
        super().__init__(**kwargs)
        arg_checks.seed(seed)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(f"Sampling expects inputs [mean, log_var]. Received: {type(inputs).__name__}")
        mean, log_var = inputs
        noise = keras.random.normal(keras.ops.shape(log_var), dtype=log_var.dtype, seed=self.seed_generator)
        return mean + keras.ops.exp(0.5 * log_var) * noise

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def latent_loss(mean, log_var):
    """−½ Σ(1 + γ − exp(γ) − μ²) per sample, in nats."""
    return -0.5 * keras.ops.sum(1.0 + log_var - keras.ops.exp(log_var) - keras.ops.square(mean), axis=-1)


@keras.saving.register_keras_serializable(package="latentq")
class VAE(keras.Model):
    """encoder: x -> [mean, log_var, codings]; decoder: codings -> x̂ in [0, 1]."""

    def __init__(self, encoder: keras.Model, decoder: keras.Model, kl_weight: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(kl_weight, (int, float)) or isinstance(kl_weight, bool) or kl_weight < 0:
            raise ValueError(f"`kl_weight` must be a non-negative number. Received: kl_weight={kl_weight!r}")
        if len(encoder.outputs) != 3:
            raise ValueError("`encoder` must output [mean, log_var, codings]. "
                             f"Received: an encoder with {len(encoder.outputs)} output(s)")
        self.encoder = encoder
        self.decoder = decoder
        self.kl_weight = float(kl_weight)
        self.pixels = int(np.prod(decoder.output_shape[1:]))
        self.codings = int(decoder.input_shape[-1])
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.built = True  # encoder and decoder are functional models, built when made

    @property
    def metrics(self):
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

    def build(self, input_shape=None):
        self.built = True

    def call(self, inputs, training=None):
        _, _, codings = self.encoder(inputs, training=training)
        return self.decoder(codings, training=training)

    def losses_of(self, x, training: bool = False):
        """(total, reconstruction, kl) batch means for images x."""
        mean, log_var, codings = self.encoder(x, training=training)
        reconstructions = self.decoder(codings, training=training)
        # losses in float32, also under a mixed-precision policy
        mean, log_var = keras.ops.cast(mean, "float32"), keras.ops.cast(log_var, "float32")
        flat_x = keras.ops.reshape(keras.ops.cast(x, "float32"), (-1, self.pixels))
        flat_r = keras.ops.reshape(keras.ops.cast(reconstructions, "float32"), (-1, self.pixels))
        reconstruction = keras.ops.mean(keras.losses.binary_crossentropy(flat_x, flat_r))
        kl = keras.ops.mean(latent_loss(mean, log_var)) / self.pixels
        total = reconstruction + self.kl_weight * kl
        if self.losses:
            total = total + keras.ops.sum(self.losses)
        return total, reconstruction, kl

    def _track(self, total, reconstruction, kl):
        self.loss_tracker.update_state(total)
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        import tensorflow as tf  # the one backend-tied place: the gradient tape

        x = data[0] if isinstance(data, (tuple, list)) else data
        with tf.GradientTape() as tape:
            total, reconstruction, kl = self.losses_of(x, training=True)
            scaled = self.optimizer.scale_loss(total)  # mixed precision: a LossScaleOptimizer scales
        grads = tape.gradient(scaled, self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        return self._track(total, reconstruction, kl)

    def test_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        return self._track(*self.losses_of(x, training=False))

    def get_config(self):
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
            "kl_weight": self.kl_weight,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        encoder = keras.saving.deserialize_keras_object(config.pop("encoder"))
        decoder = keras.saving.deserialize_keras_object(config.pop("decoder"))
        return cls(encoder=encoder, decoder=decoder, **config)


# ---- the two architectures ---------------------------------------------------------------


def _encoder_head(inputs, z, codings: int, seed: int) -> keras.Model:
    mean = keras.layers.Dense(codings, name="codings_mean")(z)
    log_var = keras.layers.Dense(codings, name="codings_log_var")(z)
    sampled = Sampling(seed=seed, name="sampling")([mean, log_var])
    return keras.Model(inputs, [mean, log_var, sampled], name="encoder")


def build_vae(params, shape: tuple[int, ...], seed: int = 0) -> VAE:
    """The notes' VAE: Flatten, Dense 150 selu, Dense 100 selu, (μ, γ) of size 10; mirrored decoder."""
    inputs = keras.Input(shape, name="images")
    z = keras.layers.Flatten()(inputs)
    z = keras.layers.Dense(params.hidden1, activation="selu")(z)
    z = keras.layers.Dense(params.hidden2, activation="selu")(z)
    encoder = _encoder_head(inputs, z, params.codings, seed)

    codings = keras.Input((params.codings,), name="codings")
    x = keras.layers.Dense(params.hidden2, activation="selu")(codings)
    x = keras.layers.Dense(params.hidden1, activation="selu")(x)
    x = keras.layers.Dense(int(np.prod(shape)), activation="sigmoid")(x)
    decoder = keras.Model(codings, keras.layers.Reshape(shape)(x), name="decoder")
    return VAE(encoder, decoder, kl_weight=params.kl_weight, name="vae")


def build_conv_vae(params, shape: tuple[int, ...], seed: int = 0) -> VAE:
    """Two strided 3x3 convolutions down, Dense, (μ, γ); Dense and two transposed convolutions up
    (cropped back to the input size when it is not a multiple of 4)."""
    height, width = shape[0], shape[1]
    channels = shape[2] if len(shape) == 3 else 1
    inputs = keras.Input(shape, name="images")
    z = keras.layers.Reshape((height, width, channels))(inputs)
    z = keras.layers.Conv2D(params.filters1, 3, strides=2, padding="same", activation="relu")(z)
    z = keras.layers.Conv2D(params.filters2, 3, strides=2, padding="same", activation="relu")(z)
    small_h, small_w = z.shape[1], z.shape[2]
    z = keras.layers.Flatten()(z)
    z = keras.layers.Dense(params.hidden, activation="relu")(z)
    encoder = _encoder_head(inputs, z, params.codings, seed)

    codings = keras.Input((params.codings,), name="codings")
    x = keras.layers.Dense(small_h * small_w * params.filters2, activation="relu")(codings)
    x = keras.layers.Reshape((small_h, small_w, params.filters2))(x)
    x = keras.layers.Conv2DTranspose(params.filters2, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv2DTranspose(params.filters1, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv2DTranspose(channels, 3, padding="same", activation="sigmoid")(x)
    extra_h, extra_w = 4 * small_h - height, 4 * small_w - width
    if extra_h or extra_w:
        x = keras.layers.Cropping2D(((0, extra_h), (0, extra_w)))(x)
    x = keras.layers.Reshape(shape)(x)
    decoder = keras.Model(codings, x, name="decoder")
    return VAE(encoder, decoder, kl_weight=params.kl_weight, name="conv_vae")


# ---- training ----------------------------------------------------------------------------


def decode(decoder: keras.Model, codings: np.ndarray) -> np.ndarray:
    return batched(lambda z: decoder(z, training=False), codings)


def mean_codings(encoder: keras.Model, images: np.ndarray) -> np.ndarray:
    return batched(lambda x: encoder(x, training=False)[0], images)


def train_vae(ctx, build: Callable) -> VAE:
    require_images(ctx)
    data = ctx.dataset()
    params = ctx.params
    noise = fixed_noise(ctx.spec.seed, SAMPLE_GRID, params.codings)

    def make() -> VAE:
        model = build(params, data.sample_shape, seed=ctx.spec.seed)
        model.compile(optimizer=training.make_optimizer(params.optimizer, params.learning_rate))
        return model

    grid = SampleMonitor(ctx, noise, lambda model, z: decode(model.decoder, z), kind="samples_epoch",
                         cols=SAMPLE_COLS, montage_cols=0)
    return training.train(ctx, make, data.x_train, data.x_train, (data.x_val, data.x_val),
                          numbers=lambda model: {"codings": params.codings}, callbacks=lambda model: (grid,),
                          finish=lambda model: finish_vae(ctx, model, noise))


def finish_vae(ctx, model: VAE, noise: np.ndarray) -> None:
    """model.keras, reconstructions, samples, loss curves, val_mse, val_neg_elbo_nats, quality."""
    from latentq.models import quality

    data = ctx.dataset()
    epochs = ctx.spec.epochs
    ctx.save_model(model)
    val = data.x_val
    recon = decode(model.decoder, mean_codings(model.encoder, val))
    ctx.record(epochs, val_mse=float(np.mean((recon - val) ** 2)))
    last = {name: values[-1] for name, values in ctx.history("val_reconstruction", "val_kl").items()}
    if len(last) == 2:
        ctx.record(epochs, val_neg_elbo_nats=model.pixels * (last["val_reconstruction"] + last["val_kl"]))
    n = min(RECONSTRUCTION_SAMPLES, len(val))
    ctx.save_rows("reconstructions", "images/reconstructions.png", [val[:n], recon[:n]])
    ctx.save_grid("samples", "images/samples.png", decode(model.decoder, noise), SAMPLE_COLS)
    title = f"{ctx.spec.recipe} on {data.name}"
    ctx.save_curves("loss_curve", "plots/loss.png", ("loss", "val_loss"), title)
    ctx.save_curves("loss_terms", "plots/loss_terms.png",
                    ("reconstruction", "val_reconstruction", "kl", "val_kl"), title)
    if ctx.params.eval_samples:
        codings = np.random.default_rng(ctx.spec.seed + 1).standard_normal(
            (ctx.params.eval_samples, model.codings)).astype(np.float32)
        quality.record_quality(ctx, decode(model.decoder, codings), step=epochs)


@recipes.VAE.trainer
def train_dense_vae(ctx: RunContext, params: recipes.VAEParams) -> None:
    train_vae(ctx, build_vae)


@recipes.CONV_VAE.trainer
def train_conv_vae(ctx: RunContext, params: recipes.ConvVAEParams) -> None:
    train_vae(ctx, build_conv_vae)

