"""Layers of the notes' GAN remedies: minibatch discrimination and the experience-replay buffer.

Both are registered as `latentq>Name`, check their arguments, and use `keras.ops` /
`keras.random` only, so they travel with a saved model and load in a fresh process.
"""

from __future__ import annotations

import keras
from keras import ops

from latentq.models.layers import checks


@keras.saving.register_keras_serializable(package="latentq")
class MinibatchDiscrimination(keras.layers.Layer):
    """Minibatch discrimination (Salimans et al., 2016), the notes' second remedy for mode collapse.

    Each sample's features x (batch, features) are projected by a learned tensor into
    `num_kernels` rows of `kernel_dim` values M_i. For every kernel k, the closeness of sample
    i to sample j is exp(-||M_i,k - M_j,k||_1); the layer appends, per kernel, the mean
    closeness of each sample to the *other* samples of its batch. A batch of near-identical
    fakes scores close to 1, a diverse batch close to 0, so the discriminator can reject a
    whole batch that lacks variety. Output: (batch, features + num_kernels). A batch of one
    sample has no others and gets 0.
    """

    def __init__(self, num_kernels: int = 16, kernel_dim: int = 8, kernel_initializer="random_normal", **kwargs):
        super().__init__(**kwargs)
        self.num_kernels = checks.positive_int("num_kernels", num_kernels)
        self.kernel_dim = checks.positive_int("kernel_dim", kernel_dim)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(
                "MinibatchDiscrimination expects inputs of shape (batch, features) with a known feature "
                f"size (put it after Flatten). Received: input_shape={tuple(input_shape)}"
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(int(input_shape[-1]), self.num_kernels * self.kernel_dim),
            initializer=self.kernel_initializer,
        )

    def call(self, inputs):
        m = ops.reshape(ops.matmul(inputs, self.kernel), (-1, self.num_kernels, self.kernel_dim))
        l1 = ops.sum(ops.abs(ops.expand_dims(m, 1) - ops.expand_dims(m, 0)), axis=-1)  # (B, B, K)
        closeness = ops.sum(ops.exp(-l1), axis=1) - 1.0  # drop each sample's closeness to itself
        others = ops.maximum(ops.cast(ops.shape(inputs)[0], inputs.dtype) - 1.0, 1.0)
        return ops.concatenate([inputs, closeness / others], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1] + self.num_kernels)

    def get_config(self):
        return {
            **super().get_config(),
            "num_kernels": self.num_kernels,
            "kernel_dim": self.kernel_dim,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }


@keras.saving.register_keras_serializable(package="latentq")
class ReplayBuffer(keras.layers.Layer):
    """Experience replay, the notes' first remedy: a ring buffer of past generated images.

    State (non-trainable, saved with the model, so a resumed run keeps its buffer): `images`
    (capacity, *image_shape), `position` (next slot to write) and `filled` (slots holding an
    image). Called with training=True on a batch of fresh fakes, it returns that batch with its
    first round(fraction * batch) rows replaced by images drawn uniformly from the filled slots
    (no replacement while the buffer is empty), then writes the fresh fakes into the ring, the
    oldest first out. With training=False it returns its input unchanged.
    """

    def __init__(self, capacity: int, image_shape, fraction: float = 0.5, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.capacity = checks.positive_int("capacity", capacity)
        shape = tuple(image_shape) if isinstance(image_shape, (list, tuple)) else None
        if not shape or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape):
            raise ValueError("`image_shape` must be a tuple of positive integers. "
                             f"Received: image_shape={image_shape!r}")
        self.image_shape = shape
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 <= fraction <= 1.0:
            raise ValueError(f"`fraction` must be a number in [0, 1]. Received: fraction={fraction!r}")
        self.fraction = float(fraction)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.build()

    def build(self, input_shape=None):
        if self.built:
            return
        self.images = self.add_weight(name="images", shape=(self.capacity, *self.image_shape),
                                      initializer="zeros", trainable=False, autocast=False)
        self.position = self.add_weight(name="position", shape=(), dtype="int32", initializer="zeros",
                                        trainable=False)
        self.filled = self.add_weight(name="filled", shape=(), dtype="int32", initializer="zeros",
                                      trainable=False)
        self.built = True

    def sample(self, n):
        """n images drawn uniformly (with replacement) from the filled slots; zeros while empty."""
        slots = ops.maximum(self.filled, 1)
        u = keras.random.uniform((n,), seed=self.seed_generator)
        index = ops.minimum(ops.cast(u * ops.cast(slots, "float32"), "int32"), slots - 1)
        return ops.take(self.images, index, axis=0)

    def mix(self, fakes):
        """`fakes` with its first round(fraction * n) rows taken from the buffer, if it holds any."""
        n = ops.shape(fakes)[0]
        replaced = ops.cast(ops.round(self.fraction * ops.cast(n, "float32")), "int32")
        use = ops.logical_and(ops.arange(n) < replaced, self.filled > 0)
        use = ops.reshape(use, (-1,) + (1,) * len(self.image_shape))
        return ops.where(use, ops.cast(self.sample(n), fakes.dtype), fakes)

    def store(self, fakes):
        """Write a batch into the ring (only its last `capacity` images if it is larger)."""
        recent = ops.cast(fakes[-self.capacity:], self.images.dtype)
        m = ops.shape(recent)[0]
        slots = ops.mod(self.position + ops.arange(m, dtype="int32"), self.capacity)
        self.images.assign(ops.scatter_update(self.images, ops.expand_dims(slots, -1), recent))
        self.position.assign(ops.mod(self.position + m, self.capacity))
        self.filled.assign(ops.minimum(self.filled + m, self.capacity))

    def call(self, fakes, training=None):
        if not training:
            return fakes
        mixed = self.mix(fakes)
        self.store(fakes)
        return mixed

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "capacity": self.capacity,
            "image_shape": list(self.image_shape),
            "fraction": self.fraction,
            "seed": self.seed,
        }

