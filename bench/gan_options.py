"""The notes' two GAN remedies, measured: a DCGAN with and without experience replay and with
and without minibatch discrimination, same seed, data and budget.

    python bench/gan_options.py                          # dcgan, mnist-5k, 8 epochs, batch 32
    python bench/gan_options.py -e 15 --set filters=64
    python bench/gan_options.py --recipe gan -e 40       # the dense GAN instead
    python bench/gan_options.py --seeds 0 1 2            # repeat over seeds (GANs are noisy)

Every run goes through the shared job function (as `latentq run` would) in one throw-away
LATENTQ_HOME (or --home DIR to keep the pictures), so the quality classifier is trained once
and scores every run. Prints one row per (option set, seed): the last epoch's fcd,
class_coverage and class_kl (from 1,000 samples of fixed noise), the mean fcd and coverage of
the last three evaluated epochs (less noisy), the number of mode-collapse warnings, and the
wall time; then, with several seeds, the mean per option set.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

VARIANTS = {
    "plain": {},
    "replay": {"replay_size": "{replay}", "replay_fraction": "{fraction}"},
    "minibatch-discrimination": {"minibatch_discrimination": "true"},
    "replay + minibatch-discrimination": {"replay_size": "{replay}", "replay_fraction": "{fraction}",
                                          "minibatch_discrimination": "true"},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", choices=["dcgan", "gan"], default="dcgan")
    parser.add_argument("-d", "--dataset", default="mnist-5k")
    parser.add_argument("-e", "--epochs", type=int, default=8)
    parser.add_argument("-b", "--batch-size", type=int, default=32)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--replay", type=int, default=2000, help="replay_size of the replay variants")
    parser.add_argument("--fraction", type=float, default=0.5, help="replay_fraction of the replay variants")
    parser.add_argument("--only", nargs="*", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="a parameter for every variant (e.g. filters=32)")
    parser.add_argument("--home", default=None, help="LATENTQ_HOME to use (default: a temporary folder)")
    args = parser.parse_args()

    home = args.home or tempfile.mkdtemp(prefix="latentq-gan-options-")
    os.environ["LATENTQ_HOME"] = home
    os.environ.pop("LATENTQ_DB_URL", None)
    import numpy as np

    from latentq.db.store import Store
    from latentq.settings import load_settings
    from latentq.spec import build_spec, parse_sets
    from latentq.worker.jobs import execute_run

    settings = load_settings()
    store = Store(settings.db_url, settings.artifact_root)
    common = parse_sets(args.sets)
    print(f"# {args.recipe} on {args.dataset}: epochs={args.epochs} batch_size={args.batch_size} seeds={args.seeds} "
          f"replay_size={args.replay} replay_fraction={args.fraction} sets={common} home={home}", flush=True)
    header = (f"{'variant':36s} {'seed':>4s} {'fcd':>7s} {'coverage':>8s} {'class_kl':>8s} "
              f"{'fcd_last3':>9s} {'cov_last3':>9s} {'collapses':>9s} {'seconds':>7s}  run")
    print(header, flush=True)
    rows: dict[str, list[tuple[float, float]]] = {}
    failed = 0
    for name in args.only:
        extra = {k: v.format(replay=args.replay, fraction=args.fraction) for k, v in VARIANTS[name].items()}
        for seed in args.seeds:
            spec = build_spec(kind="train", recipe=args.recipe, dataset=args.dataset, epochs=args.epochs,
                              batch_size=args.batch_size, seed=seed, params={**common, **extra})
            run_id, _ = store.create_run(spec.model_dump(mode="json"))
            start = time.perf_counter()
            status = execute_run(run_id, settings)
            seconds = time.perf_counter() - start
            if status["status"] != "succeeded":
                print(f"{name:36s} {seed:4d} {status['status']}: {status['error']}", flush=True)
                failed += 1
                continue
            series: dict[str, dict[int, float]] = {}
            for metric in store.metrics(run_id):
                series.setdefault(metric.name, {})[metric.step] = metric.value
            fcd = [series["fcd"][s] for s in sorted(series["fcd"])]
            cov = [series["class_coverage"][s] for s in sorted(series["class_coverage"])]
            kl = series["class_kl"][max(series["class_kl"])]
            warnings = sum(1 for e in store.events(run_id) if e.level == "warning" and "mode collapse" in e.message)
            rows.setdefault(name, []).append((fcd[-1], cov[-1]))
            print(f"{name:36s} {seed:4d} {fcd[-1]:7.2f} {cov[-1]:8.2f} {kl:8.3f} {np.mean(fcd[-3:]):9.2f} "
                  f"{np.mean(cov[-3:]):9.2f} {warnings:9d} {seconds:7.0f}  {run_id}", flush=True)
    if len(args.seeds) > 1:
        print("\n# mean over seeds")
        for name, values in rows.items():
            fcd, cov = np.mean([v[0] for v in values]), np.mean([v[1] for v in values])
            print(f"{name:36s} fcd={fcd:7.2f} class_coverage={cov:5.2f} ({len(values)} seeds)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
