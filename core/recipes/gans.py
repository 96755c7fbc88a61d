"""Parameters of the GAN recipes (the Keras code is in latentq.models.gan: recipes, progressive/, stylegan/)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, field_validator

from latentq.recipes.catalog import RecipeInfo, RecipeParams, register
from latentq.recipes.fields import Loss, Optimizer, PicturesEvery, beta_1_field, d_learning_rate_field, ema_field, \
    g_learning_rate_field, gan_codings_field, gan_optimizer_field, loss_field, mirror_field, r1_every_field, r1_gamma_field, \
    pictures_every_field, steps_per_execution_field
from latentq.recipes.needs import DataNeeds, canvas_at_least


class GANRunParams(RecipeParams):
    """How every GAN run is watched and stepped, whatever its networks."""

    eval_every: Optional[int] = Field(None, ge=0, le=100_000,
                                      description="fcd / class_coverage / class_kl every K epochs (0: after the "
                                                  "last only; default: as often as keeps them under 10% of the "
                                                  "run's time, the last epoch always)")
    eval_samples: int = Field(1000, ge=0, le=100_000,
                              description="generated images per evaluation (0 skips the quality evaluation and FID)")
    mirror: bool = mirror_field()
    pictures_every: PicturesEvery = pictures_every_field()
    collapse_threshold: float = Field(0.7, ge=0, le=1,
                                      description="mode-collapse alarm when class_coverage falls below this after "
                                                  "having been above it")
    steps_per_execution: int = steps_per_execution_field(1)
    jit_compile: Literal["auto", "on", "off"] = Field("auto", description="XLA compilation (auto: on GPUs only)")
    # Losses and regularisers (latentq.models.gan.losses); logit losses give the discriminator a linear head.
    loss: Loss = loss_field("bce")
    gp_lambda: float = Field(10.0, ge=0, le=1000, description="WGAN-GP gradient-penalty weight (loss=wgan-gp)")
    r1_gamma: float = r1_gamma_field(0.0)
    r1_every: int = r1_every_field(1)
    drift: float = Field(0.0, ge=0, le=10, description="ProGAN's drift term epsilon * D(x)^2 (0: off)")
    # Off by default: an average lags a generator that still improves fast.
    ema: float = ema_field(0.0)
    ema_rampup: Optional[float] = Field(0.05, gt=0, le=10,
                                        description="EMA half-life ramp-up: at most this share of the images "
                                                    "seen so far (none: the full half-life from the start)")
    fid: bool = Field(False, description="also an Inception-v3 FID after the last epoch (needs the ImageNet weights; "
                                         "without them one line says so and the run goes on)")


class AdversarialParams(GANRunParams):
    """What every GAN recipe takes: optimizers, the notes' two remedies, and how it is watched.
    The batch size is the job's own --batch-size."""

    codings: int = gan_codings_field(30)
    optimizer: Optimizer = gan_optimizer_field("rmsprop")
    g_learning_rate: float = g_learning_rate_field(1e-3)
    d_learning_rate: float = d_learning_rate_field(1e-3)
    beta_1: float = beta_1_field(0.9)
    replay_size: int = Field(0, ge=0, le=200_000,
                             description="experience replay: buffer of past fakes, in images (0: off)")
    replay_fraction: float = Field(0.5, ge=0, le=1,
                                   description="share of the discriminator's fakes drawn from the replay buffer")
    minibatch_discrimination: bool = Field(False,
                                           description="add a minibatch-discrimination layer to the discriminator")
    mbd_kernels: int = Field(16, ge=1, le=512, description="minibatch discrimination: number of kernels")
    mbd_kernel_dim: int = Field(8, ge=1, le=256, description="minibatch discrimination: size of each kernel")


class DenseGANParams(AdversarialParams):
    # A tiny network: per-call overhead, not arithmetic, bounds its speed; 32 steps per call make
    # the most of it. XLA stays "auto" (off on a CPU): it compiles for seconds and steps no faster.
    steps_per_execution: int = steps_per_execution_field(32)


class DCGANParams(AdversarialParams):
    codings: int = gan_codings_field(100)
    filters: int = Field(64, ge=1, le=1024,
                         description="discriminator's first conv filters (doubling per stride); the generator "
                                     "mirrors them")
    kernel_size: int = Field(5, ge=1, le=15, description="convolution kernel size")
    dropout: float = Field(0.4, ge=0, lt=1, description="discriminator dropout")
    upsamplings: Optional[int] = Field(None, ge=1, le=6,
                                       description="stride-2 upsamplings of the generator (default: from the image "
                                                   "size)")
    # A few steps per call are faster than one (bench/gan_loop.py --recipe dcgan); XLA stays "auto"
    # (off on a CPU): it made the step slower.
    steps_per_execution: int = steps_per_execution_field(8)
    # ema stays off (GANRunParams): in short runs the raw generator still improves fast and the
    # average lags it, the gain at longer runs is not on every seed, and each sample grid would
    # re-measure the batch norms (bench/RESULTS.md).


