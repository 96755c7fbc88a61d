"""GANs of the notes: the dense GAN and the DCGAN, trained by one compiled step per batch.

Reusable pieces (ProGAN / StyleGAN build on them):
- `GAN`: a keras.Model holding generator, discriminator and codings size, whose `train_step`
  runs both phases of the notes' loop: discriminator on real + fake, then generator against
  all-"real" labels, each gradient tape updating one sub-model's weights. Subclasses change
  what the networks are by overriding `generate` / `discriminate`, or a phase by overriding
  `discriminator_step` / `generator_step`.
- `SampleMonitor`: the fixed-noise sample grid each epoch and the montage of how it evolved.
- `QualityMonitor` + `ModeCollapseWatcher`: fcd / class_coverage / class_kl every K epochs and
  the mode-collapse alarm.
- `train_adversarial(ctx, build)`: resume or build, fit with those callbacks, save.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import keras
import numpy as np
from keras import ops

from latentq.files import atomic_write
from latentq.models import training
from latentq.models.autoencoders import require_images
from latentq.models.gan_layers import MinibatchDiscrimination, ReplayBuffer

SAMPLE_GRID = 64  # fixed-noise samples drawn each epoch (an 8x8 grid)
MONTAGE_COLS = 8  # of which the montage follows the first 8
MONTAGE_MAX_ROWS = 40  # a longer run shows 40 epochs spread evenly, the last one included


# ---- the adversarial model -----------------------------------------------------------------


@keras.saving.register_keras_serializable(package="latentq")
class GAN(keras.Model):
    """Generator + discriminator trained adversarially, with an optional experience-replay buffer.

    The discriminator outputs the probability that its input is real (sigmoid); the loss is
    binary cross-entropy on those probabilities, real = 1 and fake = 0. Logged per epoch:
    d_loss (phase 1: mean BCE over the real and the fake half, the notes' concatenated batch),
    g_loss (phase 2), d_real_accuracy / d_fake_accuracy (share of the phase-1 real / fake
    images the discriminator got right), and `loss` = d_loss. Evaluating on held-out real
    images gives the same quantities (val_loss = the discriminator's loss on unseen real
    images plus fresh fakes: a val_loss well above loss means it memorises the training set).
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, codings: int,
                 replay_size: int = 0, replay_fraction: float = 0.5, seed: Optional[int] = None, **kwargs):
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
        self.built = True

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
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key], custom_objects=custom_objects)
        return cls(**config)

    def compile(self, d_optimizer="rmsprop", g_optimizer="rmsprop", loss=None, steps_per_execution=1,
                jit_compile="auto", **kwargs):
        """Two optimizers, one per network, and the adversarial loss (default: BCE on probabilities)."""
        super().compile(optimizer=None, steps_per_execution=steps_per_execution, jit_compile=jit_compile, **kwargs)
        self._requested_jit_compile = jit_compile  # "auto" stays "auto" in a checkpoint moved to another machine
        self.d_optimizer = keras.optimizers.get(d_optimizer)
        self.g_optimizer = keras.optimizers.get(g_optimizer)
        if self.d_optimizer is self.g_optimizer:
            raise ValueError("the generator and the discriminator need an optimizer each. "
                             "Received: the same optimizer object for both")
        self.loss_fn = keras.losses.get(loss) if loss is not None else keras.losses.BinaryCrossentropy()
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
        }

    def compile_from_config(self, config):
        self.compile(d_optimizer=keras.optimizers.deserialize(config["d_optimizer"]),
                     g_optimizer=keras.optimizers.deserialize(config["g_optimizer"]),
                     loss=keras.losses.deserialize(config["loss"]),
                     steps_per_execution=config.get("steps_per_execution", 1),
                     jit_compile=config.get("jit_compile", "auto"))

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.d_real_tracker, self.d_fake_tracker]

    # -- the networks (override these to change what plays) ------------------------------------

    def call(self, codings, training=False):
        return self.generate(codings, training=training)

    def generate(self, codings, training=False):
        return self.generator(codings, training=training)

    def discriminate(self, images, training=False):
        return self.discriminator(images, training=training)

    def noise(self, n):
        return keras.random.normal((n, self.codings), seed=self.seed_generator)

    def adversarial_loss(self, target: float, predictions):
        return self.loss_fn(ops.full_like(predictions, target), predictions)

    # -- the two phases (the gradient tapes: the one backend-tied place) -----------------------

    def discriminator_step(self, real):
        """Phase 1: fakes from fresh noise (partly from the replay buffer), then one update of the
        discriminator on real (label 1) and fake (label 0). Returns (loss, p_real, p_fake)."""
        import tensorflow as tf

        fakes = ops.stop_gradient(self.generate(self.noise(ops.shape(real)[0]), training=True))
        if self.replay is not None:
            fakes = self.replay(fakes, training=True)
        variables = self.discriminator.trainable_weights
        with tf.GradientTape() as tape:
            p_real = self.discriminate(real, training=True)
            p_fake = self.discriminate(fakes, training=True)
            loss = 0.5 * (self.adversarial_loss(1.0, p_real) + self.adversarial_loss(0.0, p_fake))
            if self.discriminator.losses:
                loss = loss + ops.sum(self.discriminator.losses)
        self.d_optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss, p_real, p_fake

    def generator_step(self, n):
        """Phase 2: fresh fakes labelled all "real"; the gradients reach the generator's weights
        only (the discriminator is read, never updated). Returns the loss."""
        import tensorflow as tf

        variables = self.generator.trainable_weights
        with tf.GradientTape() as tape:
            p_fake = self.discriminate(self.generate(self.noise(n), training=True), training=True)
            loss = self.adversarial_loss(1.0, p_fake)
            if self.generator.losses:
                loss = loss + ops.sum(self.generator.losses)
        self.g_optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    def train_step(self, data):
        real, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        real = ops.cast(real, self.compute_dtype)
        d_loss, p_real, p_fake = self.discriminator_step(real)
        g_loss = self.generator_step(ops.shape(real)[0])
        self._track(d_loss, p_real, p_fake, g_loss)
        return self._logs(with_g=True)

    def test_step(self, data):
        real, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        real = ops.cast(real, self.compute_dtype)
        fakes = self.generate(self.noise(ops.shape(real)[0]), training=False)
        p_real = self.discriminate(real, training=False)
        p_fake = self.discriminate(fakes, training=False)
        d_loss = 0.5 * (self.adversarial_loss(1.0, p_real) + self.adversarial_loss(0.0, p_fake))
        self._track(d_loss, p_real, p_fake, None)
        return self._logs(with_g=False)

    def _track(self, d_loss, p_real, p_fake, g_loss) -> None:
        self.d_loss_tracker.update_state(d_loss)
        self.d_real_tracker.update_state(ops.cast(p_real > 0.5, "float32"))
        self.d_fake_tracker.update_state(ops.cast(p_fake <= 0.5, "float32"))
        if g_loss is not None:
            self.g_loss_tracker.update_state(g_loss)

    def _logs(self, with_g: bool) -> dict:
        logs = {"loss": self.d_loss_tracker.result(), "d_real_accuracy": self.d_real_tracker.result(),
                "d_fake_accuracy": self.d_fake_tracker.result()}
        if with_g:
            logs.update(d_loss=self.d_loss_tracker.result(), g_loss=self.g_loss_tracker.result())
        return logs


