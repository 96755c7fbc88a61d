"""DataNeeds: what a recipe needs of its dataset, declared beside its parameters.

latentq.data_checks compares a dataset against these before a run exists (CLI) and again when
the job starts (worker); the Keras code can then assume them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Optional


@dataclass(frozen=True)
class SideRule:
    """The smallest longer image side the recipe's parameters allow, and which values of those
    parameters would fit a smaller image (None: no value fits)."""

    param: str  # the parameter that sets the size needed
    minimum: Callable[[Any], int]  # params -> pixels
    fits: Callable[[int], Optional[str]]  # longer side -> the values that fit ("stages <= 3"), or None
    why: str  # what needs the size, for the message


@dataclass(frozen=True)
class DataNeeds:
    images: bool = True  # samples (H, W) or (H, W, C); False: vectors (D,) and sequences too
    unit_range: bool = True  # values in [0, 1] (sigmoid outputs, binary cross-entropy)
    labels: bool = False  # integer class labels, at least 2 classes
    min_train: Optional[Callable[[Any], int]] = None  # params -> training samples needed (default 1)
    side: Optional[SideRule] = None
    below_features: Optional[str] = None  # a parameter that must stay below the values per sample

    def min_train_samples(self, params: Any) -> int:
        return max(1, self.min_train(params)) if self.min_train else 1


IMAGES = DataNeeds()
ANY_SHAPE = DataNeeds(images=False, unit_range=False)


def halvings(param: str, why: str) -> SideRule:
    """`param` stages that each halve the image: the longer side must be at least 2**stages."""
    def fits(side: int) -> Optional[str]:
        return f"{param} <= {int(math.log2(side))}" if side >= 2 else None  # never "<= 0"

    return SideRule(param, minimum=lambda p: 2 ** getattr(p, param), fits=fits, why=why)


def canvas_at_least(param: str, why: str, when: Optional[str] = None) -> SideRule:
    """A first stage of `param` pixels: the image, padded to a power of two (at least 4), must
    be at least that large; with `when` (a boolean parameter) only while that one is true."""
    def canvas(side: int) -> int:
        return max(4, 2 ** math.ceil(math.log2(max(1, side))))

    def fits(side: int) -> Optional[str]:
        return ", ".join(str(2 ** k) for k in range(2, int(math.log2(canvas(side))) + 1))

    def minimum(p) -> int:
        if when is not None and not getattr(p, when):
            return 1
        # The canvas of a side s reaches r (a power of two >= 4) once s > r / 2.
        return 1 if getattr(p, param) <= 4 else getattr(p, param) // 2 + 1

    return SideRule(param, minimum=minimum, fits=fits, why=why)
