"""StyleGAN sampling in w space: the tracked average w, the truncation trick, interpolation.

- `WAverage`: a keras Layer with one non-trainable variable, the running average of the
  mapping network's w (stylegan2's `w_avg`, updated every generator step as
  w_avg <- mean(w) + beta * (w_avg - mean(w)), beta = 0.995). Held by the StyleGAN model, it
  is saved in its checkpoints.
- `truncate(w, w_avg, psi, ...)`: w_avg + psi (w - w_avg) (Karras et al. 2019, section 4.1);
  psi = 1 leaves w as it is, psi = 0 gives every sample the average image; `layers` limits
  it to the first (coarse) layers, as the paper's cutoff.
- `interpolate_w(mapping, z0, z1, steps)`: w linearly between mapping(z0) and mapping(z1)
  (interpolating in w, not z, is what the paper's perceptual-path-length argument is about).
- `style_mixing_grid(model, a, b)`: the style-mixing picture (coarse styles of sources A with
  the fine styles of sources B), drawn after training and by `latentq generate --style-mix`.

Everything is `keras.ops`, usable in a compiled `train_step` or in a generation job.
"""

from __future__ import annotations

from typing import Optional

import keras
import numpy as np
from keras import ops

MIXING_ROWS, MIXING_COLS = 5, 6  # sources A (rows) and B (columns) of the style-mixing picture
W_AVG_BETA = 0.995  # stylegan2's w_avg_beta: a ~200-step memory


@keras.saving.register_keras_serializable(package="latentq")
class WAverage(keras.layers.Layer):
    """The running average of w; `update(w)` once per generator step (graph-safe)."""

    def __init__(self, w_dim: int, beta: float = W_AVG_BETA, **kwargs):
        kwargs["trainable"] = False  # also when from_config passes it back
        super().__init__(**kwargs)
        if isinstance(w_dim, bool) or not isinstance(w_dim, int) or w_dim < 1:
            raise ValueError(f"`w_dim` must be a positive integer. Received: w_dim={w_dim!r}")
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0 <= beta < 1:
            raise ValueError(f"`beta` must be a number in [0, 1). Received: beta={beta!r}")
        self.w_dim = w_dim
        self.beta = float(beta)
        self.w_avg = self.add_weight(shape=(w_dim,), initializer="zeros", trainable=False, name="w_avg")
        self.built = True

    def get_config(self):
        return {**super().get_config(), "w_dim": self.w_dim, "beta": self.beta}

    def update(self, w) -> None:
        batch_mean = ops.mean(ops.cast(w, self.w_avg.dtype), axis=0)
        self.w_avg.assign(batch_mean + self.beta * (self.w_avg - batch_mean))

    def call(self, w, psi=1.0):
        """Truncated w (the layer form of `truncate`)."""
        return truncate(w, self.w_avg, psi)


def truncate(w, w_avg, psi: float):
    """w_avg + psi (w - w_avg), row by row."""
    w_avg = ops.cast(w_avg, w.dtype) if hasattr(w, "dtype") else w_avg
    return w_avg + psi * (w - w_avg)


def truncated_styles(w, w_avg, psi: float, count: int, layers: Optional[int] = None) -> list:
    """One w per synthesis layer: truncated on the first `layers` layers (all if None), plain after."""
    if not 0 <= psi <= 1.5:
        raise ValueError(f"the truncation psi must lie in [0, 1.5]. Received: psi={psi!r}")
    layers = count if layers is None else layers
    if isinstance(layers, bool) or not isinstance(layers, int) or not 0 <= layers <= count:
        raise ValueError(f"`layers` must be an integer in [0, {count}]. Received: layers={layers!r}")
    truncated = truncate(w, w_avg, psi)
    return [truncated] * layers + [w] * (count - layers)


def interpolate_w(mapping: keras.Model, z0: np.ndarray, z1: np.ndarray, steps: int) -> np.ndarray:
    """(steps, w_dim): w from mapping(z0) to mapping(z1) in equal steps, both ends included."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"`steps` must be an integer >= 2. Received: steps={steps!r}")
    ends = ops.convert_to_numpy(mapping(np.stack([np.asarray(z0, np.float32), np.asarray(z1, np.float32)]),
                                        training=False))
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return ends[0] + t * (ends[1] - ends[0])


def style_mixing_grid(model: keras.Model, a: np.ndarray, b: np.ndarray, crossover: Optional[int] = None) -> np.ndarray:
    """(len(a) + 1) x (len(b) + 1) images, row by row: a blank, then the B sources; each next row
    an A source, then A's coarse styles (layers < crossover, default half) with each B's fine
    ones: a row shares its coarse shape, a column its fine detail (the paper's figure 3)."""
    generator = model.get_layer("generator")
    mapping, synthesis = generator.get_layer("mapping"), generator.get_layer("synthesis")
    count = len(synthesis.inputs)
    crossover = count // 2 if crossover is None else crossover

    def images(styles):
        return np.clip(ops.convert_to_numpy(synthesis(styles, training=False)), 0.0, 1.0)

    wa, wb = mapping(a, training=False), mapping(b, training=False)
    rows = [np.concatenate([np.ones((1, *model.image_shape), "float32"), images([wb] * count)])]
    for i in range(len(a)):
        coarse = ops.repeat(wa[i:i + 1], len(b), axis=0)
        cells = images([coarse] * crossover + [wb] * (count - crossover))
        rows.append(np.concatenate([images([wa[i:i + 1]] * count), cells]))
    return np.concatenate(rows)