def gan_optimizer(name: str, learning_rate: float, beta_1: float) -> keras.optimizers.Optimizer:
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta_1)
    if name == "nadam":
        return keras.optimizers.Nadam(learning_rate=learning_rate, beta_1=beta_1)
    return training.make_optimizer(name, learning_rate)


JIT_COMPILE = {"auto": "auto", "on": True, "off": False}


def compile_gan(model: GAN, params) -> GAN:
    model.compile(d_optimizer=gan_optimizer(params.optimizer, params.d_learning_rate, params.beta_1),
                  g_optimizer=gan_optimizer(params.optimizer, params.g_learning_rate, params.beta_1),
                  steps_per_execution=getattr(params, "steps_per_execution", 1),
                  jit_compile=JIT_COMPILE[getattr(params, "jit_compile", "auto")])
    return model


# ---- sampling, pictures, quality -----------------------------------------------------------


def fixed_noise(seed: int, n: int, codings: int, stream: int = 0) -> np.ndarray:
    """The same Gaussian codings for every epoch and every attempt of a run."""
    return np.random.default_rng([seed, stream]).standard_normal((n, codings)).astype(np.float32)


def generate_images(model: keras.Model, noise: np.ndarray) -> np.ndarray:
    """Images in [0, 1] with the dataset's sample shape, from the model's "generator"."""
    images = model.get_layer("generator").predict(noise, batch_size=256, verbose=0)
    return np.clip(np.asarray(images, dtype=np.float32), 0.0, 1.0)


SampleFn = Callable[[keras.Model, np.ndarray], np.ndarray]


