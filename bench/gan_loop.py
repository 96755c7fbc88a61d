"""The notes' two-call GAN loop against latentq's one compiled train step, side by side.

    python bench/gan_loop.py                  # the notes' dense GAN, mnist-5k, batch 32
    python bench/gan_loop.py --recipe dcgan   # the notes' DCGAN
    python bench/gan_loop.py -e 3 -b 64
    python bench/gan_loop.py --recipe dcgan -e 3 --set filters=32

Both loops train the same networks (the recipe's generator and discriminator, built by
latentq.models.gan.model) on mnist-5k's training split, in this one process:

- notes: the plain Keras script of the notes: a Sequential `gan = [generator, discriminator]`,
  the discriminator compiled, `trainable` toggled, and per batch two `train_on_batch` calls
  (discriminator on fakes + reals, then the stacked GAN on all-"real" labels), over a tf.data
  pipeline (shuffle, batch with drop_remainder, prefetch) as in the notes.
- latentq: the GAN model, `fit()` with its own `train_step` doing both phases in one compiled
  step per batch; once with the recipe's defaults (the dense GAN runs 32 steps per compiled call
  under XLA), once with Keras's defaults (one step per call, XLA on GPUs only).

Each loop first runs one untimed warm-up epoch (tracing), then `--epochs` timed epochs, the
two loops taking turns epoch by epoch (a machine shared with other work slows both alike).
Prints the median and best samples (real training images) per second of each, and the
median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class NotesLoop:
    """The notes' train_gan, in Keras 3, one epoch per call."""

    def __init__(self, generator, discriminator, x, batch_size: int, codings: int):
        import keras
        import tensorflow as tf

        self.generator, self.discriminator = generator, discriminator
        self.gan = keras.Sequential([generator, discriminator])
        discriminator.compile(loss="binary_crossentropy", optimizer="rmsprop")
        discriminator.trainable = False
        self.gan.compile(loss="binary_crossentropy", optimizer="rmsprop")
        # The notes' DCGAN trains on data rescaled to [-1, 1]; latentq's DCGAN does that inside its
        # networks, so the same [0, 1] data suits both here.
        data = tf.data.Dataset.from_tensor_slices(x).shuffle(1000)
        self.data = data.batch(batch_size, drop_remainder=True).prefetch(1)
        self.batch_size, self.codings = batch_size, codings
        self.y1 = tf.constant([[0.0]] * batch_size + [[1.0]] * batch_size)
        self.y2 = tf.constant([[1.0]] * batch_size)
        self.samples = (len(x) // batch_size) * batch_size  # drop_remainder

    def epoch(self) -> None:
        import tensorflow as tf

        generator, discriminator, batch_size = self.generator, self.discriminator, self.batch_size
        for batch in self.data:
            # phase 1: the discriminator on fakes + reals
            noise = tf.random.normal(shape=[batch_size, self.codings])
            generated = generator(noise)
            x_all = tf.concat([generated, batch], axis=0)
            discriminator.trainable = True
            discriminator.train_on_batch(x_all, self.y1)
            # phase 2: the generator through the frozen discriminator
            noise = tf.random.normal(shape=[batch_size, self.codings])
            discriminator.trainable = False
            self.gan.train_on_batch(noise, self.y2)


class CompiledLoop:
    """latentq's GAN model: fit() with its own train_step, one epoch per call."""

    def __init__(self, model, x, batch_size: int):
        self.model, self.x, self.batch_size = model, x, batch_size
        self.samples = len(x)

    def epoch(self) -> None:
        self.model.fit(self.x, epochs=1, batch_size=self.batch_size, shuffle=True, verbose=0)


def timed(loop) -> float:
    start = time.perf_counter()
    loop.epoch()
    return loop.samples / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", choices=["gan", "dcgan"], default="gan")
    parser.add_argument("-d", "--dataset", default="mnist-5k")
    parser.add_argument("-e", "--epochs", type=int, default=5, help="timed epochs of each loop")
    parser.add_argument("-b", "--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="a recipe parameter (e.g. filters=32)")
    args = parser.parse_args()

    import keras

    import latentq.models  # noqa: F401
    from latentq.datasets import load
    from latentq.models.gan import builders as gan_builders
    from latentq.models.gan.model import compile_gan
    from latentq.recipes.gans import DCGANParams, DenseGANParams

    warnings.filterwarnings("ignore")  # Keras warns about the notes' trainable toggling, as it should
    data = load(args.dataset, args.seed)
    x = data.x_train
    from latentq.spec import parse_sets

    params = (DCGANParams if args.recipe == "dcgan" else DenseGANParams)(**parse_sets(args.sets))
    build = gan_builders.build_dcgan if args.recipe == "dcgan" else gan_builders.build_dense_gan

    keras.utils.set_random_seed(args.seed)
    reference = build(params, data.sample_shape, args.seed)
    loops = {"notes: two train_on_batch + trainable toggling":
             NotesLoop(reference.generator, reference.discriminator, x, args.batch_size, params.codings)}
    for label, options in (
        (f"latentq, recipe defaults (steps_per_execution={params.steps_per_execution}, "
         f"jit_compile={params.jit_compile})", {}),
        ("latentq, steps_per_execution=1, jit_compile=auto", {"steps_per_execution": 1, "jit_compile": "auto"}),
    ):
        variant = params.model_copy(update=options)
        if options and variant == params:
            continue  # the recipe's defaults are these already
        keras.utils.set_random_seed(args.seed)
        loops[label] = CompiledLoop(compile_gan(build(variant, data.sample_shape, args.seed), variant), x,
                                    args.batch_size)
    for loop in loops.values():
        loop.epoch()  # warm-up: tracing (and XLA compilation)
    rates: dict[str, list[float]] = {label: [] for label in loops}
    for _ in range(args.epochs):  # interleaved, so a busy machine slows every loop alike
        for label, loop in loops.items():
            rates[label].append(timed(loop))

    print(f"# {args.recipe} on {data.name}: {len(x)} training images, batch {args.batch_size}, "
          f"{args.epochs} timed epochs of each (interleaved) after 1 warm-up, keras {keras.__version__} "
          f"({keras.backend.backend()}), {os.cpu_count()} cpus")
    print(f"{'loop':66s} {'median samples/s':>16s} {'best':>7s} {'speed-up':>8s}")
    notes = rates[next(iter(loops))]
    for label, values in rates.items():
        ratio = statistics.median(v / n for v, n in zip(values, notes))
        print(f"{label:66s} {statistics.median(values):16.0f} {max(values):7.0f} {ratio:7.1f}x")
    print("# speed-up: median over rounds of (this loop's samples/s) / (the notes loop's, same round)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
