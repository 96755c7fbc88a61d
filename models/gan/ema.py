"""Generator EMA: an exponential moving average of a network's weights (Karras et al., StyleGAN2-ADA).

`WeightAverage` is a keras Layer holding one non-trainable shadow variable per weight of the
network it tracks, plus the number of images seen: a model that holds it as an attribute
saves both in its checkpoints, so a resumed run continues the average exactly.

The decay comes from a half-life in images, as stylegan2-ada's `ema_kimg`:
    beta = 0.5 ** (batch / half_life),  half_life = min(half_life_images, rampup * images_seen)
With `rampup` (0.05 in stylegan2-ada) the half-life grows with training, so the average does not
drag the random initial weights along for the first epochs; rampup=None uses the full half-life
from the start. Non-trainable weights (batch-norm statistics, ProGAN's alpha) are copied, not
averaged, as stylegan2-ada copies buffers.

Use:
    self.ema = WeightAverage(half_life_images=10_000, rampup=0.05, name="generator_ema")
    self.ema.track(self.generator)                      # in the model's __init__
    self.ema.update(self.generator, batch_size)         # at the end of train_step (compiled)
    self.ema.copy_to(sampler)  /  with self.ema.swapped_into(self.generator): ...
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Optional, Sequence, Union

import keras
import numpy as np
from keras import ops


Source = Union[keras.Model, Sequence]  # a network, or a fixed list of its variables


def _weights(source: Source) -> list:
    return list(source.weights) if isinstance(source, keras.Model) else list(source)


def _name(source: Source) -> str:
    return source.name if isinstance(source, keras.Model) else f"{len(source)} variables"


@keras.saving.register_keras_serializable(package="latentq")
class WeightAverage(keras.layers.Layer):
    """Shadow weights of one network; `update` moves them towards its current weights."""

    def __init__(self, half_life_images: float = 10_000.0, rampup: Optional[float] = 0.05, **kwargs):
        kwargs["trainable"] = False  # also when from_config passes it back
        super().__init__(**kwargs)
        if isinstance(half_life_images, bool) or not isinstance(half_life_images, (int, float)) \
                or not half_life_images > 0:
            raise ValueError(f"`half_life_images` must be a number > 0. Received: half_life_images={half_life_images!r}")
        if rampup is not None and (isinstance(rampup, bool) or not isinstance(rampup, (int, float)) or not rampup > 0):
            raise ValueError(f"`rampup` must be a number > 0 or None. Received: rampup={rampup!r}")
        self.half_life_images = float(half_life_images)
        self.rampup = None if rampup is None else float(rampup)
        self.shadows: list = []
        self._averaged: list[bool] = []
        self.images_seen = self.add_weight(shape=(), initializer="zeros", dtype="float32", trainable=False,
                                           name="images_seen")

    def get_config(self):
        return {**super().get_config(), "half_life_images": self.half_life_images, "rampup": self.rampup}

    # -- setup --------------------------------------------------------------------------------

    def track(self, network: Source) -> "WeightAverage":
        """Create the shadow variables, initialised to the network's current weights.

        `network`: a keras Model, or a fixed list of variables (ProGAN: the weights of all its
        generator blocks, which stay the same while the wired "generator" model changes)."""
        if self.shadows:
            raise ValueError(f"{self.name} already tracks {len(self.shadows)} weights. Received: another network "
                             f"{_name(network)!r}")
        if isinstance(network, keras.Model):
            trainable = {id(v) for v in network.trainable_weights}
        else:
            trainable = {id(v) for v in network if v.trainable}
        for i, weight in enumerate(_weights(network)):
            self._averaged.append(id(weight) in trainable)
            self.shadows.append(self.add_weight(
                shape=tuple(weight.shape), dtype=weight.dtype, trainable=False, name=f"shadow_{i}",
                initializer=keras.initializers.Constant(ops.convert_to_numpy(weight))))
        self.built = True
        return self

    def _check(self, network: Source) -> list:
        weights = _weights(network)
        if len(weights) != len(self.shadows):
            raise ValueError(f"{self.name} tracks {len(self.shadows)} weights, {_name(network)!r} has {len(weights)}. "
                             f"Received: network={_name(network)!r}")
        return weights

    # -- the average ---------------------------------------------------------------------------

    def decay(self, batch_size):
        """beta for a batch of `batch_size` images, given the images seen so far (a tensor)."""
        half_life = ops.convert_to_tensor(self.half_life_images, "float32")
        if self.rampup is not None:
            half_life = ops.minimum(half_life, self.rampup * ops.convert_to_tensor(self.images_seen))
        batch = ops.cast(batch_size, "float32")
        return ops.where(half_life > 0, ops.power(0.5, batch / ops.maximum(half_life, 1e-8)), 0.0)

    def update(self, network: Source, batch_size) -> None:
        """One step of the average after a generator update on `batch_size` images (graph-safe)."""
        beta = self.decay(batch_size)
        for shadow, weight, averaged in zip(self.shadows, self._check(network), self._averaged):
            current = ops.cast(weight, shadow.dtype)
            if averaged:
                shadow.assign(current + ops.cast(beta, shadow.dtype) * (shadow - current))
            else:
                shadow.assign(current)
        self.images_seen.assign_add(ops.cast(batch_size, "float32"))

    # -- using the averaged weights -------------------------------------------------------------

    def copy_to(self, network: Source) -> Source:
        """Write the averaged weights into `network` (a copy of the tracked one, for sampling/saving)."""
        for weight, shadow in zip(self._check(network), self.shadows):
            weight.assign(shadow)
        return network

    def averaged_copy(self, network: keras.Model) -> keras.Model:
        """A new network of the same architecture holding the averaged weights."""
        return self.copy_to(keras.models.clone_model(network))

    @contextlib.contextmanager
    def swapped_into(self, network: Source) -> Iterator[Source]:
        """The tracked network with the averaged weights inside the block, its own weights after."""
        saved = [np.array(ops.convert_to_numpy(w)) for w in self._check(network)]
        self.copy_to(network)
        try:
            yield network
        finally:
            for weight, value in zip(_weights(network), saved):
                weight.assign(value)


def half_life_from_decay(decay: float, batch_size: int) -> float:
    """The half-life in images equivalent to a per-step decay beta (`--set ema=0.999`)."""
    if not 0 < decay < 1:
        raise ValueError(f"an EMA decay must lie in (0, 1). Received: decay={decay!r}")
    return float(batch_size * np.log(0.5) / np.log(decay))


def recalibrate_batch_norm(network: keras.Model, inputs) -> keras.Model:
    """Re-measure the network's batch-norm statistics on `inputs` (e.g. 1,000 fixed codings).

    An averaged generator carries the raw generator's running statistics, which belong to other
    weights; measured again on its own activations they fit (a lower fcd, bench/ema_probe.py). Call it
    on a copy (`averaged_copy`), not on the trained one."""
    layers = [layer for layer in _walk(network) if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in layers]
    try:
        for layer in layers:
            layer.momentum = 0.0  # moving statistic = this batch's statistic
        network(inputs, training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return network


def _walk(layer) -> Iterator:
    yield layer
    for sub in getattr(layer, "layers", ()):  # nested models (DCGAN's generator inside the GAN)
        yield from _walk(sub)
