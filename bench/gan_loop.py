"""The notes' two-call GAN loop against latentq's one compiled train step, side by side.

    python bench/gan_loop.py                  # the notes' dense GAN, mnist-5k, batch 32
    python bench/gan_loop.py --recipe dcgan   # the notes' DCGAN
    python bench/gan_loop.py -e 3 -b 64

Both loops train the same networks (the recipe's generator and discriminator, built by
latentq.models.gans) on mnist-5k's training split, in this one process:

- notes: the plain Keras script of the notes: a Sequential `gan = [generator, discriminator]`,
  the discriminator compiled, `trainable` toggled, and per batch two `train_on_batch` calls
  (discriminator on fakes + reals, then the stacked GAN on all-"real" labels), over a tf.data
  pipeline (shuffle, batch with drop_remainder, prefetch) as in the notes.
- compiled: latentq's GAN model, `fit()` with its own `train_step` doing both phases in one
  compiled function per batch.

Each loop first runs one untimed warm-up epoch (tracing), then `--epochs` timed epochs.
Prints samples (real training images) per second of each, and the ratio.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def notes_loop(generator, discriminator, x, batch_size: int, codings: int, epochs: int) -> float:
    """The notes' train_gan, in Keras 3: returns seconds for `epochs` epochs."""
    import keras
    import tensorflow as tf

    gan = keras.Sequential([generator, discriminator])
    discriminator.compile(loss="binary_crossentropy", optimizer="rmsprop")
    discriminator.trainable = False
    gan.compile(loss="binary_crossentropy", optimizer="rmsprop")
    # The DCGAN of the notes trains on data rescaled to [-1, 1]; latentq's DCGAN does that inside
    # its networks, so the same [0, 1] data suits both here.
    data = tf.data.Dataset.from_tensor_slices(x).shuffle(1000)
    data = data.batch(batch_size, drop_remainder=True).prefetch(1)
    y1 = tf.constant([[0.0]] * batch_size + [[1.0]] * batch_size)
    y2 = tf.constant([[1.0]] * batch_size)

    def epoch() -> None:
        for batch in data:
            # phase 1: the discriminator on fakes + reals
            noise = tf.random.normal(shape=[batch_size, codings])
            generated = generator(noise)
            x_all = tf.concat([generated, batch], axis=0)
            discriminator.trainable = True
            discriminator.train_on_batch(x_all, y1)
            # phase 2: the generator through the frozen discriminator
            noise = tf.random.normal(shape=[batch_size, codings])
            discriminator.trainable = False
            gan.train_on_batch(noise, y2)

    epoch()  # warm-up: traces both train functions
    start = time.perf_counter()
    for _ in range(epochs):
        epoch()
    return time.perf_counter() - start


def compiled_loop(model, x, batch_size: int, epochs: int) -> float:
    model.fit(x, epochs=1, batch_size=batch_size, shuffle=True, verbose=0)  # warm-up
    start = time.perf_counter()
    model.fit(x, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", choices=["gan", "dcgan"], default="gan")
    parser.add_argument("-d", "--dataset", default="mnist-5k")
    parser.add_argument("-e", "--epochs", type=int, default=2, help="timed epochs of each loop")
    parser.add_argument("-b", "--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import keras

    import latentq.models  # noqa: F401
    from latentq.datasets import load
    from latentq.models import gans
    from latentq.recipes.gans import DCGANParams, DenseGANParams

    warnings.filterwarnings("ignore")  # Keras warns about the notes' trainable toggling, as it should
    data = load(args.dataset, args.seed)
    x = data.x_train
    params = DCGANParams(optimizer="rmsprop", g_learning_rate=1e-3, d_learning_rate=1e-3) if args.recipe == "dcgan" \
        else DenseGANParams()
    build = gans.build_dcgan if args.recipe == "dcgan" else gans.build_dense_gan

    keras.utils.set_random_seed(args.seed)
    reference = build(params, data.sample_shape, args.seed)
    notes_seconds = notes_loop(reference.generator, reference.discriminator, x, args.batch_size, params.codings,
                               args.epochs)
    steps = (len(x) // args.batch_size) * args.epochs  # drop_remainder in the notes' pipeline
    notes_rate = steps * args.batch_size / notes_seconds

    keras.utils.set_random_seed(args.seed)
    model = gans.compile_gan(build(params, data.sample_shape, args.seed), params)
    compiled_seconds = compiled_loop(model, x, args.batch_size, args.epochs)
    compiled_rate = len(x) * args.epochs / compiled_seconds

    print(f"# {args.recipe} on {data.name}: {len(x)} training images, batch {args.batch_size}, "
          f"{args.epochs} timed epochs after 1 warm-up, keras {keras.__version__} "
          f"({keras.backend.backend()}), {os.cpu_count()} cpus")
    print(f"{'loop':44s} {'seconds':>8s} {'samples/s':>10s}")
    print(f"{'notes: two train_on_batch + trainable toggling':44s} {notes_seconds:8.2f} {notes_rate:10.0f}")
    print(f"{'latentq: one compiled train_step per batch':44s} {compiled_seconds:8.2f} {compiled_rate:10.0f}")
    print(f"speed-up: {compiled_rate / notes_rate:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
