"""Does the job system add training overhead? `latentq run stacked-ae` vs the plain Keras script.

    python bench/job_overhead.py [--epochs 10] [--batch-size 32] [--repeats 2]

Runs both as fresh processes, alternating, and prints a table of the training-loop time
(fit alone) and the whole-process wall time."""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def timed(cmd, env):
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    return time.perf_counter() - start, json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    rows = []
    for i in range(args.repeats):
        env = {**os.environ, "LATENTQ_HOME": tempfile.mkdtemp(prefix="lq-bench-")}
        wall, plain = timed([sys.executable, str(HERE / "plain_stacked_ae.py"), str(args.epochs),
                             str(args.batch_size)], env)
        rows.append(("plain keras", i, plain["train_seconds"], plain["samples_per_second"], wall,
                     plain["val_loss"]))
        wall, status = timed([sys.executable, "-m", "latentq.cli.main", "run", "stacked-ae", "--dataset", "mnist-5k",
                              "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--json"], env)
        m = status["metrics"]
        rows.append(("latentq run", i, m["train_seconds"], m["samples_per_second"], wall, m["val_loss"]))
    print(f"stacked-ae, mnist-5k, {args.epochs} epochs, batch {args.batch_size}")
    print(f"{'what':<12} {'rep':>3} {'fit s':>8} {'samples/s':>10} {'process s':>10} {'val_loss':>9}")
    for what, rep, fit_s, sps, wall, val in rows:
        print(f"{what:<12} {rep:>3} {fit_s:>8.2f} {sps:>10.0f} {wall:>10.2f} {val:>9.4f}")


if __name__ == "__main__":
    main()
