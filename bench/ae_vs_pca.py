"""Does stacked-ae's 30-d coding reconstruct better than scikit-learn's 30-component PCA?

    python bench/ae_vs_pca.py                      # mnist-5k, 100 epochs, report every 10
    python bench/ae_vs_pca.py --epochs 200 --every 25 --codings 30

Same split as the recipes (latentq.datasets.load, seed 0), the recipe's own model
(`build_stacked_ae`: Flatten, Dense(hidden, selu), Dense(codings, selu), mirrored decoder,
sigmoid output, BCE, Adam 1e-3, batch 32). Prints the validation MSE of the AE after every
`--every` epochs and of PCA with the same number of components fitted on the training set.
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-d", "--dataset", default="mnist-5k")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--codings", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import keras
    from sklearn.decomposition import PCA

    from latentq import datasets
    from latentq.models import codings
    from latentq.models.autoencoders import builders as ae_builders

    data = datasets.load(args.dataset, args.seed)
    flat_train = data.x_train.reshape(len(data.x_train), -1)
    flat_val = data.x_val.reshape(len(data.x_val), -1)
    pca = PCA(n_components=args.codings, random_state=args.seed).fit(flat_train)
    pca_mse = float(np.mean((pca.inverse_transform(pca.transform(flat_val)) - flat_val) ** 2))
    print(f"# {args.dataset}: {len(flat_train)} train / {len(flat_val)} validation, "
          f"baseline (mean image) val MSE {codings.baseline_mse(data):.5f}")
    print(f"pca      components={args.codings}  val_mse={pca_mse:.5f}  "
          f"(explained variance {pca.explained_variance_ratio_.sum():.3f})")

    keras.utils.set_random_seed(args.seed)
    model = ae_builders.build_stacked_ae(SimpleNamespace(hidden=args.hidden, codings=args.codings), data.sample_shape)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate), loss="binary_crossentropy",
                  metrics=[keras.metrics.MeanSquaredError(name="mse")])
    start, done, best = time.perf_counter(), 0, None
    while done < args.epochs:
        step = min(args.every, args.epochs - done)
        model.fit(data.x_train, data.x_train, epochs=done + step, initial_epoch=done, batch_size=args.batch_size,
                  shuffle=True, verbose=0)
        done += step
        val_mse = model.evaluate(data.x_val, data.x_val, batch_size=256, verbose=0, return_dict=True)["mse"]
        best = val_mse if best is None else min(best, val_mse)
        verdict = "AE better" if val_mse < pca_mse else "PCA better"
        print(f"stacked  epochs={done:4d}  val_mse={val_mse:.5f}  ({verdict}; ratio AE/PCA "
              f"{val_mse / pca_mse:.3f}; {time.perf_counter() - start:.0f}s)", flush=True)
    print(f"result   stacked-ae {args.hidden}-{args.codings} best val_mse={best:.5f} vs PCA-{args.codings} "
          f"val_mse={pca_mse:.5f}")


if __name__ == "__main__":
    main()