class SampleMonitor(keras.callbacks.Callback):
    """After each epoch: images/samples/epoch_NNN.png, a grid from the same fixed noise, and
    images/evolution.png, one row per epoch of the first few of those samples (how they evolved).
    The montage rows are kept in the checkpoint folder, so a resumed run continues it."""

    def __init__(self, ctx, noise: np.ndarray, sample_fn: SampleFn = generate_images,
                 montage_cols: int = MONTAGE_COLS, max_rows: int = MONTAGE_MAX_ROWS):
        super().__init__()
        self.ctx = ctx
        self.noise = noise
        self.sample_fn = sample_fn
        self.montage_cols = min(montage_cols, len(noise))
        self.max_rows = max_rows
        self.store_path = ctx.checkpoint_dir / "montage.npz"
        self.rows: dict[int, np.ndarray] = {}
        if self.store_path.exists():
            with np.load(self.store_path) as saved:
                self.rows = {int(e): row for e, row in zip(saved["epochs"], saved["rows"])}

    def on_epoch_end(self, epoch, logs=None):
        if getattr(self.model, "stop_training", False):  # a partial epoch (stop requested): not an epoch's picture
            return
        done = epoch + 1
        images = self.sample_fn(self.model, self.noise)
        cols = int(math.ceil(math.sqrt(len(images))))
        self.ctx.save_grid("samples", f"images/samples/epoch_{done:03d}.png", images, cols=cols)
        self.rows = {e: r for e, r in self.rows.items() if e < done}
        self.rows[done] = images[: self.montage_cols]
        epochs = sorted(self.rows)
        atomic_write(self.store_path, lambda tmp: np.savez(tmp, epochs=np.array(epochs),
                                                            rows=np.stack([self.rows[e] for e in epochs])))
        shown = montage_epochs(epochs, self.max_rows)
        self.ctx.save_grid("montage", "images/evolution.png",
                           np.concatenate([self.rows[e] for e in shown]), cols=self.montage_cols)


def montage_epochs(epochs: list[int], max_rows: int) -> list[int]:
    """At most max_rows of the epochs, spread evenly, first and last included."""
    if len(epochs) <= max_rows:
        return list(epochs)
    picks = np.linspace(0, len(epochs) - 1, max_rows).round().astype(int)
    return [epochs[i] for i in sorted(set(picks))]


@dataclass
class ModeCollapseWatcher:
    """The notes' mode collapse made visible: class_coverage falling below `threshold` after
    having been above it (a class or two of sampling noise around the threshold is not a
    collapse). `update` returns a warning when a collapse begins."""

    threshold: float
    best: float = 0.0
    collapsed: bool = False

    @classmethod
    def from_history(cls, threshold: float, history: dict[str, list[float]]) -> "ModeCollapseWatcher":
        coverage = history.get("class_coverage", [])
        flags = history.get("mode_collapse", [])
        return cls(threshold, best=max(coverage, default=0.0), collapsed=bool(flags and flags[-1] >= 0.5))

    def update(self, epoch: int, coverage: float) -> Optional[str]:
        was = self.collapsed
        self.collapsed = self.best > self.threshold + 1e-9 and coverage < self.threshold - 1e-9
        best, self.best = self.best, max(self.best, coverage)
        if self.collapsed and not was:
            return (f"mode collapse at epoch {epoch}: class_coverage fell to {coverage:.3f}, below "
                    f"collapse_threshold={self.threshold:g}, after reaching {best:.3f}")
        return None


class QualityMonitor(keras.callbacks.Callback):
    """Every `every` epochs (and after the last): fcd, class_coverage, class_kl of images generated
    from fixed noise, plus mode_collapse (0 or 1) and a warning event when a collapse begins."""

    def __init__(self, ctx, every: int, noise: np.ndarray, threshold: float,
                 sample_fn: SampleFn = generate_images):
        super().__init__()
        self.ctx = ctx
        self.every = every
        self.noise = noise
        self.sample_fn = sample_fn
        self.labelled = True  # until the dataset turns out to have no labels to score with
        self.watcher = ModeCollapseWatcher.from_history(threshold, ctx.history("class_coverage", "mode_collapse"))

    def due(self, done: int) -> bool:
        return self.labelled and (done == self.ctx.spec.epochs or (self.every > 0 and done % self.every == 0))

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if getattr(self.model, "stop_training", False) or not self.due(done):
            return
        scores = evaluate(self.ctx, self.sample_fn(self.model, self.noise))
        if not scores:  # no class labels: nothing to score with, say so once
            self.labelled = False
            self.ctx.event("info", f"dataset {self.ctx.spec.dataset!r} has no class labels: fcd / class_coverage "
                                   "are not computed")
            return
        self.ctx.record(done, **scores)
        if "class_coverage" in scores:
            warning = self.watcher.update(done, scores["class_coverage"])
            self.ctx.record(done, mode_collapse=float(self.watcher.collapsed))
            if warning:
                self.ctx.event("warning", warning)


