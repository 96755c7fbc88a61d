"""Training throughput per recipe, float32 vs mixed precision: samples per second of fit().

    python bench/gpu_throughput.py [--recipes stacked-ae,conv-ae,vae,dcgan] [--epochs 3]
                                   [--batch-size 256] [--precisions float32,mixed_float16]
    python bench/gpu_throughput.py --tiny      # a CPU smoke run: digits, 1 epoch, small batches

Each cell is a fresh `latentq run RECIPE --set precision=P --json` (own LATENTQ_HOME), so one
recipe's graphs and memory never touch the next; the figure is the run's `samples_per_second`
metric (its fit loop alone, the first epoch's tracing included). Meant for a GPU box (install
`latentq[gpu]`); the header says which devices TensorFlow saw. A recipe or precision the
installed latentq refuses shows as the refusal instead of a number."""

import argparse
import json
import os
import subprocess
import sys
import tempfile

DEVICES = ("import json, os; os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3'); import tensorflow as tf; "
           "print(json.dumps([d.name + ' ' + tf.config.experimental.get_device_details(d).get('device_name', '') "
           "for d in tf.config.list_physical_devices('GPU')]))")


def one(recipe: str, precision: str, args) -> str:
    env = {**os.environ, "LATENTQ_HOME": tempfile.mkdtemp(prefix="lq-tput-")}
    env.pop("LATENTQ_DB_URL", None)
    cmd = [sys.executable, "-m", "latentq.cli.main", "run", recipe, "--epochs", str(args.epochs),
           "--batch-size", str(args.batch_size), "--json"] + (["--dataset", args.dataset] if args.dataset else [])
    out = subprocess.run(cmd + ["--set", f"precision={precision}"], capture_output=True, text=True, env=env)
    if out.returncode == 2 and precision == "float32" and "unknown parameter 'precision'" in out.stderr:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env)  # a latentq without the parameter
    if out.returncode == 2:  # refused up front (an unknown parameter or value)
        return "refused: " + out.stderr.strip().splitlines()[-1][:60]
    try:
        status = json.loads(out.stdout)
    except ValueError:
        return "crashed: " + (out.stderr.strip().splitlines() or ["no output"])[-1][:60]
    if status["status"] != "succeeded":
        return f"{status['status']}: {(status['error'] or '')[:60]}"
    return f"{status['metrics']['samples_per_second']:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipes", default="stacked-ae,conv-ae,vae,dcgan")
    parser.add_argument("--precisions", default="float32,mixed_float16")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--dataset", default=None, help="default: each recipe's own")
    parser.add_argument("--tiny", action="store_true", help="digits, 1 epoch, batch 64, two recipes: a smoke run")
    args = parser.parse_args()
    if args.tiny:
        args.recipes, args.epochs, args.batch_size, args.dataset = "stacked-ae,vae", 1, 64, "digits"
    recipes, precisions = args.recipes.split(","), args.precisions.split(",")
    devices = subprocess.run([sys.executable, "-c", DEVICES], capture_output=True, text=True).stdout.strip()
    gpus = json.loads(devices.splitlines()[-1]) if devices else []
    print(f"GPUs: {', '.join(gpus) or 'none (CPU)'}; {args.epochs} epoch(s), batch {args.batch_size}"
          + (f", dataset {args.dataset}" if args.dataset else ""))
    print(f"{'recipe':<12}" + "".join(f"{p:>18}" for p in precisions) + "   (samples/s)")
    for recipe in recipes:
        cells = [one(recipe, p, args) for p in precisions]
        print(f"{recipe:<12}" + "".join(f"{c:>18}" if len(c) <= 18 else f"  {c}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
