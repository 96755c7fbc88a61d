"""StyleGAN (the notes' last GAN), on latentq's GAN model, at a fixed resolution or growing.

- Mapping network ("mapping"): z -> PixelNorm -> `mapping_layers` x (EqualizedDense + LeakyReLU)
  -> w, learning `mapping_lr_multiplier` times slower than the rest (as in the paper).
- Synthesis network ("synthesis"): a learned constant 4x4 input; then per resolution (4x4, 8x8,
  ... up to the image size padded to a power of two) two layers, each: [upsample + 3x3 conv, or
  conv] -> noise (`NoiseInjection`, per-channel learned scale) -> LeakyReLU -> `AdaIN` with its
  own style w_i. It takes one w per layer (inputs style_0 ... style_{L-1}, L = 2 x resolutions),
  and writes images of the dataset's shape in [0, 1] (tanh, mapped and cropped back).
- "generator" = synthesis([mapping(z)] * L): (n, codings) -> images, latentq's contract, so
  `latentq generate` and the monitors use it unchanged.
- Discriminator: ProGAN's, at the full resolution: equalized convs, minibatch standard
  deviation, a linear head for the default non-saturating logistic loss with lazy R1 (the
  StyleGAN papers' choice; a sigmoid with loss=bce).
- Style mixing regularisation: in training, a `mixing_prob` share of the fakes (both phases)
  come from two codings z1, z2: the layers before a random crossover take w1, the rest w2.

After training, images/style_mixing.png (kind style_mixing): rows are source A codings,
columns source B codings, each cell the coarse styles (the lower half of the layers: 4x4 and
8x8 at 32x32) of its row's A with the fine styles of its column's B; the first row shows B, the
first column A. `latentq generate ID --style-mix [--crossover L]` draws the same grid
(latentq.models.gan.stylegan.sampling.style_mixing_grid).

Growing progressively (`--set grow=true`, `GrowingStyleGAN`), as the StyleGAN paper did with
ProGAN's schedule: training starts at `start_resolution` and doubles stage by stage to the padded
image size (latentq.models.gan.progressive.growth: GrowthPlan / GrowthSchedule, `epochs_per_stage`, `fade_in`).
The synthesis is built once as blocks, one per resolution from the 4x4 constant up (two styled
layers each), with a to-RGB per stage; a stage wires the blocks up to its resolution (2 styles
each, so the style inputs grow with it) and, while it fades in, blends its RGB with the previous
stage's, upsampled (nearest), by a `FadeIn`. The discriminator is ProGAN's growing one
(progan_blocks). At every stage "generator" is mapping + that stage's synthesis, its image
upsampled (nearest) to the padded size and cropped back, so the monitors, truncation, style
mixing and `latentq generate` use the current stage. The stage is in the model's config, alpha
and the stage's step count are variables (growth.Growing, shared with ProGAN): a checkpoint
saved mid-fade reloads where it was.

Training keeps a running average of w (`w_average`, latentq.models.gan.stylegan.sampling), the centre
of the truncation trick (`latentq generate ID --truncation PSI`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import keras
from keras import ops

from latentq.models.gan.model import GAN
from latentq.models.gan.progressive.blocks import LEAK, DiscriminatorBlocks, discriminator_base, discriminator_block, \
    from_rgb, to_rgb, wire_discriminator
from latentq.models.gan.progressive.canvas import Frame, stage_filters, stage_resolutions
from latentq.models.gan.progressive.growth import Growing, check_start_resolution
from latentq.models.gan.stylegan.sampling import WAverage
from latentq.models.layers import checks
from latentq.models.layers.progressive import EqualizedConv2D, EqualizedDense, FadeIn, PixelNorm
from latentq.models.layers.style import AdaIN, ConstantInput, NoiseInjection


# ---- the networks --------------------------------------------------------------------------------


def build_mapping(codings: int, w_dim: int, layers: int, lr_multiplier: float) -> keras.Model:
    z = keras.Input((codings,), name="codings")
    w = PixelNorm()(z)
    for _ in range(layers):
        w = keras.layers.LeakyReLU(LEAK)(EqualizedDense(w_dim, lr_multiplier=lr_multiplier)(w))
    return keras.Model(z, w, name="mapping")


def styled(x, w, seed: Optional[int]):
    """What follows every synthesis conv: noise (per-channel learned scale), LeakyReLU, AdaIN with style w."""
    x = NoiseInjection(seed=seed)(x)
    return AdaIN()([keras.layers.LeakyReLU(LEAK)(x), w])


def noise_seed(seed: Optional[int], layer: int) -> Optional[int]:
    return None if seed is None else seed + 1000 + layer


def build_synthesis(frame: Frame, w_dim: int, filters: int, seed: Optional[int] = None) -> keras.Model:
    resolutions = stage_resolutions(4, frame.size)
    styles = [keras.Input((w_dim,), name=f"style_{i}") for i in range(2 * len(resolutions))]

    f = stage_filters(filters, 4)
    x = styled(ConstantInput((4, 4, f), name="constant")(styles[0]), styles[0], noise_seed(seed, 0))
    x = styled(EqualizedConv2D(f)(x), styles[1], noise_seed(seed, 1))
    for b, resolution in enumerate(resolutions[1:], start=1):
        f = stage_filters(filters, resolution)
        x = keras.layers.UpSampling2D(2, interpolation="bilinear")(x)
        x = styled(EqualizedConv2D(f)(x), styles[2 * b], noise_seed(seed, 2 * b))
        x = styled(EqualizedConv2D(f)(x), styles[2 * b + 1], noise_seed(seed, 2 * b + 1))
    rgb = keras.layers.Activation("tanh")(EqualizedConv2D(frame.channels, 1, gain=1.0, name="to_rgb")(x))
    return keras.Model(styles, frame.to_images(rgb), name="synthesis")


def build_discriminator(frame: Frame, filters: int, logits: bool = False) -> keras.Model:
    """ProGAN's discriminator at the full resolution: from-RGB, blocks down to 4x4, the base."""
    resolutions = stage_resolutions(4, frame.size)
    f = [stage_filters(filters, r) for r in resolutions]
    images = keras.Input(frame.shape, name="images")
    h = from_rgb(frame.size, frame.channels, f[-1])(frame.to_canvas(images))
    for i in range(len(resolutions) - 1, 0, -1):
        h = discriminator_block(resolutions[i], f[i], f[i - 1])(h)
    return keras.Model(images, discriminator_base(4, f[0], logits)(h), name="discriminator")