GAN = register(
    RecipeInfo(
        name="gan",
        family="gan",
        summary="The notes' dense GAN: 30 -> 100 -> 150 -> image sigmoid generator, dense discriminator, BCE, RMSprop",
        params=DenseGANParams,
        can=frozenset({"sample"}),
    )
)
DCGAN = register(
    RecipeInfo(
        name="dcgan",
        family="gan",
        summary="Deep convolutional GAN: strided Conv2DTranspose + batch norm + tanh generator, strided Conv2D + "
                "LeakyReLU + dropout discriminator",
        params=DCGANParams,
        can=frozenset({"sample"}),
    )
)


# ---- ProGAN and StyleGAN (latentq.models.gan.progressive, latentq.models.gan.stylegan) -------------


class EqualizedGANParams(GANRunParams):
    """What ProGAN and StyleGAN share: equalized-learning-rate networks whose filters halve as the
    resolution doubles, Adam with beta_1 = 0 as in the papers, and the GAN monitors."""

    codings: int = gan_codings_field(64)
    optimizer: Optimizer = gan_optimizer_field("adam")
    # At 1e-3 both learn too slowly for short runs; StyleGAN does best at 2e-3, ProGAN at 4e-3
    # (bench/generator_quality.py, figures in bench/RESULTS.md).
    g_learning_rate: float = g_learning_rate_field(2e-3)
    d_learning_rate: float = d_learning_rate_field(2e-3)
    beta_1: float = beta_1_field(0.0)
    filters: int = Field(64, ge=1, le=1024,
                         description="filters of the 4x4 and 8x8 blocks, halved with each doubling after that "
                                     "(never below 8)")
    # Non-saturating + lazy R1 (weight 1) gave better samples and coverage than ProGAN's WGAN-GP +
    # drift, and the EMA of the generator (half-life 10k images) lowered the fcd further
    # (bench/generator_quality.py).
    loss: Loss = loss_field("nonsaturating")
    r1_gamma: float = r1_gamma_field(1.0)
    r1_every: int = r1_every_field(4)
    ema: float = ema_field(10_000.0)


class GrowthParams(RecipeParams):
    """The growth knobs of a progressive GAN (ProGAN always, StyleGAN with grow=true)."""

    start_resolution: int = Field(4, ge=4, le=1024,
                                  description="resolution of the first stage, a power of two; the last is the "
                                              "image size padded to a power of two (28 -> 32)")
    epochs_per_stage: Optional[int] = Field(None, ge=1, le=100_000,
                                            description="epochs of each stage before growing (the last stage trains "
                                                        "to the job's end); default: the job's epochs split evenly")
    fade_in: float = Field(0.5, ge=0, le=1,
                           description="share of each new stage during which alpha rises from 0 to 1, blending "
                                       "the new blocks in")

    @field_validator("start_resolution")
    @classmethod
    def _power_of_two(cls, value: int) -> int:
        if value & (value - 1):
            raise ValueError("must be a power of two (4, 8, 16, ...)")
        return value


class ProGANParams(EqualizedGANParams, GrowthParams):
    """ProGAN grows always: the growth knobs apply to every run."""

    # ProGAN's small early stages train best at twice StyleGAN's rate (bench/generator_quality.py).
    g_learning_rate: float = g_learning_rate_field(4e-3)
    d_learning_rate: float = d_learning_rate_field(4e-3)


class StyleGANParams(EqualizedGANParams, GrowthParams):
    grow: bool = Field(False, description="train progressively from start_resolution like progan, with fade-in "
                                          "(start_resolution, epochs_per_stage, fade_in apply only then)")
    w_dim: int = Field(64, ge=1, le=4096, description="size of the style vector w (the mapping network's width)")
    mapping_layers: int = Field(8, ge=1, le=16, description="dense layers of the mapping network z -> w")
    mapping_lr_multiplier: float = Field(0.01, gt=0, le=1,
                                         description="learning-rate multiplier of the mapping network")
    mixing_prob: float = Field(0.9, ge=0, le=1,
                               description="style mixing: share of generated training images made from two "
                                           "codings, switching at a random layer")


PROGAN = register(
    RecipeInfo(
        name="progan",
        family="gan",
        summary="Progressive growing of GANs: 4x4 first, then stage by stage (fade-in) to the image size; "
                "equalized learning rate, pixelwise normalisation, minibatch standard deviation",
        params=ProGANParams,
        can=frozenset({"sample"}),
        needs=DataNeeds(side=canvas_at_least("start_resolution", "the first stage is start_resolution pixels")),
    )
)
STYLEGAN = register(
    RecipeInfo(
        name="stylegan",
        family="gan",
        summary="StyleGAN: mapping network z -> w, synthesis from a learned constant with noise and AdaIN at "
                "every layer, style mixing regularisation; ProGAN's discriminator; grow=true grows it progressively "
                "like progan",
        params=StyleGANParams,
        can=frozenset({"sample", "interpolate", "style_mix", "truncation"}),
        needs=DataNeeds(side=canvas_at_least("start_resolution", "the first stage is start_resolution pixels",
                                             when="grow")),
    )
)
