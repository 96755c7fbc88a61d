"""Parameter fields that more than one recipe declares, each with its bounds and help written once.

A recipe that only changes a default calls the factory with its own value; pydantic needs the
annotation repeated on the subclass (`g_learning_rate: float = g_learning_rate_field(4e-3)`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

Optimizer = Literal["sgd", "adam", "rmsprop", "nadam"]
Loss = Literal["bce", "nonsaturating", "wgan-gp", "hinge"]


def steps_per_execution_field(default: int) -> Any:
    return Field(default, ge=1, le=10_000, description="train steps (batches) per call of the compiled function: "
                                                      "fewer Python round trips; stop and checkpoint checks every "
                                                      "N batches")


def deterministic_field() -> Any:
    """Of every recipe (RecipeParams): TensorFlow's op determinism."""
    return Field(False, description="deterministic kernels (tf.config.experimental.enable_op_determinism): "
                                    "the same seed gives the same weights on GPUs too, at some speed; "
                                    "on the CPU a run is already deterministic")


def mirror_field() -> Any:
    """Of the image recipes whose data may be flipped left-right (GANs, image autoencoders, VAEs)."""
    return Field(False, description="x-flip a random half of each training batch in the input pipeline "
                                    "(stylegan2-ada's --mirror): for images without a left-right meaning")


def learning_rate_field(default: float, of: str = "") -> Any:
    """`of`: whose learning rate, when the recipe has more than one ("the classifiers")."""
    return Field(default, gt=0, le=10, description=f"learning rate of {of}" if of else "learning rate")


def optimizer_field(default: str, of: str = "") -> Any:
    return Field(default, description=f"optimizer of {of}" if of else "optimizer")


def _auto_is_zero(value: Any) -> Any:
    return 0 if isinstance(value, str) and value.strip().lower() == "auto" else value


# `--set pictures_every=auto` reads as 0, the adaptive default.
PicturesEvery = Annotated[int, BeforeValidator(_auto_is_zero)]


def pictures_every_field() -> Any:
    """Of the recipes that draw a sample grid per epoch (latentq.models.samples.SampleMonitor)."""
    return Field(0, ge=0, le=100_000,
                 description="sample grid (and montage row) every K epochs, the last always; 0 or auto: as often as "
                             "keeps picture work under 5% of the run's time so far")


# ---- VAEs -----------------------------------------------------------------------------------------


def vae_codings_field(default: int) -> Any:
    return Field(default, ge=1, le=1024, description="size of the coding (latent) space (the notes' 10)")


def kl_weight_field(default: float) -> Any:
    return Field(default, ge=0, le=1000,
                 description="weight of the latent (KL) loss; 1 = the notes' scaling, KL / pixels, i.e. the "
                             "negative ELBO; above 1 a beta-VAE")


# ---- GANs -----------------------------------------------------------------------------------------


def gan_codings_field(default: int) -> Any:
    return Field(default, ge=1, le=4096, description="size of the Gaussian noise the generator maps to images")


def gan_optimizer_field(default: str) -> Any:
    return optimizer_field(default, of="both networks")


def g_learning_rate_field(default: float) -> Any:
    return learning_rate_field(default, of="the generator")


def d_learning_rate_field(default: float) -> Any:
    return learning_rate_field(default, of="the discriminator")


def beta_1_field(default: float) -> Any:
    return Field(default, ge=0, lt=1, description="first-moment decay of adam / nadam (ignored by others)")


def loss_field(default: str) -> Any:
    return Field(default, description="adversarial loss: bce (on probabilities), nonsaturating, wgan-gp, hinge "
                                      "(on logits)")


def r1_gamma_field(default: float) -> Any:
    return Field(default, ge=0, le=1000, description="R1 penalty weight on real images (0: off)")


def r1_every_field(default: int) -> Any:
    return Field(default, ge=1, le=1000, description="lazy R1: apply it every K discriminator steps, scaled by K")


def ema_field(default: float) -> Any:
    return Field(default, ge=0, le=10_000_000,
                 description="generator EMA for samples, metrics and the saved generator: a half-life in images "
                             "(>= 1), or a per-step decay (< 1); 0: off")
