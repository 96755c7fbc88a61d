"""The GAN model every GAN recipe (gan, dcgan, progan, stylegan) trains, one compiled step per batch.

- `GAN`: a keras.Model holding generator, discriminator and codings size, whose `train_step`
  runs both phases of the notes' loop: discriminator on real + fake, then generator against
  all-"real" labels, each gradient tape updating one sub-model's weights, by the run's loss
  and regularisers (`compile(gan_loss=...)`, latentq.models.gan.losses), and then moves the
  generator EMA (`ema=` half-life in images; `sampling_weights()` swaps it in for sampling). Subclasses change
  what the networks are by overriding `generate` / `discriminate`, or a phase by overriding
  `discriminator_step` / `generator_step`.
- `compile_gan(model, params)`: its two optimizers from a recipe's parameters.

Around it: the networks (gan_builders), the sample grid (samples), the quality and
mode-collapse monitors (gan_monitors), the training every GAN recipe shares (gan_recipes).
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Iterator, Optional

import keras
import numpy as np
from keras import ops

from latentq.models import training
from latentq.models.gan.ema import WeightAverage, recalibrate_batch_norm
from latentq.models.layers.gan import ReplayBuffer
from latentq.models.gan.losses import GANLoss
from latentq.models.predict import batched
from latentq.recipes.gans import GANRunParams

RECALIBRATION_SAMPLES = 1000  # codings that re-measure an averaged generator's batch-norm statistics
HELD_OUT_BATCH = 256  # images per call of held_out_scores' traced functions


@keras.saving.register_keras_serializable(package="latentq")
class GAN(keras.Model):
    """Generator + discriminator trained adversarially, with an optional experience-replay buffer
    and an optional generator EMA (`ema`: half-life in images, 0 = none; `ema_rampup`).

    The discriminator outputs a score: the probability that its input is real (sigmoid) for the
    default loss, binary cross-entropy on those probabilities, real = 1 and fake = 0; a logit for
    the other losses (GANLoss; accuracies then compare scores with 0). Logged per epoch:
    d_loss (phase 1: mean BCE over the real and the fake half, the notes' concatenated batch),
    g_loss (phase 2), d_real_accuracy / d_fake_accuracy (share of the phase-1 real / fake
    images the discriminator got right), and `loss` = d_loss. Evaluating on held-out real
    images gives the same quantities (val_loss = the discriminator's loss on unseen real
    images plus fresh fakes: a val_loss well above loss means it memorises the training set).
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, codings: int,
                 replay_size: int = 0, replay_fraction: float = 0.5, seed: Optional[int] = None,
                 ema: float = 0.0, ema_rampup: Optional[float] = 0.05, **kwargs):
        super().__init__(**kwargs)
        if isinstance(codings, bool) or not isinstance(codings, int) or codings < 1:
            raise ValueError(f"`codings` must be a positive integer. Received: codings={codings!r}")
        if generator.input_shape[-1] != codings:
            raise ValueError(f"the generator takes inputs of shape {generator.input_shape}, not (batch, codings). "
                             f"Received: codings={codings}")
        image_shape = tuple(generator.output_shape[1:])
        if tuple(discriminator.input_shape[1:]) != image_shape:
            raise ValueError(f"the discriminator reads {discriminator.input_shape[1:]}, the generator writes "
                             f"{image_shape}. Received: discriminator={discriminator.name}")
        if isinstance(replay_size, bool) or not isinstance(replay_size, int) or replay_size < 0:
            raise ValueError(f"`replay_size` must be an integer >= 0. Received: replay_size={replay_size!r}")
        self.generator = generator
        self.discriminator = discriminator
        self.codings = codings
        self.image_shape = image_shape
        self.replay_size = replay_size
        self.replay_fraction = float(replay_fraction)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.replay = (ReplayBuffer(replay_size, image_shape, replay_fraction,
                                    seed=None if seed is None else seed + 1, name="replay_buffer")
                       if replay_size else None)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_real_tracker = keras.metrics.Mean(name="d_real_accuracy")
        self.d_fake_tracker = keras.metrics.Mean(name="d_fake_accuracy")
        self.extra_trackers = {name: keras.metrics.Mean(name=name) for name in ("gp", "r1", "wasserstein")}
        self.gan_loss = GANLoss()
        self.ema_half_life = float(ema)
        self.ema_rampup = ema_rampup
        self.ema = self.make_ema()
        self.built = True

    def make_ema(self) -> Optional[WeightAverage]:
        """The generator's weight average (None when ema=0), initialised to its current weights."""
        if self.ema_half_life <= 0:
            return None
        return WeightAverage(self.ema_half_life, self.ema_rampup, name="generator_ema").track(self.ema_source())

    def ema_source(self):
        """What the generator EMA averages (ProGAN: the blocks of every stage)."""
        return self.generator

    # -- configuration ------------------------------------------------------------------------

    def get_config(self):
        return {
            **super().get_config(),
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "codings": self.codings,
            "replay_size": self.replay_size,
            "replay_fraction": self.replay_fraction,
            "seed": self.seed,
            "ema": self.ema_half_life,
            "ema_rampup": self.ema_rampup,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key], custom_objects=custom_objects)
        return cls(**config)

    def compile(self, d_optimizer="rmsprop", g_optimizer="rmsprop", loss=None, steps_per_execution=1,
                jit_compile="auto", gan_loss=None, **kwargs):
        """Two optimizers, one per network, and the adversarial loss: `gan_loss` a GANLoss or its
        fields as a dict (default: BCE on probabilities). `loss`: a keras loss, kept in the
        config so older checkpoints load; the phases use `gan_loss`."""
        super().compile(optimizer=None, steps_per_execution=steps_per_execution, jit_compile=jit_compile, **kwargs)
        self._requested_jit_compile = jit_compile  # "auto" stays "auto" in a checkpoint moved to another machine
        self.d_optimizer = _loss_scaled(keras.optimizers.get(d_optimizer))
        self.g_optimizer = _loss_scaled(keras.optimizers.get(g_optimizer))
        if self.d_optimizer is self.g_optimizer:
            raise ValueError("the generator and the discriminator need an optimizer each. "
                             "Received: the same optimizer object for both")
        self.loss_fn = keras.losses.get(loss) if loss is not None else keras.losses.BinaryCrossentropy()
        if isinstance(gan_loss, dict):
            gan_loss = GANLoss(**gan_loss)
        self.gan_loss = gan_loss or GANLoss()
        # Build the slots now, so a checkpoint's optimizer state has somewhere to load into.
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    def get_compile_config(self):
        if not self.compiled:
            return None
        return {
            "d_optimizer": keras.optimizers.serialize(self.d_optimizer),
            "g_optimizer": keras.optimizers.serialize(self.g_optimizer),
            "loss": keras.losses.serialize(self.loss_fn),
            "steps_per_execution": self.steps_per_execution,
            "jit_compile": self._requested_jit_compile,
            "gan_loss": dataclasses.asdict(self.gan_loss),
        }

    def compile_from_config(self, config):
        self.compile(d_optimizer=keras.optimizers.deserialize(config["d_optimizer"]),
                     g_optimizer=keras.optimizers.deserialize(config["g_optimizer"]),
                     loss=keras.losses.deserialize(config["loss"]),
                     steps_per_execution=config.get("steps_per_execution", 1),
                     jit_compile=config.get("jit_compile", "auto"), gan_loss=config.get("gan_loss"))

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.d_real_tracker, self.d_fake_tracker,
                *self.extra_trackers.values()]

    # -- the networks (override these to change what plays) ------------------------------------

    def call(self, codings, training=False):
        return self.generate(codings, training=training)

    def generate(self, codings, training=False):
        return self.generator(codings, training=training)

    def discriminate(self, images, training=False):
        return self.discriminator(images, training=training)

    def noise(self, n):
        return keras.random.normal((n, self.codings), seed=self.seed_generator)

    def critic(self, images):
        """The discriminator's scores in training mode (what the losses and penalties differentiate)."""
        return self.discriminate(images, training=True)

    @property
    def score_threshold(self) -> float:
        """Scores above it say "real": 0.5 for probabilities (bce), 0 for logits."""
        return 0.5 if self.gan_loss.on_probabilities else 0.0

    # -- the two phases (the gradient tapes: the one backend-tied place) -----------------------

    def discriminator_step(self, real):
        """Phase 1: fakes from fresh noise (partly from the replay buffer), then one update of the
        discriminator by the run's loss and regularisers (latentq.models.gan.losses). Returns the
        loss's statistics ("d_loss", "real_score", "fake_score", and "gp" / "r1" / "wasserstein")."""
        import tensorflow as tf

        fakes = ops.stop_gradient(self.generate(self.noise(ops.shape(real)[0]), training=True))
        if self.replay is not None:
            fakes = self.replay(fakes, training=True)
        variables = self.discriminator.trainable_weights
        with tf.GradientTape() as tape:
            stats = self.gan_loss.discriminator(self.critic, real, fakes, step=self.d_optimizer.iterations,
                                                seed=self.seed_generator)
            loss = stats["d_loss"]
            if self.discriminator.losses:
                loss = loss + ops.sum(self.discriminator.losses)
            scaled = self.d_optimizer.scale_loss(loss)  # mixed_float16: a LossScaleOptimizer scales
        self.d_optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        stats["d_loss"] = loss
        return stats

    def generator_step(self, n):
        """Phase 2: fresh fakes scored by the discriminator; the gradients reach the generator's
        weights only (the discriminator is read, never updated); then the generator EMA moves.
        Returns the loss."""
        import tensorflow as tf

        variables = self.generator.trainable_weights
        with tf.GradientTape() as tape:
            loss = self.gan_loss.generator(self.critic, self.generate(self.noise(n), training=True))["g_loss"]
            if self.generator.losses:
                loss = loss + ops.sum(self.generator.losses)
            scaled = self.g_optimizer.scale_loss(loss)
        self.g_optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        if self.ema is not None:
            self.ema.update(self.ema_source(), n)
        return loss

    def train_step(self, data):
        real, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        real = ops.cast(real, self.compute_dtype)
        stats = self.discriminator_step(real)
        g_loss = self.generator_step(ops.shape(real)[0])
        self._track(stats, g_loss)
        return self._logs(with_g=True)

    def test_step(self, data):
        real, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        real = ops.cast(real, self.compute_dtype)
        fakes = self.generate(self.noise(ops.shape(real)[0]), training=False)
        critic = lambda images: self.discriminate(images, training=False)  # noqa: E731
        scores = self.gan_loss.without_penalties().discriminator(critic, real, fakes)
        self._track(scores, None)
        return self._logs(with_g=False)

    def held_out_scores(self, real: np.ndarray, codings: np.ndarray,
                        batch_size: int = HELD_OUT_BATCH) -> dict[str, float]:
        """What `test_step` reports (loss, d_real_accuracy, d_fake_accuracy), over all of `real`
        (held-out images) and fakes from fixed `codings`, both networks in inference mode. Two
        small traced functions, batch by batch: cheaper after each epoch than Keras's validation,
        which builds a data pipeline per pass and traces the whole test step."""
        score_real, score_fake = self._held_out_functions()
        real_scores = batched(score_real, np.asarray(real, np.float32), batch_size).astype(np.float32)
        fake_scores = batched(score_fake, np.asarray(codings, np.float32), batch_size).astype(np.float32)
        loss = self.gan_loss.adversarial_loss(real_scores, fake_scores)
        return {"loss": float(ops.convert_to_numpy(loss)),
                "d_real_accuracy": float(np.mean(real_scores > self.score_threshold)),
                "d_fake_accuracy": float(np.mean(fake_scores <= self.score_threshold))}

    def _held_out_functions(self):
        """(images -> scores, codings -> scores of their fakes), traced once per wiring of the
        networks (a growing GAN rewires them)."""
        import tensorflow as tf

        key = (id(self.generator), id(self.discriminator))
        if getattr(self, "_held_out", (None,))[0] != key:
            images = tf.TensorSpec((None, *self.image_shape), tf.float32)
            codings = tf.TensorSpec((None, self.codings), tf.float32)
            score = lambda x: self.discriminate(ops.cast(x, self.compute_dtype), training=False)  # noqa: E731
            self._held_out = (key, (
                tf.function(tf.autograph.experimental.do_not_convert(score), input_signature=[images]),
                tf.function(tf.autograph.experimental.do_not_convert(
                    lambda z: score(self.generate(z, training=False))), input_signature=[codings])))
        return self._held_out[1]

    def _track(self, stats: dict, g_loss) -> None:
        self.d_loss_tracker.update_state(stats["d_loss"])
        self.d_real_tracker.update_state(ops.cast(stats["real_scores"] > self.score_threshold, "float32"))
        self.d_fake_tracker.update_state(ops.cast(stats["fake_scores"] <= self.score_threshold, "float32"))
        for name, tracker in self.extra_trackers.items():
            if name in stats:
                tracker.update_state(stats[name])
        if g_loss is not None:
            self.g_loss_tracker.update_state(g_loss)

    def _logs(self, with_g: bool) -> dict:
        logs = {"loss": self.d_loss_tracker.result(), "d_real_accuracy": self.d_real_tracker.result(),
                "d_fake_accuracy": self.d_fake_tracker.result()}
        if with_g:
            logs.update(d_loss=self.d_loss_tracker.result(), g_loss=self.g_loss_tracker.result())
            logs.update({name: self.extra_trackers[name].result() for name in self.gan_loss.logged()})
        return logs

    # -- sampling with the averaged generator --------------------------------------------------

    @contextlib.contextmanager
    def sampling_weights(self) -> Iterator["GAN"]:
        """Inside the block the generator holds the EMA weights (when the run keeps an average),
        its batch-norm statistics re-measured for them; its own weights after."""
        if self.ema is None:
            yield self
            return
        with self.ema.swapped_into(self.ema_source()):
            if any(isinstance(layer, keras.layers.BatchNormalization) for layer in _layers(self.generator)):
                codings = np.random.default_rng([self.seed or 0, 99]).standard_normal(
                    (RECALIBRATION_SAMPLES, self.codings)).astype(np.float32)
                recalibrate_batch_norm(self.generator, codings)
            yield self


