"""Progressive growing of GANs (the notes' ProGAN), on latentq's GAN model.

Training starts with 4x4 images (`start_resolution`) and, stage by stage, doubles the
resolution of both networks until it reaches the dataset's image size, padded to a power of
two (28x28 -> 32x32; 8x8 digits: 4 then 8). Every block is built once, in the constructor;
`ProGAN.grow(resolution)` wires the existing blocks into a new "generator" and
"discriminator" for that resolution, as keras-io's StyleGAN example does. While a new stage
grows in, its output is blended with the previous stage's, upsampled (generator) or
downsampled (discriminator) (`FadeIn` layers); the blend weight `alpha` is a non-trainable
variable that the train step moves from 0 to 1 over the first `fade_in` share of the stage.

The two networks, at every stage, keep latentq's GAN contract, so `GAN.train_step` (both
phases in one compiled step), the monitors and `latentq generate` work unchanged:
- "generator" maps (n, codings) noise to (n, *image shape) in [0, 1]: the stage's image
  (tanh) upsampled (nearest) to the padded size, mapped to [0, 1] and cropped back;
- "discriminator" reads (n, *image shape) in [0, 1]: padded with black, mapped to [-1, 1],
  average-pooled down to the stage's resolution. Average pooling undoes nearest upsampling
  exactly, so the discriminator sees real and generated images at the stage's resolution.

The notes' techniques (latentq.models.layers.progressive): equalized learning rate in every dense
and conv layer, pixelwise normalisation after each generator conv, a minibatch standard
deviation layer before the discriminator's last block. The loss is the run's
(latentq.models.gan.losses: the paper's WGAN-GP with the drift term is one choice; a linear
discriminator output for the logit losses), and a generator EMA averages every stage's blocks.

The current resolution is part of the model's config, alpha and the stage's step count are
variables (latentq.models.gan.progressive.growth.Growing, which StyleGAN's growing model shares): a checkpoint
reloads at the stage, and the point of the fade-in, where it was.
"""

from __future__ import annotations

from typing import Optional

import keras

from latentq.models.gan.model import GAN
from latentq.models.gan.progressive.blocks import Blocks, wire_discriminator, wire_generator
from latentq.models.gan.progressive.canvas import Frame
from latentq.models.gan.progressive.growth import Growing, check_start_resolution
from latentq.models.layers import checks
from latentq.models.layers.progressive import FadeIn


@keras.saving.register_keras_serializable(package="latentq")
class ProGAN(Growing, GAN):
    """A GAN whose networks grow: `grow(resolution)` wires the blocks for one stage
    (latentq.models.gan.progressive.growth.Growing: alpha, stage_step, fade_steps, the fade-in in train_step).

    Args:
        image_shape: the dataset's sample shape, (H, W) or (H, W, C).
        codings: size of the generator's Gaussian input.
        filters: filters of the 4x4 and 8x8 blocks, halved with each doubling after that.
        start_resolution: the first stage's resolution (a power of two >= 4).
        resolution: the stage to wire now (default: start_resolution); a saved model's config
            holds the stage it was at.
        seed: seed of the model's noise.
    """

    def __init__(self, image_shape, codings: int, filters: int = 64, start_resolution: int = 4,
                 resolution: Optional[int] = None, seed: Optional[int] = None, logits: bool = False, **kwargs):
        frame = Frame.of(image_shape)
        checks.positive_int("codings", codings)
        checks.positive_int("filters", filters)
        check_start_resolution(start_resolution, frame)
        blocks = Blocks.build(frame, codings, filters, start_resolution, logits=logits)
        resolution = start_resolution if resolution is None else resolution
        self.check_stage(resolution, blocks.resolutions)
        g_fade, d_fade = FadeIn(name="g_fade"), FadeIn(name="d_fade")
        super().__init__(wire_generator(frame, codings, blocks, resolution, g_fade),
                         wire_discriminator(frame, blocks, resolution, d_fade), codings, seed=seed, **kwargs)
        self.frame = frame
        self.logits = bool(logits)
        self.filters = filters
        self.start_resolution = start_resolution
        self.g_blocks, self.g_to_rgb = blocks.g_blocks, blocks.to_rgb
        self.d_from_rgb, self.d_blocks = blocks.from_rgb, blocks.d_blocks
        self.g_fade, self.d_fade = g_fade, d_fade
        self.start_growth(blocks.resolutions, resolution)

    @property
    def blocks(self) -> Blocks:
        return Blocks(self.resolutions, list(self.d_from_rgb), list(self.d_blocks), list(self.g_blocks),
                      list(self.g_to_rgb))

    def generator_groups(self) -> tuple:
        return self.g_blocks, self.g_to_rgb

    def discriminator_groups(self) -> tuple:
        return self.d_from_rgb, self.d_blocks

    def wire(self, resolution: int) -> tuple[keras.Model, keras.Model]:
        blocks = self.blocks
        return (wire_generator(self.frame, self.codings, blocks, resolution, self.g_fade),
                wire_discriminator(self.frame, blocks, resolution, self.d_fade))

    # -- configuration ------------------------------------------------------------------------

    def get_config(self):
        return self.growth_config()
