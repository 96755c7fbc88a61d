"""Parameters of the GAN recipes (the Keras code is in latentq.models.gan.recipes, progan, stylegan)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from latentq.recipes.catalog import RecipeInfo, RecipeParams, register, steps_per_execution_field
from latentq.recipes.needs import DataNeeds, canvas_at_least

Optimizer = Literal["sgd", "adam", "rmsprop", "nadam"]
Loss = Literal["bce", "nonsaturating", "wgan-gp", "hinge"]


class GANRunParams(RecipeParams):
    """How every GAN run is watched and stepped, whatever its networks."""

    eval_every: Optional[int] = Field(None, ge=0, le=100_000,
                                      description="fcd / class_coverage / class_kl every K epochs (0: after the "
                                                  "last only; default: as often as keeps them under 10% of the "
                                                  "run's time, the last epoch always)")
    eval_samples: int = Field(1000, ge=10, le=100_000, description="generated images per evaluation")
    collapse_threshold: float = Field(0.7, ge=0, le=1,
                                      description="mode-collapse alarm when class_coverage falls below this after "
                                                  "having been above it")
    steps_per_execution: int = steps_per_execution_field(1)
    jit_compile: Literal["auto", "on", "off"] = Field("auto", description="XLA compilation (auto: on GPUs only)")
    # Losses and regularisers (latentq.models.gan.losses); logit losses give the discriminator a linear head.
    loss: Loss = Field("bce", description="adversarial loss: bce (on probabilities), nonsaturating, wgan-gp, hinge "
                                          "(on logits)")
    gp_lambda: float = Field(10.0, ge=0, le=1000, description="WGAN-GP gradient-penalty weight (loss=wgan-gp)")
    r1_gamma: float = Field(0.0, ge=0, le=1000, description="R1 penalty weight on real images (0: off)")
    r1_every: int = Field(1, ge=1, le=1000, description="lazy R1: apply it every K discriminator steps, scaled by K")
    drift: float = Field(0.0, ge=0, le=10, description="ProGAN's drift term epsilon * D(x)^2 (0: off)")
    ema: float = Field(0.0, ge=0, le=10_000_000,
                       description="generator EMA for samples, metrics and the saved generator: a half-life in "
                                   "images (>= 1), or a per-step decay (< 1); 0: off")
    ema_rampup: Optional[float] = Field(0.05, gt=0, le=10,
                                        description="EMA half-life ramp-up: at most this share of the images "
                                                    "seen so far (none: the full half-life from the start)")
    fid: bool = Field(False, description="also an Inception-v3 FID after the last epoch (needs the ImageNet weights; "
                                         "without them one line says so and the run goes on)")


class AdversarialParams(GANRunParams):
    """What every GAN recipe takes: optimizers, the notes' two remedies, and how it is watched.
    The batch size is the job's own --batch-size."""

    codings: int = Field(30, ge=1, le=4096, description="size of the Gaussian noise the generator maps to images")
    optimizer: Optimizer = Field("rmsprop", description="optimizer of both networks")
    g_learning_rate: float = Field(1e-3, gt=0, le=10, description="generator learning rate")
    d_learning_rate: float = Field(1e-3, gt=0, le=10, description="discriminator learning rate")
    beta_1: float = Field(0.9, ge=0, lt=1, description="first-moment decay of adam / nadam (ignored by others)")
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
    # the most of it. XLA stays "auto" (off on a CPU): measured end to end (15 epochs of mnist-5k,
    # bench/gan_vs_notes.py) it made the steps no faster and cost about 5 s of compilation.
    steps_per_execution: int = steps_per_execution_field(32)


class DCGANParams(AdversarialParams):
    codings: int = Field(100, ge=1, le=4096, description="size of the Gaussian noise the generator maps to images")
    filters: int = Field(64, ge=1, le=1024,
                         description="discriminator's first conv filters (doubling per stride); the generator "
                                     "mirrors them")
    kernel_size: int = Field(5, ge=1, le=15, description="convolution kernel size")
    dropout: float = Field(0.4, ge=0, lt=1, description="discriminator dropout")
    upsamplings: Optional[int] = Field(None, ge=1, le=6,
                                       description="stride-2 upsamplings of the generator (default: from the image "
                                                   "size)")
    # Eight steps per call: about 7% more samples/s than one at filters=32 on a 2-core CPU
    # (bench/gan_loop.py --recipe dcgan); XLA stays "auto" (off on a CPU): it made the step slower.
    steps_per_execution: int = steps_per_execution_field(8)
    # ema stays off. mnist-5k, filters=32, seeds 0-2 (bench/generator_quality.py): at 5 epochs an EMA with
    # half-life 10k images / ramp-up 0.05 raised the fcd (24.8 -> 27.0 mean; separate runs): the raw
    # generator still improves fast and the average lags it. At 10 epochs, scored beside the raw
    # generator of the same runs, it lowered the mean (15.3 -> 14.5; half-life 500: 14.0) but not on
    # every seed (14.2 -> 15.2 on seed 0), and each sample grid then re-measures the batch norms.


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


