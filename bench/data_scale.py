"""Datasets at scale: prepare 64x64 RGB folders of several sizes, train one DCGAN epoch on each
from the stream, and read what grows with the dataset.

    flock /tmp/bench.lock python bench/data_scale.py                 # 2,000, 10,000, 40,000 images
    flock /tmp/bench.lock python bench/data_scale.py --sizes 2000    # one size

For each size: the folder (coloured discs, boxes and triangles drawn with Pillow, PNG), its
preparation (images/s with --workers processes), then `latentq run dcgan --dataset data:NAME
--epochs 1` in a subprocess under /usr/bin/time -v: the run's setup_seconds (recorded metric) and
the peak RSS of the whole command. Then, in this process, on the middle size: the share of step
time spent waiting on the input (a timing around the iterator's next() in a loop of compiled
steps), and the same DCGAN's time per step fed the stream vs fed in-memory float32 arrays as
recipes were before (model.fit on arrays, shuffle=True). Numbers go to stdout as a table and JSON;
bench/RESULTS.md keeps them. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SIDE = 64
DCGAN_SETS = ["filters=16", "codings=32", "kernel_size=4", "eval_every=0", "pictures_every=1"]


def draw(folder: Path, count: int, side: int = SIDE) -> Path:
    """count PNGs of coloured shapes (flat: no labels), made once and kept."""
    from PIL import Image, ImageDraw

    done = folder / ".complete"
    if done.exists() and int(done.read_text()) == count:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(count)
    for i in range(count):
        img = Image.new("RGB", (side, side), tuple(int(v) for v in rng.integers(0, 110, 3)))
        pen = ImageDraw.Draw(img)
        for _ in range(int(rng.integers(1, 4))):
            x0, y0 = (int(v) for v in rng.integers(0, side - 12, 2))
            size = int(rng.integers(8, side // 2))
            box = (x0, y0, min(side - 1, x0 + size), min(side - 1, y0 + size))
            colour = tuple(int(v) for v in rng.integers(110, 256, 3))
            kind = int(rng.integers(3))
            if kind == 0:
                pen.ellipse(box, fill=colour)
            elif kind == 1:
                pen.rectangle(box, fill=colour)
            else:
                pen.polygon([(box[0], box[3]), (box[2], box[3]), ((box[0] + box[2]) // 2, box[1])], fill=colour)
        img.save(folder / f"{i:06d}.png")
    done.write_text(str(count))
    return folder


def prepare(folder: Path, name: str, home: Path, workers: int) -> dict:
    from latentq import prepared

    start = time.perf_counter()
    result = prepared.prepare(folder, name, home, prepared.Options(labels="none"), workers=workers, replace=True)
    seconds = time.perf_counter() - start
    on_disk = sum(f.stat().st_size for f in result.path.iterdir())
    return {"prepare_seconds": round(seconds, 2), "images_per_second": round(result.manifest.count / seconds, 1),
            "bytes_on_disk": on_disk}


def run_dcgan(dataset: str, home: Path, epochs: int = 1) -> dict:
    """`latentq run dcgan` in a subprocess under /usr/bin/time -v: peak RSS, setup_seconds, timings."""
    from latentq.db.store import Store
    from latentq.settings import load_settings

    env = {**os.environ, "LATENTQ_HOME": str(home), "CUDA_VISIBLE_DEVICES": ""}
    env.pop("LATENTQ_DB_URL", None)
    command = [sys.executable, "-m", "latentq.cli.main", "run", "dcgan", "--dataset", dataset, "--epochs",
               str(epochs), "--batch-size", "64", "--json"]
    for pair in DCGAN_SETS:
        command += ["--set", pair]
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"latentq run failed ({done.returncode}): {done.stderr[-3000:]}")
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    run_id = json.loads(done.stdout)["id"]
    os.environ["LATENTQ_HOME"] = str(home)
    settings = load_settings()
    metrics = Store(settings.db_url, settings.artifact_root).latest_metrics(run_id)
    keep = ("setup_seconds", "train_seconds", "samples_per_second", "wall_seconds", "picture_seconds")
    return {"run": run_id, "peak_rss_mib": round(peak_kb / 1024, 1), "command_seconds": round(wall, 1),
            **{k: round(metrics[k], 3) for k in keep if k in metrics}}


def step_times(dataset: str, home: Path, steps: int = 150) -> dict:
    """In this process: the DCGAN of run_dcgan, compiled once; (1) a loop of compiled steps with a
    timing around next() on the stream: the share of the time the step waits for input; (2) one
    epoch of model.fit from the stream vs from in-memory float32 arrays (the recipes' old input)."""
    os.environ["LATENTQ_HOME"] = str(home)
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    import keras

    from latentq import datasets
    from latentq.models.gan.builders import build_dcgan
    from latentq.models.gan.model import compile_gan
    from latentq.models.inputs import TrainInput
    from latentq.recipes.gans import DCGANParams

    params = DCGANParams(**dict(pair.split("=") for pair in DCGAN_SETS))
    source = datasets.open_source(dataset, seed=0)
    keras.utils.set_random_seed(0)
    model = compile_gan(build_dcgan(params, source.sample_shape, 0), params)
    stream = TrainInput(source, 64)

    # (1) input wait in a loop of compiled steps (one step per call, as steps_per_execution=1)
    iterator = iter(stream.dataset(0))
    model.train_on_batch(next(iterator))  # compile
    waited = 0.0
    start = time.perf_counter()
    for _ in range(min(steps, stream.steps - 2)):
        t0 = time.perf_counter()
        batch = next(iterator)
        waited += time.perf_counter() - t0
        model.train_on_batch(batch)
    loop = time.perf_counter() - start
    result = {"loop_steps": min(steps, stream.steps - 2), "input_wait_share": round(waited / loop, 4),
              "loop_ms_per_step": round(1000 * loop / min(steps, stream.steps - 2), 2)}

    # (2) one epoch of fit each way, after a warm-up epoch each (tracing)
    n = min(source.train_count, 4000)
    x = source.take(np.arange(n))
    small = TrainInput(_subset(source, n), 64)
    for label, fit in (("stream", lambda: model.fit(small.dataset(), epochs=1, verbose=0,
                                                    callbacks=[small.callback()])),
                       ("arrays", lambda: model.fit(x, epochs=1, batch_size=64, shuffle=True, verbose=0))):
        fit()
        start = time.perf_counter()
        fit()
        result[f"fit_ms_per_step_{label}"] = round(1000 * (time.perf_counter() - start) / small.steps, 2)
    result["fit_images"] = n
    return result


def _subset(source, n: int):
    """The source with its training split cut to its first n images (same pixels, same reads)."""
    import copy

    view = copy.copy(source)
    view.train_index = source.train_index[:n]
    return view


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000, 40000])
    parser.add_argument("--workers", type=int, default=2, help="decoding processes of `data prepare`")
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("LATENTQ_BENCH_HOME", "/tmp/latentq-data-scale")))
    parser.add_argument("--skip-steps", action="store_true", help="no in-process step timing")
    args = parser.parse_args()
    home = args.home.resolve()
    rows = []
    for count in args.sizes:
        name = f"shapes{count}"
        folder = draw(home / "folders" / name, count)
        row = {"images": count, **prepare(folder, name, home, args.workers)}
        row.update(run_dcgan(f"data:{name}", home))
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = {"rows": rows}
    if not args.skip_steps:
        middle = sorted(args.sizes)[len(args.sizes) // 2]
        out["steps"] = {"images": middle, **step_times(f"data:shapes{middle}", home)}
        print(json.dumps(out["steps"]), flush=True)
    if len(rows) > 1:
        out["rss_growth_mib"] = round(rows[-1]["peak_rss_mib"] - rows[0]["peak_rss_mib"], 1)
    per_image = {res: res * res * 3 for res in (64, 128)}
    out["celeba_200k"] = {f"{res}x{res}": {"pixels_on_disk_gib": round(200_000 * b / 2**30, 2)}
                          for res, b in per_image.items()}
    print("\n| images | prepare images/s | on disk MiB | peak RSS MiB | setup_seconds | train_seconds |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['images']:,} | {r['images_per_second']:.0f} | {r['bytes_on_disk'] / 2**20:.0f} | "
              f"{r['peak_rss_mib']:.0f} | {r.get('setup_seconds', float('nan')):.2f} | "
              f"{r.get('train_seconds', float('nan')):.1f} |")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
