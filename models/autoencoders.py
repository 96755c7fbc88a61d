"""Autoencoders of the notes: linear (PCA), stacked; and the training shared by all of them."""

from __future__ import annotations

from typing import Callable

import keras
import numpy as np

from latentq.errors import UserError
from latentq.models import training

RECONSTRUCTION_SAMPLES = 10


def require_images(ctx) -> None:
    data = ctx.dataset()
    if not data.is_image:
        raise UserError(
            f"recipe {ctx.spec.recipe!r} needs image data in [0, 1]; dataset {data.name!r} has samples "
            f"of shape {data.sample_shape} (use linear-ae for vectors)"
        )


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


def build_stacked_ae(params, shape: tuple[int, ...]) -> keras.Model:
    encoder = keras.Sequential(
        [
            keras.Input(shape),
            keras.layers.Flatten(),
            keras.layers.Dense(params.hidden, activation="selu"),
            keras.layers.Dense(params.codings, activation="selu"),
        ],
        name="encoder",
    )
    return keras.Sequential([encoder, dense_decoder(shape, [params.hidden])], name="stacked_ae")


def train_autoencoder(ctx, build: Callable, loss: str = "binary_crossentropy") -> keras.Model:
    """Build (or resume), compile, fit with the job's callbacks, then write the usual pictures
    and numbers: reconstructions, loss curve, val_mse, params."""
    data = ctx.dataset()
    params = ctx.params
    resumed = training.resume(ctx)
    model = resumed.model
    if model is None:
        model = build(params, data.sample_shape)
        model.compile(optimizer=training.make_optimizer(params.optimizer, params.learning_rate), loss=loss,
                      metrics=[keras.metrics.MeanSquaredError(name="mse")])
    ctx.record(0, params=training.count_params(model))
    training.fit(ctx, model, data.x_train, data.x_train, (data.x_val, data.x_val), initial_epoch=resumed.epoch)
    finish_autoencoder(ctx, model)
    return model


def encoder_of(model: keras.Model) -> keras.Model:
    return model.get_layer("encoder")


def finish_autoencoder(ctx, model: keras.Model) -> None:
    """Artifacts and final metrics shared by every autoencoder run."""
    data = ctx.dataset()
    ctx.save_model(model)
    val = data.x_val
    recon = model.predict(val, batch_size=256, verbose=0)
    ctx.record(ctx.spec.epochs, val_mse=float(np.mean((recon - val) ** 2)))
    if data.is_image:
        n = min(RECONSTRUCTION_SAMPLES, len(val))
        ctx.save_rows("reconstructions", "images/reconstructions.png", [val[:n], recon[:n]])
    ctx.save_curves("loss_curve", "plots/loss.png", ("loss", "val_loss"), f"{ctx.spec.recipe} on {data.name}")


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


TRAINERS = {
    "linear-ae": train_linear_ae,
    "stacked-ae": train_stacked_ae,
}
