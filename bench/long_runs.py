"""Do long runs stay light? A tiny DCGAN on 64 RGB 64x64 images for a short and a long run:
the training process's peak RSS and the share of its wall time spent on pictures.

    flock /tmp/bench.lock python bench/long_runs.py                 # 100 and 600 epochs
    flock /tmp/bench.lock python bench/long_runs.py --epochs 100 300
    flock /tmp/bench.lock python bench/long_runs.py --set pictures_every=1   # every epoch's pictures

The images (coloured ellipses and rectangles on coloured backgrounds, drawn with Pillow, seeded)
go into an npz of uint8 pixels. Each run is `latentq run dcgan ... --json` in a fresh
LATENTQ_HOME, started from a helper process of its own so that its peak RSS
(resource.getrusage(RUSAGE_CHILDREN).ru_maxrss: the largest of the run's processes) is that
run's alone. The picture share is the run's recorded picture_seconds over wall_seconds (step 0);
pictures_dropped, the grids drawn and the montage rows on disk are printed beside it.
Targets: the long run's peak RSS within 10 % of the short one's; pictures under 10 % of the time."""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TINY_DCGAN = ("filters=16", "kernel_size=3", "codings=32", "eval_samples=100")


def make_images(path: Path, n: int = 64, size: int = 64, seed: int = 0) -> Path:
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    images = []
    for _ in range(n):
        image = Image.new("RGB", (size, size), tuple(int(c) for c in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(1, 4))):
            x0, y0 = (int(v) for v in rng.integers(0, size - 16, 2))
            x1, y1 = x0 + int(rng.integers(8, size - x0)), y0 + int(rng.integers(8, size - y0))
            shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
            shape((x0, y0, x1, y1), fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
        images.append(np.asarray(image, dtype=np.uint8))
    np.savez(path, x=np.stack(images))
    return path


def one_run(data: Path, epochs: int, sets: list[str], batch_size: int) -> dict:
    """In a helper process of its own: the run, then its peak RSS (children only: this run's)."""
    home = tempfile.mkdtemp(prefix="lq-long-")
    env = {**os.environ, "LATENTQ_HOME": home, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("LATENTQ_DB_URL", None)
    args = [sys.executable, "-m", "latentq.cli.main", "run", "dcgan", "--dataset", f"npz:{data}",
            "--epochs", str(epochs), "--batch-size", str(batch_size), "--json"]
    for pair in (*TINY_DCGAN, *sets):
        args += ["--set", pair]
    start = time.perf_counter()
    out = subprocess.run(args, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if out.returncode:
        sys.exit(f"run failed ({out.returncode}): {out.stderr[-3000:]}")
    status = json.loads(out.stdout)
    run_dir = Path(home) / "runs" / status["id"]
    m = status["metrics"]
    return {
        "epochs": epochs,
        "status": status["status"],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "command_seconds": seconds,
        "wall_seconds": m["wall_seconds"],
        "picture_seconds": m["picture_seconds"],
        "picture_share": m["picture_seconds"] / m["wall_seconds"],
        "checkpoint_seconds": m["checkpoint_seconds"],
        "train_seconds": m["train_seconds"],
        "pictures_dropped": m.get("pictures_dropped"),
        "grids": len(list((run_dir / "images" / "samples").glob("epoch_*.png"))),
        "montage_rows": len(list((run_dir / "checkpoints" / "montage").glob("*.npy"))),
        "montage_kib": (run_dir / "images" / "evolution.png").stat().st_size / 1024,
        "tensorboard_kib": sum(p.stat().st_size for p in (run_dir / "tensorboard").rglob("*") if p.is_file()) / 1024,
        "home": home,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, nargs="+", default=[100, 600])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--set", dest="sets", action="append", default=[], help="more --set pairs for every run")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the helper: one run of this many epochs
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_run(Path(args.data), args.one, args.sets, args.batch_size)))
        return
    folder = Path(tempfile.mkdtemp(prefix="lq-long-data-"))
    data = make_images(folder / "shapes64.npz")
    rows = []
    for epochs in args.epochs:
        helper = [sys.executable, __file__, "--one", str(epochs), "--data", str(data),
                  "--batch-size", str(args.batch_size), *(f"--set={s}" for s in args.sets)]
        out = subprocess.run(helper, capture_output=True, text=True)
        if out.returncode:
            sys.exit(out.stderr[-3000:])
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"{r['epochs']:>5} epochs: peak RSS {r['peak_rss_mib']:7.0f} MiB  wall {r['wall_seconds']:7.1f} s  "
              f"pictures {r['picture_seconds']:6.2f} s ({100 * r['picture_share']:4.1f} %)  "
              f"checkpoints {r['checkpoint_seconds']:6.1f} s  grids {r['grids']:>4}  montage rows "
              f"{r['montage_rows']:>4}  dropped {r['pictures_dropped']:.0f}  evolution.png {r['montage_kib']:.0f} KiB  "
              f"tensorboard {r['tensorboard_kib']:.0f} KiB", flush=True)
    if len(rows) >= 2:
        first, last = rows[0], rows[-1]
        growth = last["peak_rss_mib"] / first["peak_rss_mib"] - 1
        print(f"peak RSS {last['epochs']} vs {first['epochs']} epochs: {100 * growth:+.1f} % (target within 10 %); "
              f"picture share at most {100 * max(r['picture_share'] for r in rows):.1f} % (target under 10 %)")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
