"""Autoencoders of the notes: linear (PCA), stacked, tied, greedy layer-wise, convolutional,
recurrent, denoising, sparse (L1 and KL), unsupervised pretraining; and the training and
reporting shared by all of them (`train_autoencoder`, `finish_autoencoder`)."""

from __future__ import annotations

import math
import time
from typing import Callable, Optional, Sequence

import keras
import numpy as np

from latentq.errors import UserError
from latentq.models import training
from latentq.models.layers import KLDivergenceRegularizer, TiedAutoencoder
from latentq.worker.callbacks import JobCallback

RECONSTRUCTION_SAMPLES = 10
TSNE_POINTS = 500  # t-SNE of at most this many validation codings (about 1-2 s on one core)
TSNE_ITERATIONS = 500
TSNE_PCA_DIMS = 50  # wider codings (conv) are reduced with PCA first, as usual for t-SNE
ACTIVE_THRESHOLD = 0.5  # a coding unit is "active" above this (sparse AEs)
ACTIVATION_SAMPLES = 2000  # validation samples used for the per-epoch sparsity numbers


# ---- checks --------------------------------------------------------------------------------


def require_images(ctx) -> None:
    data = ctx.dataset()
    if not data.is_image:
        raise UserError(
            f"recipe {ctx.spec.recipe!r} needs image data in [0, 1]; dataset {data.name!r} has samples "
            f"of shape {data.sample_shape} (use linear-ae for vectors)"
        )


def require_unit_range(ctx) -> None:
    data = ctx.dataset()
    low, high = float(data.x_train.min()), float(data.x_train.max())
    if low < 0 or high > 1:
        raise UserError(
            f"recipe {ctx.spec.recipe!r} reconstructs with a sigmoid and needs values in [0, 1]; dataset "
            f"{data.name!r} has values in {low:g}..{high:g} (use linear-ae)"
        )


# ---- builders ------------------------------------------------------------------------------


def dense_decoder(shape: tuple[int, ...], hidden: list[int], activation: str = "selu",
                  output_activation: str = "sigmoid", name: str = "decoder") -> keras.Sequential:
    return keras.Sequential(
        [keras.layers.Dense(units, activation=activation) for units in hidden]
        + [keras.layers.Dense(int(np.prod(shape)), activation=output_activation), keras.layers.Reshape(shape)],
        name=name,
    )


def build_linear_ae(params, shape: tuple[int, ...]) -> keras.Model:
    """The notes' PCA autoencoder: no activations, codings = params.codings."""
    size = int(np.prod(shape))
    if params.codings >= size:
        raise UserError(f"linear-ae: codings must be below the input size {size} (received codings={params.codings})")
    encoder = keras.Sequential([keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(params.codings)],
                               name="encoder")
    decoder = keras.Sequential([keras.layers.Dense(size), keras.layers.Reshape(shape)], name="decoder")
    return keras.Sequential([encoder, decoder], name="linear_ae")


def _dense_encoder(shape: tuple[int, ...], layers: list, name: str = "encoder") -> keras.Sequential:
    return keras.Sequential([keras.Input(shape), keras.layers.Flatten(), *layers], name=name)


def build_stacked_ae(params, shape: tuple[int, ...]) -> keras.Model:
    encoder = _dense_encoder(shape, [
        keras.layers.Dense(params.hidden, activation="selu"),
        keras.layers.Dense(params.codings, activation="selu"),
    ])
    return keras.Sequential([encoder, dense_decoder(shape, [params.hidden])], name="stacked_ae")


def build_tied_ae(params, shape: tuple[int, ...]) -> keras.Model:
    """The notes' tied-weights AE: DenseTranspose decoder layers reuse the encoder's kernels."""
    return TiedAutoencoder(shape, units=(params.hidden, params.codings), name="tied_ae")


def build_denoising_ae(params, shape: tuple[int, ...], seed: int = 0) -> keras.Model:
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


