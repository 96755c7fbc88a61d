"""Unsupervised pretraining vs scratch, over several label counts and label draws.

    python bench/ae_pretrain.py                          # mnist-5k, AE 5 epochs, labels 20 50 100 500
    python bench/ae_pretrain.py --labels 100 --draws 5 --ae-epochs 20 --freeze both

Trains pretrain-classifier's stacked AE once on the training images, then for each label
count N and each draw (seed) of N balanced labelled images trains the recipe's two
classifiers (`fit_classifier`: the pretrained encoder + softmax, and the same network from
scratch) and prints their validation accuracies, mean and standard deviation over draws.
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-d", "--dataset", default="mnist-5k")
    parser.add_argument("--ae-epochs", type=int, default=5)
    parser.add_argument("--labels", type=int, nargs="+", default=[20, 50, 100, 500])
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--classifier-epochs", type=int, default=100)
    parser.add_argument("--classifier-lr", type=float, default=1e-3)
    parser.add_argument("--freeze", choices=["yes", "no", "both"], default="no")
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--codings", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import keras

    from latentq import datasets
    from latentq.models import codings
    from latentq.models.autoencoders import builders as ae_builders
    from latentq.models.autoencoders import pretraining

    keras.utils.set_random_seed(args.seed)
    data = datasets.load(args.dataset, args.seed)
    start = time.perf_counter()
    model = ae_builders.build_stacked_ae(SimpleNamespace(hidden=args.hidden, codings=args.codings), data.sample_shape)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy",
                  metrics=[keras.metrics.MeanSquaredError(name="mse")])
    model.fit(data.x_train, data.x_train, epochs=args.ae_epochs, batch_size=args.batch_size, verbose=0)
    val_mse = model.evaluate(data.x_val, data.x_val, verbose=0, return_dict=True)["mse"]
    encoder = codings.encoder_of(model)
    print(f"# {args.dataset}: stacked AE {args.hidden}-{args.codings}, {args.ae_epochs} epochs, val_mse={val_mse:.4f} "
          f"({time.perf_counter() - start:.0f}s); classifiers: {args.classifier_epochs} epochs, "
          f"lr={args.classifier_lr}, {args.draws} draws")
    freezes = {"yes": [True], "no": [False], "both": [True, False]}[args.freeze]
    for n in args.labels:
        results: dict[str, list[float]] = {}
        for draw in range(args.draws):
            picked = pretraining.balanced_indices(data.y_train, n, data.num_classes, args.seed + draw)
            x, y = data.x_train[picked], data.y_train[picked]
            runs = [("scratch", False, False)] + [(f"pretrained{'-frozen' if f else '-finetuned'}", True, f)
                                                  for f in freezes]
            for name, pretrained, freeze in runs:
                clf = pretraining.fit_classifier(encoder, data.num_classes, x, y, pretrained=pretrained, freeze=freeze,
                                        optimizer="adam", learning_rate=args.classifier_lr,
                                        epochs=args.classifier_epochs, batch_size=args.batch_size)
                acc = clf.evaluate(data.x_val, data.y_val, verbose=0, return_dict=True)["accuracy"]
                results.setdefault(name, []).append(float(acc))
        line = "  ".join(f"{k}={np.mean(v):.3f}±{np.std(v):.3f}" for k, v in results.items())
        gains = "  ".join(
            f"gain({k})={np.mean(np.subtract(v, results['scratch'])):+.3f} "
            f"[{sum(a > b for a, b in zip(v, results['scratch']))}/{len(v)} draws better]"
            for k, v in results.items() if k != "scratch")
        print(f"labels={n:5d}  {line}  {gains}", flush=True)


if __name__ == "__main__":
    main()
