"""The gan and dcgan recipes, and the adversarial training every GAN recipe shares."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from latentq.models import training
from latentq.models.inputs import train_input
from latentq.models.gan.model import GAN, compile_gan, ema_half_life
from latentq.models.gan.builders import build_dcgan, build_dense_gan
from latentq.models.gan.monitors import HeldOutMonitor, QualityMonitor, save_epoch_curves
from latentq.models.samples import SAMPLE_GRID, SampleFn, SampleMonitor, fixed_noise, generate_images
from latentq.recipes import gans as recipes

if TYPE_CHECKING:
    from latentq.runtime.context import RunContext


HELD_OUT_SAMPLES = 1000  # held-out real images (and as many fixed fakes) scored after each epoch


def train_adversarial(ctx, build: Callable[..., GAN], sample_fn: SampleFn = generate_images,
                      extra_callbacks: tuple = ()) -> GAN:
    """Resume or build + compile, fit (one compiled step per batch, both phases) with the sample
    and quality monitors, then save model.keras, the final samples and the curves."""
    data = ctx.dataset()
    params = ctx.params
    if 0 < params.ema < 1:  # a per-step decay: the half-life in images at this batch size
        params = params.model_copy(update={"ema": ema_half_life(params, ctx.spec.batch_size)})
    seed = ctx.spec.seed
    grid_noise = fixed_noise(seed, SAMPLE_GRID, params.codings, stream=0)
    eval_noise = fixed_noise(seed, params.eval_samples, params.codings, stream=1)
    real = data.x_val[:HELD_OUT_SAMPLES]
    held_out = (HeldOutMonitor(ctx, real, fixed_noise(seed, len(real), params.codings, stream=4)),) if len(real) else ()
    callbacks = (*held_out, SampleMonitor(ctx, grid_noise, sample_fn),
                 QualityMonitor(ctx, params.eval_every, eval_noise, params.collapse_threshold, sample_fn),
                 *extra_callbacks)
    return training.train(ctx, lambda: compile_gan(build(params, data.sample_shape, seed), params),
                          train_input(ctx, "x"), None, None, numbers=network_sizes, callbacks=lambda model: callbacks,
                          finish=lambda model: finish_adversarial(ctx, model, grid_noise, sample_fn))


def network_sizes(model: GAN) -> dict[str, int]:
    return {"generator_params": training.count_params(model.get_layer("generator")),
            "discriminator_params": training.count_params(model.get_layer("discriminator"))}


def finish_adversarial(ctx, model: GAN, grid_noise: np.ndarray, sample_fn: SampleFn = generate_images) -> None:
    """model.keras, the final samples, the loss and quality curves."""
    data = ctx.dataset()
    ctx.save_model(model)
    ctx.save_grid("samples", "images/samples.png", sample_fn(model, grid_noise), cols=8)
    title = f"{ctx.spec.recipe} on {data.name}"
    ctx.save_curves("loss_curve", "plots/loss.png", ("d_loss", "g_loss", "val_loss"), title)
    save_epoch_curves(ctx, "quality_curve", "plots/fcd.png", ("fcd",), title)
    save_epoch_curves(ctx, "quality_curve", "plots/coverage.png", ("class_coverage", "class_kl", "mode_collapse"),
                      title)
    save_epoch_curves(ctx, "quality_curve", "plots/precision_recall.png", ("precision", "recall"), title)
    if ctx.params.fid and ctx.params.eval_samples:
        from latentq.models.evaluation import fid

        noise = fixed_noise(ctx.spec.seed, ctx.params.eval_samples, model.codings, stream=1)
        fid.record_fid(ctx, data.x_val, sample_fn(model, noise), step=ctx.spec.epochs)


@recipes.GAN.trainer
def train_gan(ctx: RunContext, params: recipes.DenseGANParams) -> None:
    train_adversarial(ctx, build_dense_gan)


@recipes.DCGAN.trainer
def train_dcgan(ctx: RunContext, params: recipes.DCGANParams) -> None:
    train_adversarial(ctx, build_dcgan)