# ---- ProGAN and StyleGAN (latentq.models.gan.progressive.recipes, latentq.models.gan.stylegan.recipes) ---------------------------

from pydantic import field_validator  # noqa: E402  (this section's own import, kept beside it)


class EqualizedGANParams(GANRunParams):
    """What ProGAN and StyleGAN share: equalized-learning-rate networks whose filters halve as the
    resolution doubles, Adam with beta_1 = 0 as in the papers, and the GAN monitors."""

    codings: int = Field(64, ge=1, le=4096, description="size of the Gaussian noise the generator maps to images")
    optimizer: Optimizer = Field("adam", description="optimizer of both networks")
    # Measured on mnist-5k, 5 epochs, batch 32, seeds 0-2 (bench/generator_quality.py): at 1e-3 both
    # learn too slowly for this budget. StyleGAN (R1 weight 1): fcd 29.2 / 33.6 / 21.6 at 2e-3 (37.4 at
    # 1e-3, 31.3 at 4e-3, seed 0). ProGAN overrides it with 4e-3.
    g_learning_rate: float = Field(2e-3, gt=0, le=10, description="generator learning rate")
    d_learning_rate: float = Field(2e-3, gt=0, le=10, description="discriminator learning rate")
    beta_1: float = Field(0.0, ge=0, lt=1, description="first-moment decay of adam / nadam (ignored by others)")
    filters: int = Field(64, ge=1, le=1024,
                         description="filters of the 4x4 and 8x8 blocks, halved with each doubling after that "
                                     "(never below 8)")
    # Measured on mnist-5k, 5 epochs (bench/generator_quality.py): non-saturating + lazy R1 beat
    # ProGAN's WGAN-GP + drift (fcd 43.7 vs 49.1, class_coverage 0.8 vs 0.6, seed 0).
    loss: Loss = Field("nonsaturating", description="adversarial loss: bce (on probabilities), nonsaturating, "
                                                    "wgan-gp, hinge (on logits)")
    r1_gamma: float = Field(1.0, ge=0, le=1000, description="R1 penalty weight on real images (0: off)")
    r1_every: int = Field(4, ge=1, le=1000, description="lazy R1: apply it every K discriminator steps, scaled by K")
    ema: float = Field(10_000.0, ge=0, le=10_000_000,
                       description="generator EMA for samples, metrics and the saved generator: a half-life in "
                                   "images (>= 1), or a per-step decay (< 1); 0: off")


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

    # Measured on mnist-5k, 5 epochs, batch 32 (bench/generator_quality.py): fcd 12.9 / 12.9 / 18.5
    # (seeds 0-2; DCGAN filters=32: 26.5 / 26.0 / 21.8), class_coverage 0.9 / 0.8 / 0.7; at 2e-3
    # 26.0 / 31.4 / 21.5, at 1e-3 38.9 (seed 0).
    g_learning_rate: float = Field(4e-3, gt=0, le=10, description="generator learning rate")
    d_learning_rate: float = Field(4e-3, gt=0, le=10, description="discriminator learning rate")


class StyleGANParams(EqualizedGANParams, GrowthParams):
    grow: bool = Field(False, description="train progressively from start_resolution like progan, with fade-in "
                                          "(start_resolution, epochs_per_stage, fade_in apply only then)")
    # R1 weight 1 and the EMA (10k images), EqualizedGANParams' defaults, since session 5. mnist-5k,
    # 10 epochs, batch 32, lr 2e-3, seeds 0-2 (bench/generator_quality.py; "raw": the raw generator of
    # the same runs); DCGAN filters=32: fcd 15.3 mean:
    #   R1 1, EMA:  fcd 9.1 / 8.1 / 8.5 (mean 8.5), class_coverage 1.0 / 0.9 / 0.9; raw 10.8 / 18.4 / 8.6 (12.6)
    #   R1 10, EMA: fcd 13.0 / 14.1 / 8.7 (11.9), class_coverage 1.0 / 0.8 / 0.9; raw 20.4 / 17.2 / 17.4 (18.3)
    # (At 5 epochs without the EMA, R1 10 had been the better, fcd 24.1 vs 28.1, and the EMA had not
    # helped at lr 1e-3, seed 0: 38.1 vs 37.4.)
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
