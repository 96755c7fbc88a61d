"""Image sizes of the progressive GANs: the square power-of-two canvas and its stages."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import keras


def canvas_size(height: int, width: int) -> int:
    """The power of two (at least 4) the networks work at: the image is padded up to it."""
    return max(4, 2 ** math.ceil(math.log2(max(height, width))))


def stage_resolutions(start: int, size: int) -> list[int]:
    """start, 2 * start, ..., size (both powers of two)."""
    if start < 4 or start & (start - 1) or size & (size - 1):
        raise ValueError(f"resolutions must be powers of two >= 4. Received: start={start}, size={size}")
    if start > size:
        raise ValueError(f"the first stage cannot be larger than the images. Received: start={start}, size={size}")
    return [2**k for k in range(int(math.log2(start)), int(math.log2(size)) + 1)]


def stage_filters(filters: int, resolution: int) -> int:
    """Filters of the blocks at `resolution`: `filters` up to 8x8, halved with each doubling
    after that, never below min(8, filters)."""
    return max(min(8, filters), filters // max(1, resolution // 8))


@dataclass(frozen=True)
class Frame:
    """Where the dataset's images sit in the networks' square power-of-two canvas."""

    shape: tuple[int, ...]  # the dataset's sample shape: (H, W) or (H, W, C)
    size: int

    @classmethod
    def of(cls, shape: Sequence[int]) -> "Frame":
        shape = tuple(int(d) for d in shape)
        if len(shape) not in (2, 3) or min(shape) < 1:
            raise ValueError(f"images must have shape (height, width) or (height, width, channels). "
                             f"Received: image_shape={shape}")
        return cls(shape, canvas_size(shape[0], shape[1]))

    @property
    def channels(self) -> int:
        return self.shape[2] if len(self.shape) == 3 else 1

    def _margins(self) -> tuple[tuple[int, int], tuple[int, int]]:
        dh, dw = self.size - self.shape[0], self.size - self.shape[1]
        return (dh // 2, dh - dh // 2), (dw // 2, dw - dw // 2)

    def to_canvas(self, images):
        """Images in [0, 1] -> (size, size, channels) in [-1, 1], padded with black."""
        x = keras.layers.Reshape((self.shape[0], self.shape[1], self.channels))(images)
        margins = self._margins()
        if any(sum(m) for m in margins):
            x = keras.layers.ZeroPadding2D(margins)(x)
        return keras.layers.Rescaling(2.0, offset=-1.0, name="to_tanh_range")(x)

    def to_images(self, canvas):
        """(size, size, channels) in [-1, 1] -> images of the dataset's shape in [0, 1]."""
        x = keras.layers.Rescaling(0.5, offset=0.5, name="to_unit_range")(canvas)
        margins = self._margins()
        if any(sum(m) for m in margins):
            x = keras.layers.Cropping2D(margins)(x)
        return keras.layers.Reshape(self.shape)(x)
