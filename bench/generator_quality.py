"""The generator quality table: every generator recipe on one budget, several seeds, one table.

Trains each variant through the shared job function (as `latentq run` does) on the same
dataset, epochs, batch size and seeds, and prints the final fcd, class_coverage, precision and
recall (latentq.models.evaluation.quality, the latentq classifier's features; lower fcd is better) with
the mean over seeds, then a JSON object with every number.

    python bench/generator_quality.py                          # mnist-5k, 5 epochs, batch 32, seed 0
    python bench/generator_quality.py --seeds 0 1 2 -e 10 --only dcgan-raw dcgan-ema progan stylegan
    python bench/generator_quality.py --only dcgan-raw dcgan-ema
    python bench/generator_quality.py --variant "dcgan-hinge=dcgan:loss=hinge,filters=32"

Variants (name = recipe: parameters): see VARIANTS below; the GANs are scored once, after the
last epoch (eval_every=0, 1,000 samples).

Its figures, with the machine and date of each table, are in bench/RESULTS.md (generator quality).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHOWN = ("fcd", "class_coverage", "precision", "recall")
ONCE = {"eval_every": "0"}  # scored once, after the last epoch (1,000 samples)
# DCGAN at filters=32 (a 369k-parameter generator); ProGAN / StyleGAN at their default filters=64
# (their filters halve with each doubling: at filters=32 their generators hold only 70k / 93k).
VARIANTS = {
    "dcgan-raw": ("dcgan", {**ONCE, "filters": "32", "ema": "0"}),
    "dcgan-ema": ("dcgan", {**ONCE, "filters": "32", "ema": "10000"}),  # half-life 10k images, ramp-up 0.05
    "progan": ("progan", {**ONCE}),  # nonsaturating + lazy R1, EMA 10k
    "progan-wgan-gp": ("progan", {**ONCE, "loss": "wgan-gp", "drift": "0.001", "r1_gamma": "0"}),  # the paper's
    "stylegan": ("stylegan", {**ONCE}),  # nonsaturating + lazy R1 (1), EMA 10k
    "vae": ("vae", {}),
}


def raw_generator_scores(settings, run_id: str, dataset: str, seed: int) -> dict:
    """For a run that keeps a generator EMA: the scores of its raw generator (the trained weights,
    not the average), from the saved model, on the run's evaluation noise. EMA with and without,
    from one training run: the comparison is not blurred by two runs' different trajectories."""
    import keras
    import numpy as np

    from latentq.models.predict import batched
    from latentq.models.evaluation.quality import evaluate_samples
    from latentq.models.samples import fixed_noise

    model = keras.models.load_model(settings.run_dir(run_id) / "model.keras")
    if getattr(model, "ema", None) is None:
        return {}
    samples = json.loads((settings.run_dir(run_id) / "spec.json").read_text())["params"]["eval_samples"]
    noise = fixed_noise(seed, int(samples), model.codings, stream=1)
    generator = model.get_layer("generator")
    images = np.clip(batched(lambda z: generator(z, training=False), noise, 256), 0.0, 1.0)
    return evaluate_samples(dataset, images, settings.home / "cache", seed=seed)


def table_cells(rows: list[dict], prefix: str) -> str:
    """One markdown cell per shown metric: the seeds' values, and their mean when there are several."""
    cells = []
    for k in SHOWN:
        values = [r[prefix + k] for r in rows if r.get(prefix + k) is not None]
        mean = f" (mean {sum(values) / len(values):.3f})" if len(values) > 1 else ""
        cells.append(" / ".join(f"{v:.3f}" for v in values) + mean)
    return " | ".join(cells)


def parse_variant(text: str) -> tuple[str, tuple[str, dict]]:
    name, _, rest = text.partition("=")
    recipe, _, pairs = rest.partition(":")
    return name, (recipe, dict(p.split("=", 1) for p in pairs.split(",") if p))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-d", "--dataset", default="mnist-5k")
    parser.add_argument("-e", "--epochs", type=int, default=5)
    parser.add_argument("-b", "--batch-size", type=int, default=32)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--only", nargs="+", default=None, help="variant names to run (default: all)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=RECIPE:K=V,K=V",
                        help="an extra variant")
    parser.add_argument("--home", default=None, help="LATENTQ_HOME to use (default: a temporary folder)")
    args = parser.parse_args()

    variants = dict(VARIANTS)
    variants.update(parse_variant(v) for v in args.variant)
    names = args.only or list(variants)
    home = Path(args.home or tempfile.mkdtemp(prefix="latentq-bench-")).resolve()
    os.environ["LATENTQ_HOME"] = str(home)
    os.environ.pop("LATENTQ_DB_URL", None)
    sys_path = Path(__file__).resolve().parent
    import sys

    sys.path.insert(0, str(sys_path))
    from progan_quality import run_recipe

    from latentq.db.store import Store
    from latentq.settings import load_settings

    settings = load_settings()
    store = Store(settings.db_url, settings.artifact_root)
    results: dict[str, list[dict]] = {}
    for name in names:
        recipe, params = variants[name]
        for seed in args.seeds:
            status = run_recipe(store, settings, recipe, args.dataset, args.epochs, args.batch_size, seed, params)
            row = {k: status["metrics"].get(k) for k in SHOWN}
            row.update(seed=seed, run=status["id"], seconds=round(status["wall_seconds"], 1))
            raw = raw_generator_scores(settings, status["id"], args.dataset, seed)
            if raw:
                row.update({f"raw_{k}": raw[k] for k in SHOWN})
                print(f"{name} seed {seed}, its raw generator: "
                      + ", ".join(f"{k}={raw[k]:.3f}" for k in SHOWN), flush=True)
            results.setdefault(name, []).append(row)
            print(f"{name} seed {seed}: " + ", ".join(f"{k}={row[k]:.3f}" for k in SHOWN if row[k] is not None)
                  + f" ({row['seconds']} s)", flush=True)
    print(f"\n{args.dataset}, {args.epochs} epochs, batch {args.batch_size}, seeds {args.seeds}")
    print(f"| variant | {' | '.join(SHOWN)} | seconds |\n|---|{'---|' * len(SHOWN)}---|")
    for name, rows in results.items():
        print(f"| {name} | {table_cells(rows, '')} | {sum(r['seconds'] for r in rows):.0f} |")
        if all("raw_fcd" in r for r in rows):
            print(f"| {name}, raw generator | {table_cells(rows, 'raw_')} | |")
    print(json.dumps({"dataset": args.dataset, "epochs": args.epochs, "batch_size": args.batch_size,
                      "seeds": args.seeds, "home": str(home), "results": results}))


if __name__ == "__main__":
    main()
