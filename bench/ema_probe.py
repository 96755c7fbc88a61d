"""Does a generator EMA help a DCGAN? One training run, raw and averaged generators scored side by side.

Trains `dcgan` (its default parameters) with plain keras `fit` and, after every batch, updates
several generator averages (latentq.models.gan.ema.WeightAverage, different half-lives / ramp-ups)
from a callback; after each epoch scores the raw generator and each average (also with its batch-norm statistics re-measured) on the same 1,000
fixed-noise samples with the offline metrics (fcd, class_coverage, precision, recall).

    python bench/ema_probe.py                       # mnist-5k, 3 epochs, batch 32, seed 0
    python bench/ema_probe.py -e 8 --seeds 0 1 2

Its figures are in bench/RESULTS.md (the generator EMA probe).

A probe for choosing the EMA default, not the wired-in feature (there the update
runs inside the compiled train_step; here it runs eagerly per batch, which only costs time).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

VARIANTS = {  # name: (half_life_images, rampup)
    "ema hl=10k ramp=0.05": (10_000.0, 0.05),
    "ema hl=1k": (1_000.0, None),
}
SHOWN = ("fcd", "class_coverage", "precision", "recall")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-d", "--dataset", default="mnist-5k")
    parser.add_argument("-e", "--epochs", type=int, default=3)
    parser.add_argument("-b", "--batch-size", type=int, default=32)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()

    import keras
    import numpy as np

    from latentq import datasets
    from latentq.models import samples
    from latentq.models.gan import model as gan
    from latentq.models.gan import builders as gan_builders
    from latentq.models.evaluation import quality
    from latentq.models.gan.ema import WeightAverage
    from latentq.recipes.catalog import get_recipe

    cache = Path(tempfile.mkdtemp(prefix="latentq-ema-probe-"))
    data = datasets.load(args.dataset, 0)
    results = []
    for seed in args.seeds:
        keras.utils.set_random_seed(seed)
        params = get_recipe("dcgan").params()
        model = gan.compile_gan(gan_builders.build_dcgan(params, data.sample_shape, seed), params)
        generator = model.get_layer("generator")
        averages = {name: WeightAverage(hl, rampup=ramp).track(generator) for name, (hl, ramp) in VARIANTS.items()}
        noise = samples.fixed_noise(seed, args.samples, params.codings, stream=1)

        def recalibrated(net):
            """The network with its batch-norm statistics measured on its own (averaged) weights:
            the running statistics copied from the raw generator do not fit averaged weights."""
            for layer in net.layers:
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.momentum = 0.0
            net(noise, training=True)
            return net

        def score(net) -> dict:
            images = np.clip(np.asarray(net.predict(noise, batch_size=256, verbose=0)), 0, 1)
            return quality.evaluate_samples(args.dataset, images, cache, seed=seed)

        class Update(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                for ema in averages.values():
                    ema.update(generator, args.batch_size)

            def on_epoch_end(self, epoch, logs=None):
                row = {"seed": seed, "epoch": epoch + 1, "raw": score(generator)}
                copy = keras.models.clone_model(generator)
                copy.set_weights(generator.get_weights())
                row["raw, bn recalibrated"] = score(recalibrated(copy))
                for name, ema in averages.items():
                    row[name] = score(ema.averaged_copy(generator))
                    row[name + ", bn recalibrated"] = score(recalibrated(ema.averaged_copy(generator)))
                results.append(row)
                print(f"seed {seed} epoch {epoch + 1}")
                for name in [k for k in row if k not in ("seed", "epoch")]:
                    print(f"  {name:24s}" + "".join(f"  {k}={row[name][k]:.3f}" for k in SHOWN))

        start = time.perf_counter()
        model.fit(data.x_train, batch_size=args.batch_size, epochs=args.epochs, verbose=0, shuffle=True,
                  callbacks=[Update()])
        print(f"seed {seed}: {time.perf_counter() - start:.0f} s (training + scoring)")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
