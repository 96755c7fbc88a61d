"""The one-model autoencoder recipes of the notes: linear (PCA), stacked, tied, convolutional,
recurrent, denoising, sparse (L1 and KL); and the training and reporting every autoencoder
recipe shares (`train_autoencoder`, `finish_autoencoder`). Greedy layer-wise training and
unsupervised pretraining have their own modules (greedy, pretraining); the networks are in
ae_builders."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional, Sequence

import keras
import numpy as np

from latentq.models import training
from latentq.models.inputs import train_input
from latentq.models.autoencoders.builders import (build_conv_ae, build_denoising_ae, build_linear_ae, build_recurrent_ae,
                                        build_sparse_ae, build_sparse_kl_ae, build_stacked_ae, build_tied_ae)
from latentq.models.autoencoders.monitors import ActivationCallback
from latentq.models.codings import baseline_mse, encode, encoder_of, preload_tsne, save_codings_picture, sparsity
from latentq.models.predict import batched
from latentq.recipes import autoencoders as recipes

if TYPE_CHECKING:
    from latentq.runtime.context import RunContext

RECONSTRUCTION_SAMPLES = 10


def train_autoencoder(ctx, build: Callable, loss: str = "binary_crossentropy",
                      callbacks: Optional[Callable[[keras.Model], list]] = None,
                      curves: Sequence[str] = ("loss", "val_loss")) -> keras.Model:
    """Build (or resume), compile, fit with the job's callbacks, then write the usual pictures
    and numbers (`finish_autoencoder`). `callbacks(model)` may add Keras callbacks."""
    data = ctx.dataset()
    params = ctx.params
    preload_tsne(ctx)

    def make() -> keras.Model:
        model = build(params, data.sample_shape)
        model.compile(optimizer=training.make_optimizer(params.optimizer, params.learning_rate), loss=loss,
                      metrics=[keras.metrics.MeanSquaredError(name="mse")],
                      steps_per_execution=params.steps_per_execution)
        return model

    return training.train(ctx, make, train_input(ctx, "xx"), None, (data.x_val, data.x_val),
                          callbacks=callbacks or (lambda model: ()),
                          finish=lambda model: finish_autoencoder(ctx, model, curves=curves))


def finish_autoencoder(ctx, model: keras.Model, *, curves: Sequence[str] = ("loss", "val_loss"),
                       tsne: bool = True) -> None:
    """Artifacts and final metrics shared by every autoencoder run: model.keras, val_mse,
    baseline_mse (mean training sample), reconstructions, the loss curve and, where the
    dataset has labels, a t-SNE picture of the validation codings."""
    data = ctx.dataset()
    ctx.save_model(model)
    val = data.x_val
    recon = batched(lambda batch: model(batch, training=False), val, batch_size=256)
    ctx.record(ctx.spec.epochs, val_mse=float(np.mean((recon - val) ** 2)))
    ctx.record(0, baseline_mse=baseline_mse(data))
    if data.is_image:
        n = min(RECONSTRUCTION_SAMPLES, len(val))
        ctx.save_rows("reconstructions", "images/reconstructions.png", [val[:n], recon[:n]])
    ctx.save_curves("loss_curve", "plots/loss.png", tuple(curves), f"{ctx.spec.recipe} on {data.name}")
    if tsne and data.y_val is not None:
        save_codings_picture(ctx, encode(encoder_of(model), val), data.y_val, ctx.spec.recipe)


# ---- trainers ------------------------------------------------------------------------------


@recipes.LINEAR_AE.trainer
def train_linear_ae(ctx: RunContext, params: recipes.LinearAEParams) -> None:
    data = ctx.dataset()
    model = train_autoencoder(ctx, build_linear_ae, loss="mse")
    from sklearn.decomposition import PCA

    sample = data.train_sample()  # all of a small dataset, a bounded random sample of a large one
    x = sample.reshape(len(sample), -1)
    total = np.sum((x - x.mean(axis=0)) ** 2)
    recon = batched(lambda batch: model(batch, training=False), sample, batch_size=256).reshape(len(x), -1)
    ae_explained = 1.0 - np.sum((x - recon) ** 2) / total
    pca = PCA(n_components=params.codings, random_state=ctx.spec.seed).fit(x)
    pca_explained = float(np.sum(pca.explained_variance_ratio_))
    ctx.record(
        ctx.spec.epochs,
        explained_variance=ae_explained,
        pca_explained_variance=pca_explained,
        explained_variance_vs_pca=ae_explained / pca_explained,
    )
    codings = encode(encoder_of(model), data.x_val)
    if codings.shape[1] > 2 or (codings.shape[1] == 2 and data.y_val is None):  # else finish_autoencoder drew them
        title = "linear-ae codings" + (" (first 2 of %d)" % codings.shape[1] if codings.shape[1] > 2 else "")
        ctx.save_scatter("codings", "images/codings.png", codings[:, :2], data.y_val, title)


@recipes.STACKED_AE.trainer
def train_stacked_ae(ctx: RunContext, params: recipes.StackedAEParams) -> None:
    train_autoencoder(ctx, build_stacked_ae)


@recipes.TIED_AE.trainer
def train_tied_ae(ctx: RunContext, params: recipes.TiedAEParams) -> None:
    train_autoencoder(ctx, build_tied_ae)


@recipes.CONV_AE.trainer
def train_conv_ae(ctx: RunContext, params: recipes.ConvAEParams) -> None:
    train_autoencoder(ctx, build_conv_ae)


@recipes.RECURRENT_AE.trainer
def train_recurrent_ae(ctx: RunContext, params: recipes.RecurrentAEParams) -> None:
    mean = ctx.dataset().train_sample().mean(axis=0)
    train_autoencoder(ctx, lambda params, shape: build_recurrent_ae(params, shape, mean=mean))


def _noisy(params, x: np.ndarray, seed: int) -> np.ndarray:
    """The training-time corruption, applied once to x (for the denoising numbers and picture)."""
    rng = np.random.default_rng(seed)
    if params.noise == "gaussian":
        return (x + rng.normal(0.0, params.noise_std, size=x.shape)).astype(np.float32)
    keep = rng.random(x.shape) >= params.dropout
    return (x * keep / (1.0 - params.dropout)).astype(np.float32)


@recipes.DENOISING_AE.trainer
def train_denoising_ae(ctx: RunContext, params: recipes.DenoisingAEParams) -> None:
    data = ctx.dataset()
    model = train_autoencoder(ctx, lambda p, shape: build_denoising_ae(p, shape, seed=ctx.spec.seed))
    noisy = _noisy(params, data.x_val, ctx.spec.seed + 1)
    denoised = batched(lambda batch: model(batch, training=False), noisy, batch_size=256)
    ctx.record(ctx.spec.epochs, val_mse_denoised=float(np.mean((denoised - data.x_val) ** 2)),
               noisy_mse=float(np.mean((noisy - data.x_val) ** 2)))
    n = min(RECONSTRUCTION_SAMPLES, len(noisy))
    ctx.save_rows("denoised", "images/denoised.png", [data.x_val[:n], np.clip(noisy[:n], 0, 1), denoised[:n]])


def _train_sparse(ctx, build: Callable) -> None:
    data = ctx.dataset()
    model = train_autoencoder(ctx, build, callbacks=lambda m: [ActivationCallback(ctx, encoder_of(m), data.x_val)])
    ctx.record(ctx.spec.epochs, **sparsity(encode(encoder_of(model), data.x_val)))
    ctx.save_curves("sparsity_curve", "plots/sparsity.png", ("mean_activation", "active_fraction"),
                    f"{ctx.spec.recipe}: coding activations on validation")


@recipes.SPARSE_AE.trainer
def train_sparse_ae(ctx: RunContext, params: recipes.SparseAEParams) -> None:
    _train_sparse(ctx, build_sparse_ae)


@recipes.SPARSE_KL_AE.trainer
def train_sparse_kl_ae(ctx: RunContext, params: recipes.SparseKLAEParams) -> None:
    _train_sparse(ctx, build_sparse_kl_ae)