def _layers(layer) -> Iterator:
    for sub in getattr(layer, "layers", ()):
        yield sub
        yield from _layers(sub)


def _loss_scaled(optimizer):
    """Under mixed_float16, the optimizer wrapped for dynamic loss scaling (as Keras does for
    models with the built-in train_step)."""
    if (keras.mixed_precision.global_policy().name == "mixed_float16"
            and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer)):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def gan_optimizer(name: str, learning_rate: float, beta_1: float) -> keras.optimizers.Optimizer:
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta_1)
    if name == "nadam":
        return keras.optimizers.Nadam(learning_rate=learning_rate, beta_1=beta_1)
    return training.make_optimizer(name, learning_rate)


JIT_COMPILE = {"auto": "auto", "on": True, "off": False}


def compile_gan(model: GAN, params: GANRunParams) -> GAN:
    model.compile(gan_loss=loss_of(params),
                  d_optimizer=gan_optimizer(params.optimizer, params.d_learning_rate, params.beta_1),
                  g_optimizer=gan_optimizer(params.optimizer, params.g_learning_rate, params.beta_1),
                  steps_per_execution=params.steps_per_execution, jit_compile=JIT_COMPILE[params.jit_compile])
    return model


def loss_of(params: GANRunParams) -> GANLoss:
    """The run's GANLoss from its recipe parameters."""
    return GANLoss(loss=params.loss, gp_lambda=params.gp_lambda, r1_gamma=params.r1_gamma, r1_every=params.r1_every,
                   drift=params.drift)


def ema_half_life(params: GANRunParams, batch_size: int) -> float:
    """`ema` in images (>= 1), converted from a per-step decay (< 1); 0: off."""
    from latentq.models.gan.ema import half_life_from_decay

    ema = params.ema
    return half_life_from_decay(ema, batch_size) if 0 < ema < 1 else ema


def ema_options(params: GANRunParams) -> dict:
    """GAN constructor arguments of the generator EMA (`ema` already a half-life in images:
    train_adversarial converts a decay with the job's batch size)."""
    return {"ema": params.ema, "ema_rampup": params.ema_rampup}
