"""Issue 12's quality table: every generator recipe on one budget, several seeds, one table.

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

Measured (issue 12; busy shared 2-core CPU, several benches at once; mnist-5k, 5 epochs, batch 32;
fcd / class_coverage / precision / recall after the last epoch):

| variant | seeds | fcd | class_coverage | precision | recall |
|---|---|---|---|---|---|
| dcgan filters=32, raw | 0 / 1 / 2 | 26.5 / 26.0 / 21.8 (24.8) | 0.8 / 0.7 / 0.9 | 0.77 / 0.73 / 0.70 | 0.61 / 0.66 / 0.65 |
| dcgan filters=32, EMA 10k | 0 / 1 / 2 | 27.9 / 29.2 / 24.0 (27.0) | 0.7 / 0.8 / 0.8 | 0.80 / 0.83 / 0.73 | 0.62 / 0.54 / 0.54 |
| progan filters=64, nonsat + R1, EMA | 0 | 34.1 | 0.7 | 0.72 | 0.38 |
| progan filters=64, nonsat + R1, raw | 0 | 36.1 | 0.8 | 0.71 | 0.44 |
| progan filters=32: wgan-gp + drift / nonsat + R1 / bce | 0 | 49.1 / 43.7 / 51.5 | 0.6 / 0.8 / 0.7 | 0.79 / 0.75 / 0.78 | 0.22 / 0.32 / 0.36 |
| stylegan filters=64, nonsat + R1, EMA | 0 | 38.1 | 0.8 | 0.73 | 0.25 |
| stylegan filters=64, nonsat + R1, raw | 0 | 37.4 | 0.8 | 0.65 | 0.37 |
| stylegan filters=32, same | 0 | 59.9 | 0.6 | 0.73 | 0.10 |

Session 4 (2026-11-26; one run at a time, but beside a CI run: seconds not comparable), the
learning rates of both networks (--variant "pg-lr4=progan:eval_every=0,g_learning_rate=0.004,
d_learning_rate=0.004"); all else the recipe's defaults of that day (filters 64, nonsat + R1):

| variant | seeds | fcd | class_coverage | precision | recall |
|---|---|---|---|---|---|
| progan lr 1e-3 (the old default) | 0 | 38.9 | 0.8 | 0.75 | 0.32 |
| progan lr 2e-3 | 0 / 1 / 2 | 26.0 / 31.4 / 21.5 | 0.7 / 0.8 / 0.8 | 0.70 / 0.76 / 0.73 | 0.60 / 0.51 / 0.55 |
| progan lr 4e-3 (the new default) | 0 / 1 / 2 | 12.9 / 12.9 / 18.5 (14.8) | 0.9 / 0.8 / 0.7 | 0.70 / 0.67 / 0.68 | 0.72 / 0.73 / 0.80 |
| progan start_resolution=16, epochs_per_stage=1 (lr 1e-3) | 0 | 41.9 | 0.6 | 0.79 | 0.39 |
| same, filters=128 | 0 | 36.1 | 0.8 | 0.80 | 0.37 |
| stylegan lr 2e-3, r1_gamma 1 | 0 / 1 / 2 | 29.2 / 33.6 / 21.6 (28.1) | 0.8 / 0.6 / 0.8 | 0.71 / 0.77 / 0.75 | 0.34 / 0.43 / 0.44 |
| stylegan lr 2e-3, r1_gamma 10 (the new default) | 0 / 1 / 2 | 22.4 / 28.4 / 21.4 (24.1) | 0.9 / 0.9 / 0.8 | 0.74 / 0.75 / 0.76 | 0.46 / 0.35 / 0.43 |
| stylegan lr 2e-3, r1_gamma 0.1 | 0 | 26.2 | 0.9 | 0.65 | 0.30 |
| stylegan lr 2e-3, r1_gamma 1, ema 10k | 0 | 26.0 | 0.7 | 0.69 | 0.35 |
| stylegan lr 4e-3 | 0 | 31.3 | 0.7 | 0.69 | 0.51 |
| stylegan filters=128 (lr 1e-3) | 0 | 36.3 | 0.7 | 0.66 | 0.26 |
| stylegan mapping_layers=2, mixing_prob=0 (lr 1e-3) | 0 | 40.4 | 0.7 | 0.74 | 0.40 |
| stylegan mapping_lr_multiplier=0.1 (lr 1e-3) | 0 | 47.2 | 0.7 | 0.74 | 0.13 |

Session 5 (2026-11-26; one run at a time; 10 epochs; "raw" = the raw generator of the same EMA run,
scored by this script, which equals a run with ema=0: the training is deterministic):

| variant | seeds | fcd | class_coverage | precision | recall |
|---|---|---|---|---|---|
| dcgan-raw | 0 / 1 / 2 | 14.2 / 15.1 / 16.4 (15.3) | 0.9 / 0.9 / 0.9 | 0.62 / 0.69 / 0.70 | 0.78 / 0.74 / 0.79 |
| dcgan-ema (10k, ramp 0.05) | 0 / 1 / 2 | 15.2 / 14.0 / 14.2 (14.5) | 0.9 / 0.9 / 0.9 | 0.67 / 0.68 / 0.68 | 0.75 / 0.82 / 0.80 |
| dcgan ema=2000 / 1000 / 500 | 0 / 1 / 2 | means 14.4 / 14.0 / 14.0 | 0.9 everywhere | | |
| progan (EMA 10k) | 0 / 1 / 2 | 10.2 / 9.4 / 7.6 (9.1) | 1.0 / 0.9 / 1.0 | 0.67 / 0.66 / 0.68 | 0.85 / 0.84 / 0.84 |
| progan raw | 0 / 1 / 2 | 10.7 / 11.8 / 12.3 (11.6) | 0.9 / 0.8 / 0.9 | 0.64 / 0.68 / 0.71 | 0.84 / 0.78 / 0.80 |
| stylegan r1_gamma=10, ema=10000 | 0 / 1 / 2 | 13.0 / 14.1 / 8.7 (11.9) | 1.0 / 0.8 / 0.9 | 0.75 / 0.81 / 0.81 | 0.59 / 0.54 / 0.65 |
| its raw generator | 0 / 1 / 2 | 20.4 / 17.2 / 17.4 (18.3) | 0.8 / 0.8 / 0.9 | 0.70 / 0.74 / 0.78 | 0.56 / 0.51 / 0.68 |
| stylegan r1_gamma=1, ema=10000 (the new default) | 0 / 1 / 2 | 9.1 / 8.1 / 8.5 (8.5) | 1.0 / 0.9 / 0.9 | 0.75 / 0.81 / 0.79 | 0.62 / 0.65 / 0.62 |
| its raw generator | 0 / 1 / 2 | 10.8 / 18.4 / 8.6 (12.6) | 1.0 / 0.9 / 0.9 | 0.71 / 0.76 / 0.73 | 0.66 / 0.62 / 0.71 |

Seeds 3 / 4 (unseen while the defaults were chosen): dcgan-raw fcd 16.2 / 14.5, class_coverage
0.8 / 0.9; progan 11.2 / 13.7, 1.0 / 0.9 (raw 10.0 / 16.4); stylegan 9.1 / 13.6, 1.0 / 0.9 (raw
17.8 / 17.5).

The classes short of half their share (50 of 1,000 samples) are mostly the 1s (DCGAN seed 0: 34;
ProGAN: 42); the 3s are over-drawn (160-210).
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