def build_generator(mapping: keras.Model, synthesis: keras.Model) -> keras.Model:
    z = keras.Input(mapping.input_shape[1:], name="codings")
    w = mapping(z)
    return keras.Model(z, synthesis([w] * len(synthesis.inputs)), name="generator")


# ---- the model -----------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="latentq")
class StyleGAN(GAN):
    """A GAN whose generator is mapping + synthesis, trained with style mixing.

    Args (besides the GAN's):
        generator: must hold sub-models named "mapping" (codings -> w) and "synthesis" (one w
            per layer -> images), as `build_generator` makes.
        mixing_prob: share of the generated training images made from two codings.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, codings: int,
                 mixing_prob: float = 0.9, seed: Optional[int] = None, **kwargs):
        super().__init__(generator, discriminator, codings, seed=seed, **kwargs)
        names = {layer.name for layer in generator.layers}
        if not {"mapping", "synthesis"} <= names:
            raise ValueError("the generator must hold sub-models named 'mapping' and 'synthesis'. "
                             f"Received: generator with layers {sorted(names)}")
        if isinstance(mixing_prob, bool) or not isinstance(mixing_prob, (int, float)) or not 0 <= mixing_prob <= 1:
            raise ValueError(f"`mixing_prob` must be a number in [0, 1]. Received: mixing_prob={mixing_prob!r}")
        self.mixing_prob = float(mixing_prob)
        self.w_average = WAverage(int(self.mapping.output_shape[-1]), name="w_average")

    @property
    def mapping(self) -> keras.Model:
        return self.generator.get_layer("mapping")

    @property
    def synthesis(self) -> keras.Model:
        return self.generator.get_layer("synthesis")

    @property
    def num_styles(self) -> int:
        return len(self.synthesis.inputs)

    def get_config(self):
        return {**super().get_config(), "mixing_prob": self.mixing_prob}

    def generate(self, codings, training=False):
        if not training:
            return self.generator(codings, training=training)
        return self.synthesis(self.mixed_styles(codings, training=True), training=True)

    def mixed_styles(self, codings, training=False) -> list:
        """One w per synthesis layer: w(codings) everywhere, except for a `mixing_prob` share of
        the samples, whose layers from a random crossover (1 .. L-1) on take w of fresh codings.
        In training, the running average of w (truncation's centre) moves towards w(codings)."""
        n = ops.shape(codings)[0]
        count = self.num_styles
        w1 = self.mapping(codings, training=training)
        if training:
            self.w_average.update(ops.stop_gradient(w1))
        if self.mixing_prob <= 0:
            return [w1] * count
        w2 = self.mapping(self.noise(n), training=training)
        mixing = keras.random.uniform((n,), seed=self.seed_generator) < self.mixing_prob
        crossover = 1 + ops.cast(ops.floor(keras.random.uniform((n,), seed=self.seed_generator) * (count - 1)),
                                 "int32")
        crossover = ops.reshape(ops.where(mixing, crossover, count), (-1, 1))
        return [ops.where(i < crossover, w1, w2) for i in range(count)]


# ---- growing progressively (grow=true) -----------------------------------------------------------


def synthesis_block(resolution: int, in_filters: int, filters: int, w_dim: int,
                    seed: Optional[int] = None) -> keras.Model:
    """The two styled layers at one resolution: [x at half the resolution, w_a, w_b] -> upsample
    (bilinear) + conv, conv; the 4x4 block is [w_a, w_b] -> the learned constant, conv."""
    first = 2 * (int(math.log2(resolution)) - 2)  # the index of its first style in the whole network
    styles = [keras.Input((w_dim,)), keras.Input((w_dim,))]
    if resolution == 4:
        inputs = styles
        x = ConstantInput((4, 4, filters), name="constant")(styles[0])
    else:
        below = keras.Input((resolution // 2, resolution // 2, in_filters))
        inputs = [below, *styles]
        x = EqualizedConv2D(filters)(keras.layers.UpSampling2D(2, interpolation="bilinear")(below))
    x = styled(x, styles[0], noise_seed(seed, first))
    x = styled(EqualizedConv2D(filters)(x), styles[1], noise_seed(seed, first + 1))
    return keras.Model(inputs, x, name=f"s_block_{resolution}")


@dataclass
class SynthesisBlocks:
    """The growing synthesis network's pieces: a block per resolution from 4x4 up (each stage
    runs every block up to its resolution), a to-RGB per stage (from start_resolution up)."""

    stages: list[int]
    blocks: list[keras.Model]  # blocks[i] at 4 * 2**i
    to_rgb: list[keras.Model]  # to_rgb[i] at stages[i]

    @classmethod
    def build(cls, frame: Frame, w_dim: int, filters: int, start: int, seed: Optional[int] = None):
        resolutions = stage_resolutions(4, frame.size)
        f = [stage_filters(filters, r) for r in resolutions]
        blocks = [synthesis_block(r, f[max(i - 1, 0)], f[i], w_dim, seed) for i, r in enumerate(resolutions)]
        stages = stage_resolutions(start, frame.size)
        return cls(stages, blocks, [to_rgb(r, stage_filters(filters, r), frame.channels) for r in stages])


def wire_synthesis(frame: Frame, w_dim: int, blocks: SynthesisBlocks, resolution: int, fade: FadeIn) -> keras.Model:
    """The "synthesis" for one stage: one w per layer up to `resolution` -> images of the dataset's
    shape in [0, 1]. While the stage fades in, its to-RGB is blended with the previous stage's,
    upsampled (nearest); below the last stage the image is upsampled (nearest) to the canvas."""
    stage = blocks.stages.index(resolution)
    depth = int(math.log2(resolution)) - 2
    styles = [keras.Input((w_dim,), name=f"style_{i}") for i in range(2 * (depth + 1))]
    x = previous = blocks.blocks[0](styles[:2])
    for b in range(1, depth + 1):
        previous, x = x, blocks.blocks[b]([x, styles[2 * b], styles[2 * b + 1]])
    rgb = blocks.to_rgb[stage](x)
    if stage > 0:
        rgb = fade([keras.layers.UpSampling2D(2)(blocks.to_rgb[stage - 1](previous)), rgb])
    if resolution < frame.size:
        rgb = keras.layers.UpSampling2D(frame.size // resolution)(rgb)
    return keras.Model(styles, frame.to_images(rgb), name="synthesis")


@keras.saving.register_keras_serializable(package="latentq")
class GrowingStyleGAN(Growing, StyleGAN):
    """StyleGAN grown as the paper did, with ProGAN's stages: `grow(resolution)` wires the
    synthesis blocks up to that resolution (its own to-RGB, faded in over the previous stage's)
    and ProGAN's discriminator blocks for it (latentq.models.gan.progressive.growth.Growing: alpha, stage_step,
    fade_steps). "generator" is mapping + the stage's synthesis, so the number of style inputs
    grows with the stage (2 per resolution up to it).

    Args:
        image_shape: the dataset's sample shape, (H, W) or (H, W, C).
        codings, w_dim, mapping_layers, mapping_lr_multiplier: the mapping network (build_mapping).
        filters: filters of the 4x4 and 8x8 blocks, halved with each doubling after that.
        start_resolution: the first stage's resolution (a power of two >= 4; the synthesis starts
            from its 4x4 constant whatever it is).
        resolution: the stage to wire now (default: start_resolution); a saved model's config
            holds the stage it was at.
        mixing_prob, seed, logits: as StyleGAN's and ProGAN's.
    """

    def __init__(self, image_shape, codings: int, w_dim: int = 64, mapping_layers: int = 8,
                 mapping_lr_multiplier: float = 0.01, filters: int = 64, start_resolution: int = 4,
                 resolution: Optional[int] = None, mixing_prob: float = 0.9, seed: Optional[int] = None,
                 logits: bool = False, **kwargs):
        frame = Frame.of(image_shape)
        for name, value in (("codings", codings), ("w_dim", w_dim), ("mapping_layers", mapping_layers),
                            ("filters", filters)):
            checks.positive_int(name, value)
        check_start_resolution(start_resolution, frame)
        synthesis = SynthesisBlocks.build(frame, w_dim, filters, start_resolution, seed)
        resolution = start_resolution if resolution is None else resolution
        self.check_stage(resolution, synthesis.stages)
        discriminator = DiscriminatorBlocks.build(frame, filters, start_resolution, logits)
        mapping = build_mapping(codings, w_dim, mapping_layers, mapping_lr_multiplier)
        g_fade, d_fade = FadeIn(name="g_fade"), FadeIn(name="d_fade")
        super().__init__(build_generator(mapping, wire_synthesis(frame, w_dim, synthesis, resolution, g_fade)),
                         wire_discriminator(frame, discriminator, resolution, d_fade), codings,
                         mixing_prob=mixing_prob, seed=seed, **kwargs)
        self.frame = frame
        self.w_dim, self.mapping_layers, self.mapping_lr_multiplier = w_dim, mapping_layers, mapping_lr_multiplier
        self.filters = filters
        self.start_resolution = start_resolution
        self.logits = bool(logits)
        self.s_blocks, self.s_to_rgb = synthesis.blocks, synthesis.to_rgb
        self.d_from_rgb, self.d_blocks = discriminator.from_rgb, discriminator.d_blocks
        self.g_fade, self.d_fade = g_fade, d_fade
        self.start_growth(synthesis.stages, resolution)

    def generator_groups(self) -> tuple:
        return [self.mapping], self.s_blocks, self.s_to_rgb

    def discriminator_groups(self) -> tuple:
        return self.d_from_rgb, self.d_blocks

    def wire(self, resolution: int) -> tuple[keras.Model, keras.Model]:
        synthesis = SynthesisBlocks(self.resolutions, list(self.s_blocks), list(self.s_to_rgb))
        discriminator = DiscriminatorBlocks(self.resolutions, list(self.d_from_rgb), list(self.d_blocks))
        return (build_generator(self.mapping, wire_synthesis(self.frame, self.w_dim, synthesis, resolution,
                                                             self.g_fade)),
                wire_discriminator(self.frame, discriminator, resolution, self.d_fade))

    def get_config(self):
        return {**self.growth_config(), "w_dim": self.w_dim, "mapping_layers": self.mapping_layers,
                "mapping_lr_multiplier": self.mapping_lr_multiplier, "mixing_prob": self.mixing_prob}
