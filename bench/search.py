"""Does pruning buy a search more for its budget? A `latentq search` with pruning against a random
sweep of the same space and size (the same search machinery with `--sampler random --prune none`).

Each trial runs through the shared job function in this process, one after the other (as a
one-worker fleet would run them: the trial's own training process reports to the study and is
pruned there), so what differs between the two is only how points are proposed and stopped.

    python bench/search.py [--recipe vae] [--dataset mnist-5k] [--trials 24] [--epochs 10]
                           [--batch-size 32] [--prune asha|median] [--sampler tpe] [--home DIR]

Prints one line per trial and per search and, last, a JSON object: for each search its best
val_loss, epochs trained, epochs the same trials would have trained unpruned, trials pruned, and
wall seconds. The space: codings int 2..64 log, learning_rate float 1e-4..1e-2 log, kl_weight
float 0.5..4, optimizer adam|rmsprop (`eval_samples` 0: no generated-image scores).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SPACE = ("codings=int:2..64:log", "learning_rate=float:1e-4..1e-2:log", "kl_weight=float:0.5..4",
         "optimizer=choice:adam,rmsprop")


def run_search(store, settings, group: str, definition) -> dict:
    from latentq.worker import search as searching
    from latentq.worker.jobs import execute_run

    searching.create(store, settings, group, definition)
    study, _ = searching._load(settings.db_url, group, definition)
    start = time.perf_counter()
    for _ in range(definition.trials):
        trial = study.ask()
        point = {p.name: p.suggest(trial) for p in definition.space}
        run_id = searching._submit(store, settings, group, definition, study, trial.number, trial._trial_id, point,
                                   send=lambda _run_id: None, say=print)
        execute_run(run_id, settings)
        searching._tell_if_done(store, study, trial.number, run_id, definition, say=print)
    seconds = time.perf_counter() - start
    shown = searching.summary(store, group, settings, picture=True)
    best = shown["best"]
    return {"group": group, "sampler": definition.sampler, "prune": definition.prune, "trials": definition.trials,
            "best_val_loss": best["value"] if best else None, "best_params": best["params"] if best else None,
            "epochs_trained": shown["epochs_trained"], "epochs_unpruned": shown["epochs_unpruned"],
            "pruned": shown["counts"].get("pruned", 0), "pruned_at": shown["pruned_at"],
            "wall_seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="vae")
    parser.add_argument("--dataset", default="mnist-5k")
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--prune", default="asha", choices=["asha", "median"], help="as `latentq search`: asha")
    parser.add_argument("--sampler", default="tpe", choices=["tpe", "random"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--home", default=None, help="LATENTQ_HOME to use (default: a temporary folder)")
    args = parser.parse_args()

    home = Path(args.home or tempfile.mkdtemp(prefix="latentq-bench-")).resolve()
    os.environ["LATENTQ_HOME"] = str(home)
    os.environ.pop("LATENTQ_DB_URL", None)

    from latentq.db.store import Store
    from latentq.models import runner  # noqa: F401  (TensorFlow's import is not the searches' time)
    from latentq.settings import load_settings
    from latentq.worker import search as searching

    settings = load_settings()
    store = Store(settings.db_url, settings.artifact_root)
    fields = {"dataset": args.dataset, "epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed}

    def define(sampler: str, prune: str):
        return searching.define(args.recipe, SPACE, {"eval_samples": 0}, dict(fields), objective="val_loss",
                                maximize=False, trials=args.trials, parallel=1, prune=prune, sampler_name=sampler,
                                queue="latentq", priority=5, max_attempts=None)

    results = [run_search(store, settings, f"pruned-{args.sampler}-{args.prune}", define(args.sampler, args.prune)),
               run_search(store, settings, "random-sweep", define("random", "none"))]
    for r in results:
        share = r["epochs_trained"] / r["epochs_unpruned"] if r["epochs_unpruned"] else float("nan")
        print(f"{r['group']:<22} best val_loss {r['best_val_loss']:.5f}  epochs {r['epochs_trained']}/"
              f"{r['epochs_unpruned']} ({100 * share:.0f} %)  pruned {r['pruned']} {r['pruned_at']}  "
              f"{r['wall_seconds']:.0f} s")
    print(json.dumps({"recipe": args.recipe, "dataset": args.dataset, "trials": args.trials, "epochs": args.epochs,
                      "home": str(home), "searches": results}, indent=1))


if __name__ == "__main__":
    main()
