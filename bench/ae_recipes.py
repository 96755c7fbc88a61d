"""Train autoencoder recipes through the shared job function and print their numbers.

    python bench/ae_recipes.py                       # every AE recipe, mnist-5k, 5 epochs
    python bench/ae_recipes.py tied-ae stacked-ae -e 10 -d digits
    python bench/ae_recipes.py sparse-ae --set l1=0  # a plain sigmoid coding layer
    python bench/ae_recipes.py pretrain-classifier --set labels=100

Each run goes into a throw-away LATENTQ_HOME (or --home DIR to keep the pictures). Prints
one line per recipe: val_mse against baseline_mse (predicting the mean training image),
params, and the recipe's own numbers (sparsity, accuracies, per-phase losses).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

RECIPES = ["stacked-ae", "tied-ae", "greedy-ae", "conv-ae", "recurrent-ae", "denoising-ae", "sparse-ae",
           "sparse-kl-ae", "pretrain-classifier"]
SHOWN = ["val_mse", "baseline_mse", "params", "val_loss", "mean_activation", "active_fraction",
         "val_mse_denoised", "accuracy_pretrained", "accuracy_scratch", "phase1_val_loss", "phase2_val_loss"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipes", nargs="*", default=RECIPES)
    parser.add_argument("-d", "--dataset", default="mnist-5k")
    parser.add_argument("-e", "--epochs", type=int, default=5)
    parser.add_argument("-b", "--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--home", default=None, help="LATENTQ_HOME to use (default: a temporary folder)")
    args = parser.parse_args()

    home = args.home or tempfile.mkdtemp(prefix="latentq-bench-")
    os.environ["LATENTQ_HOME"] = home
    os.environ.pop("LATENTQ_DB_URL", None)
    from latentq.settings import load_settings
    from latentq.db.store import Store
    from latentq.spec import build_spec, parse_sets
    from latentq.worker.jobs import execute_run

    settings = load_settings()
    store = Store(settings.db_url, settings.artifact_root)
    print(f"# dataset={args.dataset} epochs={args.epochs} batch_size={args.batch_size} seed={args.seed} "
          f"sets={args.sets} home={home}")
    failed = 0
    for recipe in args.recipes:
        spec = build_spec(kind="train", recipe=recipe, dataset=args.dataset, epochs=args.epochs,
                          batch_size=args.batch_size, seed=args.seed, params=parse_sets(args.sets))
        run_id, _ = store.create_run(spec.model_dump(mode="json"))
        start = time.perf_counter()
        status = execute_run(run_id, settings)
        seconds = time.perf_counter() - start
        metrics = status["metrics"]
        shown = " ".join(f"{k}={metrics[k]:.4g}" for k in SHOWN if k in metrics)
        print(f"{recipe:20s} {status['status']:9s} {seconds:6.1f}s {shown}"
              + (f" error={status['error']}" if status["error"] else ""), flush=True)
        failed += status["status"] != "succeeded"
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
