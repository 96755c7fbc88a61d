"""How good are VAE samples? fcd / class_coverage of a VAE against uniform noise and real images.

Trains a VAE recipe through the shared job function (as `latentq run` does), runs a generation
job from it (as `latentq generate --interpolate --reconstruct` does), then scores, with the
same cached quality classifier: uniform-noise images, held-out real images against the
reference (real vs real), and one repeated real image (a collapsed generator).

    python bench/vae_quality.py [--recipe vae|conv-vae] [--dataset mnist-5k] [--epochs 10]
                                [--batch-size 32] [--eval-samples 1000] [--home DIR]

Prints one line per row and, last, a JSON object with every number. Uses a temporary
LATENTQ_HOME unless --home is given (then the pictures stay there to look at).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="vae", choices=["vae", "conv-vae"])
    parser.add_argument("--dataset", default="mnist-5k")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--eval-samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--home", default=None, help="LATENTQ_HOME to use (default: a temporary folder)")
    args = parser.parse_args()

    home = Path(args.home or tempfile.mkdtemp(prefix="latentq-bench-")).resolve()
    os.environ["LATENTQ_HOME"] = str(home)
    os.environ.pop("LATENTQ_DB_URL", None)

    import numpy as np

    from latentq import datasets
    from latentq.db.store import Store
    from latentq.settings import load_settings
    from latentq.spec import GenerateOptions, build_spec
    from latentq.worker.jobs import execute_run

    settings = load_settings()
    store = Store(settings.db_url, settings.artifact_root)

    def execute(**fields) -> dict:
        spec = build_spec(**fields)
        run_id, _ = store.create_run(spec.model_dump(mode="json"))
        status = execute_run(run_id, settings)
        if status["status"] != "succeeded":
            sys.exit(f"run {run_id} {status['status']}: {status.get('error')}")
        return status

    trained = execute(kind="train", recipe=args.recipe, dataset=args.dataset, epochs=args.epochs,
                      batch_size=args.batch_size, seed=args.seed,
                      params={"eval_samples": str(args.eval_samples)})
    generated = execute(kind="generate", recipe=args.recipe, dataset=args.dataset, epochs=1, seed=args.seed,
                        parent=trained["id"], generate=GenerateOptions(n=64, interpolate=True, reconstruct=True))

    from latentq.models.evaluation import quality  # TensorFlow: after the jobs, which import it anyway

    cache = settings.home / "cache"
    data = datasets.load(args.dataset, args.seed + 1)  # another split: real images the reference has not seen
    x = data.x_train[:args.eval_samples]
    noise = np.random.default_rng(args.seed).random(x.shape, dtype=np.float32)
    rows = {
        f"{args.recipe} after {args.epochs} epochs (training run)": trained["metrics"],
        f"{args.recipe} generation job (seed {args.seed})": generated["metrics"],
        "uniform noise": quality.evaluate_samples(args.dataset, noise, cache),
        "real images vs real reference": quality.evaluate_samples(args.dataset, x, cache),
        "one real image repeated": quality.evaluate_samples(args.dataset, np.repeat(x[:1], len(x), axis=0), cache),
    }
    names = ("fcd", "class_coverage", "class_kl", "mean_confidence")
    print(f"{'':46s}" + "".join(f"{n:>16s}" for n in names))
    for label, metrics in rows.items():
        print(f"{label:46s}" + "".join(f"{metrics.get(n, float('nan')):16.4f}" for n in names))
    classifier = quality.classifier_for(args.dataset, cache)
    print(f"quality classifier: validation accuracy {classifier.accuracy:.4f} "
          f"({classifier.meta['epochs']} epochs, {classifier.meta['train_seconds']:.1f} s)")
    print(f"{args.recipe}: val_loss (negative ELBO per pixel) {trained['metrics']['val_loss']:.4f}, "
          f"val_neg_elbo_nats {trained['metrics'].get('val_neg_elbo_nats', float('nan')):.2f}")
    print(f"pictures: {settings.artifact_root / trained['id'] / 'images'} and "
          f"{settings.artifact_root / generated['id'] / 'images'}")
    print(json.dumps({"recipe": args.recipe, "dataset": args.dataset, "epochs": args.epochs,
                      "classifier_accuracy": classifier.accuracy,
                      "rows": {label: {n: m.get(n) for n in names} for label, m in rows.items()},
                      "val_loss": trained["metrics"]["val_loss"], "home": str(home)}))


if __name__ == "__main__":
    main()
