"""A plain Keras 3 DCGAN in the keras-io style (a keras.Model subclass whose `train_step` runs
both phases, trained with `fit`): the baseline for latentq's dcgan recipe.

    python bench/plain_dcgan_keras.py EPOCHS BATCH_SIZE FILTERS

The networks are the ones `latentq run dcgan --set filters=F` builds on 28x28 images (codings 30,
rmsprop, data in [-1, 1]), called with training=True as the notes' train_on_batch calls them
(the keras-io example's networks have no dropout or batch norm, so it omits the flag; left out
here, dropout would be off and batch norm would use its initial moving statistics).
Prints JSON: fit seconds (first epoch included) and samples/s."""

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from latentq import datasets  # noqa: E402

epochs, batch_size, f = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
codings = 30
keras.utils.set_random_seed(0)
x = datasets.load("mnist-5k", seed=0).x_train.reshape(-1, 28, 28, 1).astype("float32") * 2.0 - 1.0

generator = keras.Sequential([
    keras.Input((codings,)), keras.layers.Dense(7 * 7 * 2 * f), keras.layers.Reshape((7, 7, 2 * f)),
    keras.layers.BatchNormalization(),
    keras.layers.Conv2DTranspose(f, 5, strides=2, padding="same", activation="selu"),
    keras.layers.BatchNormalization(),
    keras.layers.Conv2DTranspose(1, 5, strides=2, padding="same", activation="tanh")])
discriminator = keras.Sequential([
    keras.Input((28, 28, 1)),
    keras.layers.Conv2D(f, 5, strides=2, padding="same"), keras.layers.LeakyReLU(0.2), keras.layers.Dropout(0.4),
    keras.layers.Conv2D(2 * f, 5, strides=2, padding="same"), keras.layers.LeakyReLU(0.2), keras.layers.Dropout(0.4),
    keras.layers.Flatten(), keras.layers.Dense(1, activation="sigmoid")])


class GAN(keras.Model):
    def __init__(self, discriminator, generator, latent_dim):
        super().__init__()
        self.discriminator, self.generator, self.latent_dim = discriminator, generator, latent_dim
        self.seed_generator = keras.random.SeedGenerator(1337)

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer, self.g_optimizer, self.loss_fn = d_optimizer, g_optimizer, loss_fn
        self.d_loss_metric = keras.metrics.Mean(name="d_loss")
        self.g_loss_metric = keras.metrics.Mean(name="g_loss")

    @property
    def metrics(self):
        return [self.d_loss_metric, self.g_loss_metric]

    def train_step(self, real_images):
        n = tf.shape(real_images)[0]
        noise = keras.random.normal((n, self.latent_dim), seed=self.seed_generator)
        generated = self.generator(noise, training=True)
        combined = tf.concat([generated, real_images], axis=0)
        labels = tf.concat([tf.zeros((n, 1)), tf.ones((n, 1))], axis=0)
        with tf.GradientTape() as tape:
            d_loss = self.loss_fn(labels, self.discriminator(combined, training=True))
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
        noise = keras.random.normal((n, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            g_loss = self.loss_fn(tf.ones((n, 1)), self.discriminator(self.generator(noise, training=True),
                                                                      training=True))
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        self.d_loss_metric.update_state(d_loss)
        self.g_loss_metric.update_state(g_loss)
        return {"d_loss": self.d_loss_metric.result(), "g_loss": self.g_loss_metric.result()}


gan = GAN(discriminator, generator, codings)
gan.compile(keras.optimizers.RMSprop(), keras.optimizers.RMSprop(), keras.losses.BinaryCrossentropy())
start = time.perf_counter()
gan.fit(x, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)
seconds = time.perf_counter() - start
print(json.dumps({"fit_seconds": seconds, "samples_per_second": len(x) * epochs / seconds}))
