"""The vae and conv-vae recipes: training, fixed-noise samples, reconstructions and quality."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import keras
import numpy as np

from latentq.models import training
from latentq.models.inputs import train_input
from latentq.models.predict import batched
from latentq.models.samples import SampleMonitor, fixed_noise
from latentq.models.vae.model import VAE
from latentq.models.vae.builders import build_conv_vae, build_vae
from latentq.recipes import vae as recipes

if TYPE_CHECKING:
    from latentq.runtime.context import RunContext

SAMPLE_GRID = 32  # fixed-noise samples drawn after every epoch
SAMPLE_COLS = 8
RECONSTRUCTION_SAMPLES = 10


def decode(decoder: keras.Model, codings: np.ndarray) -> np.ndarray:
    return batched(lambda z: decoder(z, training=False), codings)


def mean_codings(encoder: keras.Model, images: np.ndarray) -> np.ndarray:
    return batched(lambda x: encoder(x, training=False)[0], images)


def train_vae(ctx, build: Callable) -> VAE:
    data = ctx.dataset()
    params = ctx.params
    noise = fixed_noise(ctx.spec.seed, SAMPLE_GRID, params.codings)

    def make() -> VAE:
        model = build(params, data.sample_shape, seed=ctx.spec.seed)
        model.compile(optimizer=training.make_optimizer(params.optimizer, params.learning_rate),
                      steps_per_execution=params.steps_per_execution)
        return model

    grid = SampleMonitor(ctx, noise, lambda model, z: decode(model.decoder, z), kind="samples_epoch",
                         cols=SAMPLE_COLS, montage_cols=0)
    return training.train(ctx, make, train_input(ctx, "xx"), None, (data.x_val, data.x_val),
                          numbers=lambda model: {"codings": params.codings}, callbacks=lambda model: (grid,),
                          finish=lambda model: finish_vae(ctx, model, noise))


def finish_vae(ctx, model: VAE, noise: np.ndarray) -> None:
    """model.keras, reconstructions, samples, loss curves, val_mse, val_neg_elbo_nats, quality."""
    from latentq.models.evaluation import quality

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
