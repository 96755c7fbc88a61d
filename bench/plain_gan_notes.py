"""The notes' GAN training loop as a plain Keras 3 script: the baseline latentq's GANs are compared to.

    python bench/plain_gan_notes.py EPOCHS BATCH_SIZE [--dcgan --filters 32]

The notes' `train_gan`: a Sequential `gan = [generator, discriminator]`, the discriminator
compiled, `trainable` toggled, and per batch two `train_on_batch` calls (the discriminator on
fakes + reals, then the stacked GAN on all-"real" labels) over a tf.data pipeline. The networks
are the ones `latentq run gan` / `dcgan --set filters=F` build on 28x28 images (codings 30,
rmsprop). Prints JSON: loop seconds (the whole loop, first epoch included) and samples/s."""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from latentq import datasets  # noqa: E402  (numpy only: the same split as the job)

parser = argparse.ArgumentParser()
parser.add_argument("epochs", type=int)
parser.add_argument("batch_size", type=int)
parser.add_argument("--dcgan", action="store_true")
parser.add_argument("--filters", type=int, default=64)
args = parser.parse_args()
codings, batch_size = 30, args.batch_size

keras.utils.set_random_seed(0)
x = datasets.load("mnist-5k", seed=0).x_train
if args.dcgan:  # the notes' DCGAN, data in [-1, 1]
    f = args.filters
    generator = keras.Sequential([
        keras.Input((codings,)), keras.layers.Dense(7 * 7 * 2 * f), keras.layers.Reshape((7, 7, 2 * f)),
        keras.layers.BatchNormalization(),
        keras.layers.Conv2DTranspose(f, 5, strides=2, padding="same", activation="selu"),
        keras.layers.BatchNormalization(),
        keras.layers.Conv2DTranspose(1, 5, strides=2, padding="same", activation="tanh")])
    discriminator = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(f, 5, strides=2, padding="same"), keras.layers.LeakyReLU(0.2), keras.layers.Dropout(0.4),
        keras.layers.Conv2D(2 * f, 5, strides=2, padding="same"), keras.layers.LeakyReLU(0.2),
        keras.layers.Dropout(0.4), keras.layers.Flatten(), keras.layers.Dense(1, activation="sigmoid")])
    x = x.reshape(-1, 28, 28, 1) * 2.0 - 1.0
else:  # the notes' dense GAN
    generator = keras.Sequential([keras.Input((codings,)), keras.layers.Dense(100, activation="selu"),
                                  keras.layers.Dense(150, activation="selu"),
                                  keras.layers.Dense(28 * 28, activation="sigmoid"), keras.layers.Reshape((28, 28))])
    discriminator = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                                      keras.layers.Dense(150, activation="selu"),
                                      keras.layers.Dense(100, activation="selu"),
                                      keras.layers.Dense(1, activation="sigmoid")])
gan = keras.Sequential([generator, discriminator])
discriminator.compile(loss="binary_crossentropy", optimizer="rmsprop")
discriminator.trainable = False
gan.compile(loss="binary_crossentropy", optimizer="rmsprop")
dataset = tf.data.Dataset.from_tensor_slices(x.astype("float32")).shuffle(1000)
dataset = dataset.batch(batch_size, drop_remainder=True).prefetch(1)

start = time.perf_counter()
for epoch in range(args.epochs):
    for X_batch in dataset:
        # phase 1 - training the discriminator
        noise = tf.random.normal(shape=[batch_size, codings])
        generated_images = generator(noise)
        X_fake_and_real = tf.concat([generated_images, X_batch], axis=0)
        y1 = tf.constant([[0.]] * batch_size + [[1.]] * batch_size)
        discriminator.trainable = True
        discriminator.train_on_batch(X_fake_and_real, y1)
        # phase 2 - training the generator
        noise = tf.random.normal(shape=[batch_size, codings])
        y2 = tf.constant([[1.]] * batch_size)
        discriminator.trainable = False
        gan.train_on_batch(noise, y2)
seconds = time.perf_counter() - start
samples = (len(x) // batch_size) * batch_size * args.epochs
print(json.dumps({"loop_seconds": seconds, "samples_per_second": samples / seconds}))