def build_sparse_ae(params, shape: tuple[int, ...]) -> keras.Model:
    """Wide sigmoid coding layer followed by ActivityRegularization(l1): the encoder's output
    is the (regularized) codings."""
    encoder = _dense_encoder(shape, [
        keras.layers.Dense(params.hidden, activation="selu"),
        keras.layers.Dense(params.codings, activation="sigmoid", name="codings"),
        keras.layers.ActivityRegularization(l1=params.l1, name="l1_activity"),
    ])
    return keras.Sequential([encoder, dense_decoder(shape, [params.hidden])], name="sparse_ae")


def build_sparse_kl_ae(params, shape: tuple[int, ...]) -> keras.Model:
    regularizer = KLDivergenceRegularizer(weight=params.sparsity_weight, target=params.sparsity_target)
    encoder = _dense_encoder(shape, [
        keras.layers.Dense(params.hidden, activation="selu"),
        keras.layers.Dense(params.codings, activation="sigmoid", activity_regularizer=regularizer, name="codings"),
    ])
    return keras.Sequential([encoder, dense_decoder(shape, [params.hidden])], name="sparse_kl_ae")


def _split_padding(size: int, multiple: int) -> tuple[int, int]:
    extra = -size % multiple
    return extra // 2, extra - extra // 2


def build_conv_ae(params, shape: tuple[int, ...]) -> keras.Model:
    """The notes' convolutional AE for any H x W (x C): zero-pad to a multiple of 2**stages,
    `stages` x (Conv2D selu + MaxPool), then Conv2DTranspose stride 2 back up, crop, reshape."""
    height, width = shape[0], shape[1]
    channels = shape[2] if len(shape) == 3 else 1
    factor = 2 ** params.stages
    if factor > max(height, width):
        allowed = int(math.log2(max(height, width)))
        raise UserError(
            f"conv-ae: stages={params.stages} halves {height}x{width} images below one pixel; "
            f"allowed for this dataset: stages <= {allowed}"
        )
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
        keras.layers.Reshape(shape),
    ]
    decoder = keras.Sequential(decoder_layers, name="decoder")
    return keras.Sequential([encoder, decoder], name="conv_ae")


def sequence_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """How a sample is read as a sequence: (T,) → T steps of 1; (H, W) → H rows of W;
    (H, W, C) → H rows of W*C."""
    if len(shape) == 1:
        return shape[0], 1
    return shape[0], int(np.prod(shape[1:]))


def build_recurrent_ae(params, shape: tuple[int, ...], mean: Optional[np.ndarray] = None) -> keras.Model:
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
        keras.layers.Reshape(shape, name="as_sample"),
    ], name="decoder")
    if mean is not None:
        per_feature = np.clip(np.asarray(mean, dtype=np.float64).reshape(steps, features).mean(axis=0), 1e-3, 1 - 1e-3)
        output.bias.assign(np.log(per_feature / (1 - per_feature)).astype(np.float32))
    return keras.Sequential([keras.Input(shape), encoder, decoder], name="recurrent_ae")


# ---- callbacks -----------------------------------------------------------------------------


class PhaseCallback(JobCallback):
    """The job callback for one phase of a multi-phase run (greedy layer-wise training, the
    classifiers of pretrain-classifier): metrics are recorded as `<prefix><name>` per epoch,
    stop signals are honoured, and nothing is checkpointed (a resumed attempt restarts its
    phases). `on_epoch(epochs_done)` reports progress when given."""

    def __init__(self, ctx, prefix: str, on_epoch: Optional[Callable[[int], None]] = None):
        super().__init__(ctx)
        self.prefix = prefix
        self.on_epoch = on_epoch

    def on_epoch_end(self, epoch, logs=None):
        if self.stopped:
            return
        self.ctx.record(epoch + 1, **{f"{self.prefix}{k}": float(v) for k, v in (logs or {}).items()
                                      if np.ndim(v) == 0})
        if self.on_epoch is not None:
            self.on_epoch(epoch + 1)

    def save_checkpoint(self, epochs_done: int) -> None:
        pass


class ActivationCallback(keras.callbacks.Callback):
    """Records the coding layer's `mean_activation` and `active_fraction` on validation
    samples after each epoch (sparse AEs), so their move toward the target is visible."""

    def __init__(self, ctx, encoder: keras.Model, x: np.ndarray):
        super().__init__()
        self.ctx = ctx
        self.encoder = encoder
        self.x = x[:ACTIVATION_SAMPLES]

    def on_epoch_end(self, epoch, logs=None):
        if self.ctx.stop_reason():
            return
        self.ctx.record(epoch + 1, **sparsity(encode(self.encoder, self.x)))