def evaluate(ctx, images: np.ndarray) -> dict[str, float]:
    """Generation metrics of images in [0, 1] (latentq.models.quality); {} for unlabelled datasets."""
    from latentq.models.quality import evaluate_samples

    return evaluate_samples(ctx.dataset(), images, ctx.cache_dir, seed=ctx.spec.seed)


# ---- the recipes' networks -----------------------------------------------------------------


def discriminator_head(params) -> list[keras.layers.Layer]:
    """[minibatch discrimination] + the sigmoid unit saying "real"."""
    head = []
    if params.minibatch_discrimination:
        head.append(MinibatchDiscrimination(params.mbd_kernels, params.mbd_kernel_dim, name="minibatch_discrimination"))
    head.append(keras.layers.Dense(1, activation="sigmoid", name="real"))
    return head


def make_gan(params, generator, discriminator, seed: Optional[int], name: str) -> GAN:
    return GAN(generator, discriminator, params.codings, replay_size=params.replay_size,
               replay_fraction=params.replay_fraction, seed=seed, name=name)


def build_dense_gan(params, shape: tuple[int, ...], seed: Optional[int] = None) -> GAN:
    """The notes' GAN: codings -> 100 -> 150 -> image (sigmoid) and image -> 150 -> 100 -> real?"""
    generator = keras.Sequential(
        [
            keras.Input((params.codings,)),
            keras.layers.Dense(100, activation="selu"),
            keras.layers.Dense(150, activation="selu"),
            keras.layers.Dense(int(np.prod(shape)), activation="sigmoid"),
            keras.layers.Reshape(shape),
        ],
        name="generator",
    )
    discriminator = keras.Sequential(
        [
            keras.Input(shape),
            keras.layers.Flatten(),
            keras.layers.Dense(150, activation="selu"),
            keras.layers.Dense(100, activation="selu"),
            *discriminator_head(params),
        ],
        name="discriminator",
    )
    return make_gan(params, generator, discriminator, seed, "gan")


def upsampling_plan(height: int, width: int, upsamplings: Optional[int] = None) -> tuple[int, tuple[int, int]]:
    """How a DCGAN generator reaches (height, width): (number of stride-2 upsamplings, start size).

    start * 2**n covers the image; the generator crops what is over. Without an explicit count:
    the most upsamplings (3 at most) that divide the size exactly and leave a start of at least
    4x4 (28 -> 7x7 and 2; 32 -> 4x4 and 3), else 2 (1 below 8 pixels) and a crop
    (8 -> 2x2 and 2; 30 -> 8x8 and 2, 32 cropped to 30)."""
    if upsamplings is None:
        upsamplings = 2 if min(height, width) >= 8 else 1
        for n in (3, 2):
            if height % 2**n == 0 and width % 2**n == 0 and min(height, width) // 2**n >= 4:
                upsamplings = n
                break
    start = (math.ceil(height / 2**upsamplings), math.ceil(width / 2**upsamplings))
    return upsamplings, start


