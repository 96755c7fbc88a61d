"""Training streams its data: a prepared RGB dataset trains every family through the one input
seam (latentq.models.inputs), in an order fixed by (seed, epoch), with memory that does not
follow the dataset's size, and a machine that cannot see the dataset refuses it in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from latentq import datasets, prepared

SIDE = 16


def draw_shapes(folder: Path, count: int, side: int = SIDE, classes: tuple[str, ...] = ("discs", "boxes")) -> Path:
    """Coloured discs and boxes on coloured backgrounds, one sub-folder per class."""
    rng = np.random.default_rng(count)
    for i in range(count):
        label = classes[i % len(classes)]
        (folder / label).mkdir(parents=True, exist_ok=True)
        img = Image.new("RGB", (side, side), tuple(int(v) for v in rng.integers(0, 120, 3)))
        pen = ImageDraw.Draw(img)
        a, b = sorted(rng.integers(1, side - 1, 2)), sorted(rng.integers(1, side - 1, 2))
        box = (int(a[0]), int(b[0]), int(a[1]) + 1, int(b[1]) + 1)
        colour = tuple(int(v) for v in rng.integers(120, 256, 3))
        (pen.ellipse if label == "discs" else pen.rectangle)(box, fill=colour)
        img.save(folder / label / f"{i:05d}.png")
    return folder


@pytest.fixture
def shapes(lq_home, tmp_path) -> str:
    prepared.prepare(draw_shapes(tmp_path / "shapes", 64), "shapes", lq_home, prepared.Options(), workers=1)
    return "data:shapes"


def _is_colour_png(path: Path) -> bool:
    with Image.open(path) as img:
        arr = np.asarray(img.convert("RGB")).astype(int)
    return img.mode == "RGB" and bool(np.abs(arr[..., 0] - arr[..., 1]).max() > 0)


# (recipe, its tiny parameters, the picture kind that must be in colour)
FAMILIES = [
    ("conv-ae", {"filters": 4, "stages": 2}, "reconstructions"),
    ("denoising-ae", {"hidden": 16, "codings": 4, "mirror": "true"}, "denoised"),
    ("greedy-ae", {"hidden": 16, "codings": 4, "phases": 2}, "reconstructions"),
    ("pretrain-classifier", {"hidden": 16, "codings": 4, "labels": 4, "classifier_epochs": 1}, "reconstructions"),
    ("conv-vae", {"codings": 3, "filters1": 4, "filters2": 8, "hidden": 8, "eval_samples": 20}, "samples"),
    ("dcgan", {"codings": 4, "filters": 4, "kernel_size": 3, "eval_samples": 20, "mirror": "true"}, "samples"),
    ("progan", {"start_resolution": 8, "filters": 4, "codings": 8, "eval_samples": 20}, "samples"),
    ("stylegan", {"codings": 8, "w_dim": 8, "filters": 4, "mapping_layers": 1, "eval_samples": 20}, "samples"),
]


@pytest.mark.parametrize("recipe, params, kind", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_every_family_trains_one_epoch_on_a_prepared_rgb_dataset(shapes, train, recipe, params, kind):
    from support import artifact_paths

    status = train(recipe, dataset=shapes, epochs=1, batch_size=16, **params)
    assert status["status"] == "succeeded", status.get("error")
    pictures = artifact_paths(status, kind)
    assert pictures, [a["kind"] for a in status["artifacts"]]
    assert all(_is_colour_png(p) for p in pictures), pictures


def test_the_order_is_fixed_by_seed_and_epoch_and_resumes_at_a_batch(shapes):
    from latentq.models.inputs import TrainInput

    source = datasets.open_source(shapes, seed=3)
    stream = TrainInput(source, 8, yields="xy")
    again = TrainInput(datasets.open_source(shapes, seed=3), 8, yields="xy")

    def batches(inp, epoch, start=0):
        return [(x.numpy(), y.numpy()) for x, y in inp.dataset(epoch, start)]

    first, second = batches(stream, 0), batches(stream, 1)
    assert len(first) == stream.steps == -(-source.train_count // 8)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(first, batches(again, 0)))
    order0, order1 = stream.order(0), stream.order(1)
    assert sorted(order0) == sorted(order1) == sorted(source.train_index)  # each epoch sees every image once
    assert not np.array_equal(order0, order1)
    assert not np.array_equal(TrainInput(datasets.open_source(shapes, seed=4), 8).order(0), order0)
    resumed = batches(again, 1, start=3)
    assert len(resumed) == stream.steps - 3
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(second[3:], resumed))
    x, y = first[0]
    assert x.dtype == np.float32 and x.shape == (8, SIDE, SIDE, 3) and 0.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_allclose(x, source.read(stream.batch_indices(0, 0)), atol=1e-6)
    np.testing.assert_array_equal(y, source.labels[stream.batch_indices(0, 0)])
    flipped = [x.numpy() for x in TrainInput(source, 8, mirror=True).dataset(0)]
    plain = [b[0] for b in first]
    assert any(not np.array_equal(a, b) for a, b in zip(flipped, plain))
    for a, b in zip(flipped, plain):  # each image is itself or its mirror image
        assert all(np.array_equal(p, q) or np.array_equal(p, q[:, ::-1]) for p, q in zip(a, b))


def test_a_uint8_npz_is_read_in_place_and_splits_like_before(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, size=(30, 5, 6, 3), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(30) % 3)
    source = datasets.open_source(f"npz:{tmp_path / 'd.npz'}", seed=2)
    assert isinstance(source.pixels, datasets.FilePixels)
    picks = np.array([7, 3, 4, 5, 29, 3])
    np.testing.assert_array_equal(source.read_raw(picks), x[picks])
    np.testing.assert_allclose(source.read(picks), x[picks] / 255.0, atol=1e-6)
    order = np.random.default_rng(2).permutation(30)
    np.testing.assert_array_equal(source.val_index, order[:3])
    np.savez_compressed(tmp_path / "c.npz", x=x)
    assert isinstance(datasets.open_source(f"npz:{tmp_path / 'c.npz'}").pixels, datasets.ArrayPixels)


RSS_PROBE = textwrap.dedent("""
    import json, sys
    from latentq import datasets
    from latentq.models.inputs import TrainInput

    def rss_kb():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

    source = datasets.open_source(sys.argv[1], seed=0)
    stream = TrainInput(source, 64, yields="x")
    start = rss_kb()
    for epoch in range(2):
        for batch in stream.dataset(epoch):
            pass
    print(json.dumps({"grown_kb": rss_kb() - start}))
