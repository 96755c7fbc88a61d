"""Parameters of the VAE recipes (the Keras code is in latentq.models.vae.model)."""

from __future__ import annotations

from pydantic import Field

from latentq.recipes.autoencoders import AEParams
from latentq.recipes.fields import mirror_field
from latentq.recipes.catalog import RecipeInfo, register
from latentq.recipes.fields import PicturesEvery, kl_weight_field, learning_rate_field, pictures_every_field, \
    vae_codings_field

VAE_CAN = frozenset({"sample", "interpolate", "reconstruct"})


class _VAECommon(AEParams):
    codings: int = vae_codings_field(10)
    kl_weight: float = kl_weight_field(1.0)
    mirror: bool = mirror_field()
    eval_samples: int = Field(
        1000, ge=0, le=50_000, description="samples scored by fcd / class_coverage at the end (0 skips them)"
    )
    pictures_every: PicturesEvery = pictures_every_field()


class VAEParams(_VAECommon):
    """The notes' VAE, trained with adam (their rmsprop trains slower here)."""

    # At the notes' kl_weight 1 the prior's samples miss rare classes (the digit 1s' codes sit far
    # out, so few N(0, I) draws land there): twice the KL pulls the codes in and fills the prior
    # better, 3x the learning rate trains that within a short budget, and 20 codings keep every
    # class's share of the samples (bench/RESULTS.md has the figures).
    kl_weight: float = kl_weight_field(2.0)
    learning_rate: float = learning_rate_field(3e-3)
    codings: int = vae_codings_field(20)
    hidden1: int = Field(150, ge=1, le=8192, description="units of the first selu layer (the notes' 150)")
    hidden2: int = Field(100, ge=1, le=8192, description="units of the second selu layer (the notes' 100)")


class ConvVAEParams(_VAECommon):
    filters1: int = Field(32, ge=1, le=1024, description="filters of the first strided convolution")
    filters2: int = Field(64, ge=1, le=1024, description="filters of the second strided convolution")
    hidden: int = Field(64, ge=1, le=8192, description="units of the dense layer before the codings")


VAE = register(
    RecipeInfo(
        name="vae",
        family="vae",
        summary="Variational autoencoder: Dense selu encoder -> (mean, log var), Sampling, mirrored decoder",
        params=VAEParams,
        can=VAE_CAN,
    )
)
CONV_VAE = register(
    RecipeInfo(
        name="conv-vae",
        family="vae",
        summary="Convolutional VAE: strided Conv2D encoder, Conv2DTranspose decoder, for images",
        params=ConvVAEParams,
        can=VAE_CAN,
    )
)