# ---- training shared by the one-model recipes ----------------------------------------------


def train_autoencoder(ctx, build: Callable, loss: str = "binary_crossentropy",
                      callbacks: Optional[Callable[[keras.Model], list]] = None,
                      curves: Sequence[str] = ("loss", "val_loss")) -> keras.Model:
    """Build (or resume), compile, fit with the job's callbacks, then write the usual pictures
    and numbers (`finish_autoencoder`). `callbacks(model)` may add Keras callbacks."""
    data = ctx.dataset()
    params = ctx.params
    resumed = training.resume(ctx)
    model = resumed.model
    if model is None:
        model = build(params, data.sample_shape)
        model.compile(optimizer=training.make_optimizer(params.optimizer, params.learning_rate), loss=loss,
                      metrics=[keras.metrics.MeanSquaredError(name="mse")])
    ctx.record(0, params=training.count_params(model))
    extra = tuple(callbacks(model)) if callbacks else ()
    training.fit(ctx, model, data.x_train, data.x_train, (data.x_val, data.x_val), initial_epoch=resumed.epoch,
                 extra_callbacks=extra)
    finish_autoencoder(ctx, model, curves=curves)
    return model


def encoder_of(model: keras.Model) -> keras.Model:
    return model.get_layer("encoder")


def encode(encoder: keras.Model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The encoder's codings of x, as (N, D). Samples are reshaped to the encoder's input when
    it reads them differently (the recurrent encoder reads (steps, features) sequences); with
    several outputs (a VAE's mean, log var, z) the first is used."""
    want = tuple(encoder.input_shape[1:])
    have = tuple(x.shape[1:])
    if len(want) != len(have) or any(w is not None and w != h for w, h in zip(want, have)):
        x = x.reshape(len(x), *[-1 if w is None else w for w in want])
    codings = encoder.predict(x, batch_size=batch_size, verbose=0)
    if isinstance(codings, (list, tuple)):
        codings = codings[0]
    return np.asarray(codings).reshape(len(x), -1)


def baseline_mse(data) -> float:
    """MSE on the validation set of always predicting the mean training sample."""
    return float(np.mean((data.x_val - data.x_train.mean(axis=0)) ** 2))


def sparsity(codings: np.ndarray) -> dict[str, float]:
    return {"mean_activation": float(np.mean(codings)),
            "active_fraction": float(np.mean(codings > ACTIVE_THRESHOLD))}


def save_tsne(ctx, codings: np.ndarray, labels: Optional[np.ndarray], title: str):
    """The notes' visualisation strategy: t-SNE of the codings to 2-D, coloured by label.
    At most TSNE_POINTS points; skipped without labels or with too few points."""
    if labels is None or len(codings) < 10:
        return None
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(ctx.spec.seed)
    pick = np.sort(rng.choice(len(codings), size=min(len(codings), TSNE_POINTS), replace=False))
    z = codings[pick].reshape(len(pick), -1).astype(np.float64)
    if not np.isfinite(z).all() or np.ptp(z, axis=0).max() == 0:
        ctx.event("warning", "t-SNE skipped: the codings are constant or not finite")
        return None
    if z.shape[1] > TSNE_PCA_DIMS:
        z = PCA(TSNE_PCA_DIMS, random_state=ctx.spec.seed).fit_transform(z)
    perplexity = float(min(30.0, (len(z) - 1) / 3))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto",
                max_iter=TSNE_ITERATIONS, random_state=ctx.spec.seed)
    # One thread: OpenMP threads next to TensorFlow's on a busy machine are ~10x slower.
    with threadpool_limits(1):
        points = tsne.fit_transform(z)
    return ctx.save_scatter("tsne", "images/tsne.png", points, labels[pick], title)


def finish_autoencoder(ctx, model: keras.Model, *, curves: Sequence[str] = ("loss", "val_loss"),
                       tsne: bool = True) -> None:
    """Artifacts and final metrics shared by every autoencoder run: model.keras, val_mse,
    baseline_mse (mean training sample), reconstructions, the loss curve and, where the
    dataset has labels, a t-SNE picture of the validation codings."""
    data = ctx.dataset()
    ctx.save_model(model)
    val = data.x_val
    recon = model.predict(val, batch_size=256, verbose=0)
    ctx.record(ctx.spec.epochs, val_mse=float(np.mean((recon - val) ** 2)))
    ctx.record(0, baseline_mse=baseline_mse(data))
    if data.is_image:
        n = min(RECONSTRUCTION_SAMPLES, len(val))
        ctx.save_rows("reconstructions", "images/reconstructions.png", [val[:n], recon[:n]])
    ctx.save_curves("loss_curve", "plots/loss.png", tuple(curves), f"{ctx.spec.recipe} on {data.name}")
    if tsne and data.y_val is not None:
        codings = encode(encoder_of(model), val)
        save_tsne(ctx, codings, data.y_val, f"{ctx.spec.recipe}: t-SNE of {codings.shape[1]}-d validation codings")


# ---- trainers ------------------------------------------------------------------------------


def train_linear_ae(ctx) -> None:
    data = ctx.dataset()
    model = train_autoencoder(ctx, build_linear_ae, loss="mse")
    from sklearn.decomposition import PCA

    x = data.x_train.reshape(len(data.x_train), -1)
    total = np.sum((x - x.mean(axis=0)) ** 2)
    recon = model.predict(data.x_train, batch_size=256, verbose=0).reshape(len(x), -1)
    ae_explained = 1.0 - np.sum((x - recon) ** 2) / total
    pca = PCA(n_components=ctx.params.codings, random_state=ctx.spec.seed).fit(x)
    pca_explained = float(np.sum(pca.explained_variance_ratio_))
    ctx.record(
        ctx.spec.epochs,
        explained_variance=ae_explained,
        pca_explained_variance=pca_explained,
        explained_variance_vs_pca=ae_explained / pca_explained,
    )
    codings = encoder_of(model).predict(data.x_val, batch_size=256, verbose=0)
    if codings.shape[1] >= 2:
        title = "linear-ae codings" + (" (first 2 of %d)" % codings.shape[1] if codings.shape[1] > 2 else "")
        ctx.save_scatter("codings", "images/codings.png", codings[:, :2], data.y_val, title)


def train_stacked_ae(ctx) -> None:
    require_images(ctx)
    train_autoencoder(ctx, build_stacked_ae)


def train_tied_ae(ctx) -> None:
    require_images(ctx)
    train_autoencoder(ctx, build_tied_ae)


def train_conv_ae(ctx) -> None:
    require_images(ctx)
    train_autoencoder(ctx, build_conv_ae)


def train_recurrent_ae(ctx) -> None:
    data = ctx.dataset()
    if len(data.sample_shape) not in (1, 2, 3):
        raise UserError(f"recurrent-ae reads samples as sequences: (steps,), (steps, features) or images; "
                        f"dataset {data.name!r} has samples of shape {data.sample_shape}")
    require_unit_range(ctx)
    mean = data.x_train.mean(axis=0)
    train_autoencoder(ctx, lambda params, shape: build_recurrent_ae(params, shape, mean=mean))


def _noisy(params, x: np.ndarray, seed: int) -> np.ndarray:
    """The training-time corruption, applied once to x (for the denoising numbers and picture)."""
    rng = np.random.default_rng(seed)
    if params.noise == "gaussian":
        return (x + rng.normal(0.0, params.noise_std, size=x.shape)).astype(np.float32)
    keep = rng.random(x.shape) >= params.dropout
    return (x * keep / (1.0 - params.dropout)).astype(np.float32)


def train_denoising_ae(ctx) -> None:
    require_images(ctx)
    data, params = ctx.dataset(), ctx.params
    model = train_autoencoder(ctx, lambda p, shape: build_denoising_ae(p, shape, seed=ctx.spec.seed))
    noisy = _noisy(params, data.x_val, ctx.spec.seed + 1)
    denoised = model.predict(noisy, batch_size=256, verbose=0)
    ctx.record(ctx.spec.epochs, val_mse_denoised=float(np.mean((denoised - data.x_val) ** 2)),
               noisy_mse=float(np.mean((noisy - data.x_val) ** 2)))
    n = min(RECONSTRUCTION_SAMPLES, len(noisy))
    ctx.save_rows("denoised", "images/denoised.png", [data.x_val[:n], np.clip(noisy[:n], 0, 1), denoised[:n]])


def _train_sparse(ctx, build: Callable) -> None:
    require_images(ctx)
    data = ctx.dataset()
    model = train_autoencoder(ctx, build, callbacks=lambda m: [ActivationCallback(ctx, encoder_of(m), data.x_val)])
    ctx.record(ctx.spec.epochs, **sparsity(encode(encoder_of(model), data.x_val)))
    ctx.save_curves("sparsity_curve", "plots/sparsity.png", ("mean_activation", "active_fraction"),
                    f"{ctx.spec.recipe}: coding activations on validation")


def train_sparse_ae(ctx) -> None:
    _train_sparse(ctx, build_sparse_ae)


def train_sparse_kl_ae(ctx) -> None:
    _train_sparse(ctx, build_sparse_kl_ae)


# ---- greedy layer-wise training ------------------------------------------------------------


def greedy_units(hidden: int, codings: int, phases: int) -> list[int]:
    """Layer sizes from `hidden` to `codings`, geometrically spaced: 2 phases → [hidden, codings]."""
    return [max(1, int(round(hidden * (codings / hidden) ** (i / (phases - 1))))) for i in range(phases)]


def _fit_phase(ctx, model: keras.Model, x, y, validation_data, callback: PhaseCallback, epochs: int) -> float:
    """model.fit for one phase; returns its wall time."""
    start = time.perf_counter()
    model.fit(x, y, validation_data=validation_data, epochs=epochs, batch_size=ctx.spec.batch_size,
              shuffle=True, callbacks=[callback], verbose=0)
    seconds = time.perf_counter() - start
    ctx.raise_if_stopped()
    return seconds


def train_greedy_ae(ctx) -> None:
    """The notes' "training one AE at a time": phase 1 trains a shallow AE on the images
    (BCE); the training set is encoded; phase k trains a shallow AE on the previous codings
    (MSE); then the trained layers are stacked into one encoder/decoder model. Each phase
    trains --epochs epochs and records phase<k>_loss, phase<k>_val_loss per epoch. No
    checkpoints: a resumed attempt restarts its phases."""
    require_images(ctx)
    data, params, epochs = ctx.dataset(), ctx.params, ctx.spec.epochs
    shape = data.sample_shape
    size = int(np.prod(shape))
    units = greedy_units(params.hidden, params.codings, params.phases)
    encoders: list[keras.layers.Dense] = []
    decoders: list[keras.layers.Dense] = []
    x_train, x_val = data.x_train, data.x_val
    seconds = 0.0
    for phase, n in enumerate(units, start=1):
        ctx.event("info", f"phase {phase}/{len(units)}: shallow AE {x_train.shape[1:]} -> {n} units")
        enc = keras.layers.Dense(n, activation="selu", name=f"encoder_{phase}")
        if phase == 1:
            dec = keras.layers.Dense(size, activation="sigmoid", name=f"decoder_{phase}")
            shallow = keras.Sequential([keras.Input(shape), keras.layers.Flatten(), enc, dec,
                                        keras.layers.Reshape(shape)], name=f"phase_{phase}")
            loss, metrics = "binary_crossentropy", [keras.metrics.MeanSquaredError(name="mse")]
        else:
            dec = keras.layers.Dense(units[phase - 2], activation="selu", name=f"decoder_{phase}")
            shallow = keras.Sequential([keras.Input((units[phase - 2],)), enc, dec], name=f"phase_{phase}")
            loss, metrics = "mse", []
        shallow.compile(optimizer=training.make_optimizer(params.optimizer, params.learning_rate), loss=loss,
                        metrics=metrics)
        done_before = (phase - 1) * epochs
        callback = PhaseCallback(ctx, f"phase{phase}_",
                                 on_epoch=lambda e, base=done_before: ctx.progress((base + e) // len(units)))
        seconds += _fit_phase(ctx, shallow, x_train, x_train, (x_val, x_val), callback, epochs)
        history = ctx.history(f"phase{phase}_loss", f"phase{phase}_val_loss")
        last = {k: v[-1] for k, v in history.items()}
        ctx.event("info", f"phase {phase} done: " + ", ".join(f"{k}={v:.4g}" for k, v in last.items()))
        encoders.append(enc)
        decoders.append(dec)
        if phase < len(units):  # the next phase learns to reconstruct these codings
            coder = keras.Sequential([keras.Input(x_train.shape[1:]), *([keras.layers.Flatten()] if phase == 1 else []),
                                      enc])
            x_train = coder.predict(x_train, batch_size=256, verbose=0)
            x_val = coder.predict(x_val, batch_size=256, verbose=0)

    model = stack_greedy(shape, encoders, decoders)
    model.compile(optimizer=training.make_optimizer(params.optimizer, params.learning_rate),
                  loss="binary_crossentropy", metrics=[keras.metrics.MeanSquaredError(name="mse")])
    model.optimizer.build(model.trainable_variables)  # saved with its slots, so it loads without warnings
    train_scores = model.evaluate(data.x_train, data.x_train, batch_size=256, verbose=0, return_dict=True)
    val_scores = model.evaluate(data.x_val, data.x_val, batch_size=256, verbose=0, return_dict=True)
    ctx.record(0, params=training.count_params(model), train_seconds=seconds,
               samples_per_second=len(data.x_train) * epochs * len(units) / max(seconds, 1e-9))
    ctx.record(epochs, loss=train_scores["loss"], mse=train_scores["mse"], val_loss=val_scores["loss"])
    ctx.progress(epochs)
    curves = tuple(f"phase{p}_{k}" for p in range(1, len(units) + 1) for k in ("loss", "val_loss"))
    finish_autoencoder(ctx, model, curves=curves)


def stack_greedy(shape: tuple[int, ...], encoders: list, decoders: list) -> keras.Model:
    """One encoder/decoder model from the phases' trained Dense layers (weights copied)."""
    def copy(layer: keras.layers.Dense) -> keras.layers.Dense:
        return keras.layers.Dense(layer.units, activation=layer.activation, name=layer.name)

    enc_layers = [copy(layer) for layer in encoders]
    dec_layers = [copy(layer) for layer in decoders[::-1]]
    encoder = _dense_encoder(shape, enc_layers)
    decoder = keras.Sequential([keras.Input((encoders[-1].units,)), *dec_layers, keras.layers.Reshape(shape)],
                               name="decoder")
    for new, old in zip(enc_layers + dec_layers, encoders + decoders[::-1]):
        new.set_weights(old.get_weights())
    return keras.Sequential([encoder, decoder], name="greedy_ae")


# ---- unsupervised pretraining --------------------------------------------------------------


def balanced_indices(y: np.ndarray, n: int, num_classes: int, seed: int) -> np.ndarray:
    """n indices into y, as evenly spread over the classes as n allows (the first n % classes
    classes get one more), drawn at random with the seed."""
    if n < num_classes:
        raise UserError(f"pretrain-classifier: labels must be at least the number of classes {num_classes} "
                        f"(received labels={n})")
    if n > len(y):
        raise UserError(f"pretrain-classifier: labels must be at most the {len(y)} training images "
                        f"(received labels={n})")
    rng = np.random.default_rng(seed)
    picked = []
    for c in range(num_classes):
        want = n // num_classes + (1 if c < n % num_classes else 0)
        members = np.flatnonzero(y == c)
        if len(members) < want:
            raise UserError(f"pretrain-classifier: class {c} has only {len(members)} training images, "
                            f"labels={n} needs {want} per class")
        picked.append(rng.choice(members, size=want, replace=False))
    return np.sort(np.concatenate(picked))


def make_classifier(encoder: keras.Model, num_classes: int, pretrained: bool, freeze: bool,
                    name: str) -> keras.Model:
    """The encoder's architecture plus a softmax head: with the encoder's trained weights
    (pretrained, optionally frozen) or freshly initialised (scratch).

    The head's kernel starts at zero (both ways, so the two classifiers stay the same
    model): the first updates then train the head instead of pushing a random head's
    gradients into the pretrained encoder, which measurably distorts its features
    (bench/ae_pretrain.py: with a random head, fine-tuning lost to scratch)."""
    body = keras.models.clone_model(encoder)
    if pretrained:
        body.set_weights(encoder.get_weights())
        body.trainable = not freeze
    head = keras.layers.Dense(num_classes, activation="softmax", kernel_initializer="zeros", name="head")
    return keras.Sequential([body, keras.layers.Flatten(), head], name=name)


def fit_classifier(encoder: keras.Model, num_classes: int, x: np.ndarray, y: np.ndarray, *, pretrained: bool,
                   freeze: bool, optimizer: str, learning_rate: float, epochs: int, batch_size: int,
                   callbacks: Sequence = ()) -> keras.Model:
    """Build and train one classifier of pretrain-classifier (also used by bench/ae_pretrain.py)."""
    kind = "pretrained" if pretrained else "scratch"
    clf = make_classifier(encoder, num_classes, pretrained=pretrained, freeze=freeze, name=f"classifier_{kind}")
    clf.compile(optimizer=training.make_optimizer(optimizer, learning_rate),
                loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    clf.fit(x, y, epochs=epochs, batch_size=min(batch_size, len(x)), shuffle=True, callbacks=list(callbacks),
            verbose=0)
    return clf


def train_pretrain_classifier(ctx) -> None:
    """Phase 1: a stacked AE on all training images (resumable like stacked-ae). Phase 2:
    the same classifier trained on `labels` labelled images twice, from the pretrained
    encoder and from scratch; accuracy of both on the validation set. A resumed attempt
    resumes the AE and restarts the classifiers."""
    require_images(ctx)
    data, params = ctx.dataset(), ctx.params
    if data.y_train is None or data.num_classes < 2:
        raise UserError(f"pretrain-classifier needs a labelled dataset; {data.name!r} has no labels")
    picked = balanced_indices(data.y_train, params.labels, data.num_classes, ctx.spec.seed)
    model = train_autoencoder(ctx, build_stacked_ae)
    encoder = encoder_of(model)
    x, y = data.x_train[picked], data.y_train[picked]
    ctx.event("info", f"pretraining done; training both classifiers on {len(picked)} labelled images")
    accuracy = {}
    for kind in ("pretrained", "scratch"):
        clf = fit_classifier(encoder, data.num_classes, x, y, pretrained=kind == "pretrained", freeze=params.freeze,
                             optimizer=params.optimizer, learning_rate=params.classifier_learning_rate,
                             epochs=params.classifier_epochs, batch_size=ctx.spec.batch_size,
                             callbacks=[PhaseCallback(ctx, f"{kind}_")])
        ctx.raise_if_stopped()
        scores = clf.evaluate(data.x_val, data.y_val, batch_size=256, verbose=0, return_dict=True)
        accuracy[kind] = float(scores["accuracy"])
        ctx.save_model(clf, f"classifier_{kind}.keras", kind="classifier")
    ctx.record(ctx.spec.epochs, accuracy_pretrained=accuracy["pretrained"], accuracy_scratch=accuracy["scratch"],
               accuracy_gain=accuracy["pretrained"] - accuracy["scratch"], labels=len(picked))
    ctx.save_curves("classifier_curve", "plots/classifiers.png", ("pretrained_accuracy", "scratch_accuracy"),
                    f"training accuracy on {len(picked)} labels: pretrained vs scratch")


TRAINERS = {
    "linear-ae": train_linear_ae,
    "stacked-ae": train_stacked_ae,
    "tied-ae": train_tied_ae,
    "greedy-ae": train_greedy_ae,
    "conv-ae": train_conv_ae,
    "recurrent-ae": train_recurrent_ae,
    "denoising-ae": train_denoising_ae,
    "sparse-ae": train_sparse_ae,
    "sparse-kl-ae": train_sparse_kl_ae,
    "pretrain-classifier": train_pretrain_classifier,
}