""")


def test_memory_does_not_follow_the_dataset_size(lq_home, tmp_path):
    """A pass over 3,000 64x64 RGB images (36 MB of pixels) grows the process no more than one
    over 300 (and far less than the pixels: pages read are not kept)."""
    root = prepared.root_of(lq_home)
    rng = np.random.default_rng(0)
    for name, count in (("small", 300), ("large", 3000)):
        folder = root / name
        folder.mkdir(parents=True)
        pixels = rng.integers(0, 256, size=(count, 64, 64, 3), dtype=np.uint8)
        pixels.tofile(folder / prepared.PIXELS)
        manifest = prepared.Manifest(name=name, count=count, shape=(64, 64, 3), channels="rgb", classes=[],
                                     source=str(tmp_path), source_fingerprint="-", options={}, sha256="-")
        (folder / prepared.MANIFEST).write_text(json.dumps(manifest.to_json()))
    grown = {}
    for name in ("small", "large"):
        done = subprocess.run([sys.executable, "-c", RSS_PROBE, f"data:{name}"], capture_output=True, text=True,
                              env={**os.environ, "LATENTQ_HOME": str(lq_home)}, timeout=240)
        assert done.returncode == 0, done.stderr[-2000:]
        grown[name] = json.loads(done.stdout.strip().splitlines()[-1])["grown_kb"]
    assert grown["large"] < grown["small"] + 24 * 1024, grown  # 36 MB of pixels read twice: not kept


def test_a_worker_with_another_home_refuses_the_dataset_in_one_line(shapes, store, settings, lq_home, tmp_path,
                                                                     monkeypatch):
    """The run was checked where the dataset is; a worker whose LATENTQ_HOME lacks it (a wrong
    mount) fails the run with read_manifest's line as its error, before any training."""
    from latentq.settings import load_settings
    from latentq.spec import build_spec
    from latentq.worker.jobs import execute_run

    spec = build_spec(kind="train", recipe="dcgan", dataset=shapes, epochs=1, batch_size=16, seed=0, params={})
    run_id, _ = store.create_run(spec.model_dump(mode="json"))
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("LATENTQ_HOME", str(elsewhere))
    monkeypatch.setenv("LATENTQ_DB_URL", settings.db_url)
    status = execute_run(run_id, load_settings())
    assert status["status"] == "failed"
    error = status["error"]
    assert "\n" not in error and error.startswith("dataset data:shapes: not prepared under"), error
    assert str(prepared.root_of(elsewhere)) in error and "latentq data prepare" in error
    assert not (elsewhere / "runs" / run_id / "checkpoints").exists()
