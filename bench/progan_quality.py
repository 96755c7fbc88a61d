"""How good, and how fast, is a ProGAN run? Per-epoch resolution, alpha, losses and quality numbers.

Trains `progan` through the shared job function (as `latentq run` does) and prints, per
epoch: resolution, alpha at the epoch's end, d_loss, g_loss, d_real / d_fake accuracy, fcd,
class_coverage, and the epoch's seconds (from the run's metrics and events). Optionally the
same budget for a baseline recipe (`--baseline dcgan`) with its default parameters.

    python bench/progan_quality.py                                  # mnist-5k, 8 epochs, defaults
    python bench/progan_quality.py -e 12 --set filters=32 --set epochs_per_stage=3
    python bench/progan_quality.py --baseline dcgan --home /tmp/pg  # keep the pictures

Prints a table per run and, last, a JSON object with every number. Uses a temporary
LATENTQ_HOME unless --home is given (then images/ stays there to look at: samples per epoch,
images/stages/res_RRR.png per stage, evolution.png).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

COLUMNS = ("resolution", "alpha", "d_loss", "g_loss", "d_real_accuracy", "d_fake_accuracy", "fcd", "class_coverage")


def run_recipe(store, settings, recipe: str, dataset: str, epochs: int, batch_size: int, seed: int,
               params: dict[str, str]) -> dict:
    from latentq.spec import build_spec
    from latentq.worker.jobs import execute_run

    spec = build_spec(kind="train", recipe=recipe, dataset=dataset, epochs=epochs, batch_size=batch_size,
                      seed=seed, params=params)
    run_id, _ = store.create_run(spec.model_dump(mode="json"))
    start = time.perf_counter()
    status = execute_run(run_id, settings)
    status["wall_seconds"] = time.perf_counter() - start
    if status["status"] != "succeeded":
        sys.exit(f"run {run_id} {status['status']}: {status.get('error')}")
    return status


def table(store, status: dict) -> dict[int, dict[str, float]]:
    rows: dict[int, dict[str, float]] = {}
    for m in store.metrics(status["id"]):
        if m.step > 0:
            rows.setdefault(m.step, {})[m.name] = m.value
    return rows


def print_table(title: str, rows: dict[int, dict[str, float]], status: dict) -> None:
    columns = [c for c in COLUMNS if any(c in r for r in rows.values())]
    print(f"\n{title}: {status['wall_seconds']:.1f} s wall, "
          f"{status['metrics'].get('samples_per_second', float('nan')):.0f} samples/s, "
          f"{int(status['metrics'].get('params', 0))} params")
    print(f"{'epoch':>6s}" + "".join(f"{c:>17s}" for c in columns))
    for epoch in sorted(rows):
        print(f"{epoch:6d}" + "".join(f"{rows[epoch].get(c, float('nan')):17.4f}" for c in columns))


def main(recipe: str = "progan", doc: str = __doc__) -> None:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("-d", "--dataset", default="mnist-5k")
    parser.add_argument("-e", "--epochs", type=int, default=8)
    parser.add_argument("-b", "--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=f"a {recipe} parameter")
    parser.add_argument("--baseline", default=None, help="also run this recipe (e.g. dcgan) on the same budget")
    parser.add_argument("--home", default=None, help="LATENTQ_HOME to use (default: a temporary folder)")
    args = parser.parse_args()

    home = Path(args.home or tempfile.mkdtemp(prefix="latentq-bench-")).resolve()
    os.environ["LATENTQ_HOME"] = str(home)
    os.environ.pop("LATENTQ_DB_URL", None)
    from latentq.db.store import Store
    from latentq.settings import load_settings

    settings = load_settings()
    store = Store(settings.db_url, settings.artifact_root)
    params = dict(item.split("=", 1) for item in args.set)
    results = {}
    runs = [(recipe, params)] + ([(args.baseline, {})] if args.baseline else [])
    for name, p in runs:
        status = run_recipe(store, settings, name, args.dataset, args.epochs, args.batch_size, args.seed, p)
        rows = table(store, status)
        print_table(f"{name} on {args.dataset}, {args.epochs} epochs, batch {args.batch_size} {p or ''}", rows, status)
        print(f"pictures: {settings.artifact_root / status['id'] / 'images'}")
        results[name] = {"run": status["id"], "wall_seconds": status["wall_seconds"], "params": p,
                         "final": {k: status["metrics"].get(k) for k in COLUMNS + ("samples_per_second", "params")},
                         "epochs": rows}
    print(json.dumps({"dataset": args.dataset, "epochs": args.epochs, "batch_size": args.batch_size,
                      "home": str(home), "results": results}))


if __name__ == "__main__":
    main()