def build_dcgan(params, shape: tuple[int, ...], seed: Optional[int] = None) -> GAN:
    """The notes' DCGAN, sized from the image: Dense -> start x start -> batch norm -> stride-2
    Conv2DTranspose (selu, batch norm) ... -> tanh, and stride-2 Conv2D + LeakyReLU(0.2) +
    dropout -> sigmoid. The networks work in [-1, 1] (tanh); the generator ends with a
    rescaling to [0, 1] and the discriminator starts with the inverse, so the data, the saved
    generator, its pictures and the replay buffer all stay in [0, 1]."""
    height, width = shape[0], shape[1]
    channels = shape[2] if len(shape) == 3 else 1
    n, (sh, sw) = upsampling_plan(height, width, params.upsamplings)
    f, k = params.filters, params.kernel_size
    g_layers = [
        keras.Input((params.codings,)),
        keras.layers.Dense(sh * sw * f * 2 ** (n - 1)),
        keras.layers.Reshape((sh, sw, f * 2 ** (n - 1))),
        keras.layers.BatchNormalization(momentum=0.9),
    ]
    for i in range(n - 1):
        g_layers += [
            keras.layers.Conv2DTranspose(f * 2 ** (n - 2 - i), k, strides=2, padding="same", activation="selu"),
            keras.layers.BatchNormalization(momentum=0.9),
        ]
    g_layers.append(keras.layers.Conv2DTranspose(channels, k, strides=2, padding="same", activation="tanh"))
    over_h, over_w = sh * 2**n - height, sw * 2**n - width
    if over_h or over_w:
        crop = ((over_h // 2, over_h - over_h // 2), (over_w // 2, over_w - over_w // 2))
        g_layers.append(keras.layers.Cropping2D(crop))
    g_layers += [keras.layers.Rescaling(0.5, offset=0.5, name="to_unit_range"), keras.layers.Reshape(shape)]
    generator = keras.Sequential(g_layers, name="generator")

    d_layers = [keras.Input(shape), keras.layers.Reshape((height, width, channels)),
                keras.layers.Rescaling(2.0, offset=-1.0, name="to_tanh_range")]
    for i in range(n):
        d_layers += [keras.layers.Conv2D(f * 2**i, k, strides=2, padding="same"), keras.layers.LeakyReLU(0.2),
                     keras.layers.Dropout(params.dropout)]
    d_layers += [keras.layers.Flatten(), *discriminator_head(params)]
    discriminator = keras.Sequential(d_layers, name="discriminator")
    return make_gan(params, generator, discriminator, seed, "dcgan")


# ---- the trainers --------------------------------------------------------------------------


def train_adversarial(ctx, build: Callable[..., GAN], sample_fn: SampleFn = generate_images,
                      extra_callbacks: tuple = ()) -> GAN:
    """Resume or build + compile, fit (one compiled step per batch, both phases) with the sample
    and quality monitors, then save model.keras, the final samples and the curves."""
    require_images(ctx)
    data = ctx.dataset()
    params = ctx.params
    seed = ctx.spec.seed
    resumed = training.resume(ctx)
    model = resumed.model
    if model is None:
        model = compile_gan(build(params, data.sample_shape, seed), params)
    ctx.record(0, params=training.count_params(model),
               generator_params=training.count_params(model.get_layer("generator")),
               discriminator_params=training.count_params(model.get_layer("discriminator")))
    grid_noise = fixed_noise(seed, SAMPLE_GRID, params.codings, stream=0)
    eval_noise = fixed_noise(seed, params.eval_samples, params.codings, stream=1)
    callbacks = (SampleMonitor(ctx, grid_noise, sample_fn),
                 QualityMonitor(ctx, params.eval_every, eval_noise, params.collapse_threshold, sample_fn),
                 *extra_callbacks)
    validation = (data.x_val,) if len(data.x_val) else None
    training.fit(ctx, model, data.x_train, None, validation, initial_epoch=resumed.epoch,
                 extra_callbacks=callbacks)
    ctx.save_model(model)
    ctx.save_grid("samples", "images/samples.png", sample_fn(model, grid_noise), cols=8)
    title = f"{ctx.spec.recipe} on {data.name}"
    ctx.save_curves("loss_curve", "plots/loss.png", ("d_loss", "g_loss", "val_loss"), title)
    save_epoch_curves(ctx, "quality_curve", "plots/fcd.png", ("fcd",), title)
    save_epoch_curves(ctx, "quality_curve", "plots/coverage.png", ("class_coverage", "class_kl", "mode_collapse"),
                      title)
    return model


def save_epoch_curves(ctx, kind: str, rel: str, names: tuple[str, ...], title: str) -> None:
    """Curves of metrics recorded at some epochs only (every eval_every), against their epochs."""
    from latentq import pictures

    series: dict[str, dict[int, float]] = {}
    for metric in ctx.store.metrics(ctx.run_id):
        if metric.name in names and metric.step > 0:
            series.setdefault(metric.name, {})[metric.step] = metric.value
    if not series:
        return
    steps = sorted({step for values in series.values() for step in values})
    history = {name: [values.get(step, float("nan")) for step in steps] for name, values in series.items()}
    pictures.save_curves(ctx.path(rel), history, title, steps=steps)
    ctx.artifact(kind, rel)


def train_gan(ctx) -> None:
    train_adversarial(ctx, build_dense_gan)


def train_dcgan(ctx) -> None:
    train_adversarial(ctx, build_dcgan)


TRAINERS = {
    "gan": train_gan,
    "dcgan": train_dcgan,
}
