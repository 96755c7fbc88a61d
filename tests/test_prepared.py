"""`latentq data prepare`: real folders of real image files, prepared into data:NAME."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from latentq import datasets, prepared
from latentq.data_checks import facts_for
from latentq.errors import UserError


def draw(path: Path, size: tuple[int, int], mode: str = "RGB", colour=(200, 40, 90)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new(mode, size, 0 if mode == "L" else (10, 20, 30))
    fill = 200 if mode == "L" else colour
    ImageDraw.Draw(img).rectangle((size[0] // 4, size[1] // 4, 3 * size[0] // 4, 3 * size[1] // 4), fill=fill)
    img.save(path)
    return path


@pytest.fixture
def photos(tmp_path) -> Path:
    """Two classes of mixed sizes and formats, the first file (in sorted order) grey."""
    src = tmp_path / "photos"
    sizes = [(40, 30), (64, 64), (100, 80)]
    for i in range(6):
        draw(src / "cats" / f"a{i}.png", sizes[i % 3], mode="L" if i == 0 else "RGB")
        draw(src / "dogs" / f"b{i}.jpg", sizes[(i + 1) % 3], colour=(30, 200, 60))
    return src


def cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {"LATENTQ_HOME": str(home), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "latentq.cli.main", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_mixed_sizes_and_modes_become_one_colour_dataset(photos, lq_home):
    result = prepared.prepare(photos, "pets", lq_home, prepared.Options(size=(32, 32)), workers=2)
    m = result.manifest
    assert result.created and m.count == 12 and m.shape == (32, 32, 3) and m.channels == "rgb"
    assert m.classes == ["cats", "dogs"]
    root = prepared.root_of(lq_home)
    pixels = prepared.open_pixels(root, m)
    labels = prepared.open_labels(root, m)
    assert pixels.dtype == np.uint8 and pixels.shape == (12, 32, 32, 3)
    assert list(labels) == [0] * 6 + [1] * 6
    grey = pixels[0]  # the grey first file, converted like every other: equal channels
    assert (grey[..., 0] == grey[..., 1]).all() and grey.max() > 150
    dog = pixels[6].astype(int)
    assert dog[16, 16, 1] > dog[16, 16, 0] + 100  # green stays green: colour kept
    assert (root / "pets" / "manifest.json").stat().st_mode & 0o044  # readable by the fleet


def test_preparing_again_is_a_no_op_and_another_source_under_the_name_is_refused(photos, tmp_path, lq_home):
    options = prepared.Options(size=(16, 16))
    first = prepared.prepare(photos, "pets", lq_home, options, workers=1)
    again = prepared.prepare(photos, "pets", lq_home, options, workers=1)
    assert not again.created and again.manifest.sha256 == first.manifest.sha256
    with pytest.raises(UserError, match="already used by a dataset prepared from other options"):
        prepared.prepare(photos, "pets", lq_home, prepared.Options(size=(8, 8)), workers=1)
    other = tmp_path / "other"
    for i in range(3):
        draw(other / f"x{i}.png", (20, 20))
    with pytest.raises(UserError, match=str(photos.resolve())):
        prepared.prepare(other, "pets", lq_home, options, workers=1)


@pytest.mark.parametrize("transform", ["center-crop", "pad", "stretch"])
def test_each_transform_gives_the_asked_size(photos, lq_home, transform):
    m = prepared.prepare(photos, f"t-{transform}", lq_home,
                         prepared.Options(size=(24, 12), transform=transform, channels="grey"), workers=1).manifest
    assert m.shape == (12, 24, 1) and m.channels == "grey"
    pixels = prepared.open_pixels(prepared.root_of(lq_home), m)
    if transform == "pad":  # a 64x64 image letterboxed into 24x12: black columns at the sides
        assert pixels[1][:, 0].max() == 0 and pixels[1][:, -1].max() == 0


def test_corrupt_file_is_named_or_skipped(photos, lq_home):
    (photos / "dogs" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(UserError, match="broken.png.*--skip-bad"):
        prepared.prepare(photos, "pets", lq_home, prepared.Options(size=(16, 16)), workers=1)
    root = prepared.root_of(lq_home)
    assert not root.exists() or not list(root.iterdir())  # no half-made folder left
    m = prepared.prepare(photos, "pets", lq_home, prepared.Options(size=(16, 16), skip_bad=True),
                         workers=1).manifest
    assert m.count == 12 and [s["file"] for s in m.skipped] == ["dogs/broken.png"]


def test_mixed_sizes_without_a_size_say_how(photos, lq_home):
    with pytest.raises(UserError, match="3 different sizes.*--resolution"):
        prepared.prepare(photos, "pets", lq_home, prepared.Options(), workers=1)


@pytest.mark.parametrize("options, message", [
    (prepared.Options(size=(3, 3)), "4..4096"),
    (prepared.Options(size=(5000, 5000)), "4..4096"),
    (prepared.Options(transform="zoom"), "allowed: center-crop, pad, stretch"),
    (prepared.Options(channels="cmyk"), "allowed: rgb, grey"),
])
def test_bad_options_are_one_line(photos, lq_home, options, message):
    with pytest.raises(UserError, match=message):
        prepared.prepare(photos, "pets", lq_home, options, workers=1)
    assert not prepared.root_of(lq_home).exists() or not list(prepared.root_of(lq_home).iterdir())


def test_bad_sources_and_names(tmp_path, lq_home):
    with pytest.raises(UserError, match="is not a folder"):
        prepared.prepare(tmp_path / "nothing", "x", lq_home, prepared.Options(), workers=1)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("hi")
    with pytest.raises(UserError, match="no images found"):
        prepared.prepare(tmp_path / "empty", "x", lq_home, prepared.Options(), workers=1)
    with pytest.raises(UserError, match="dataset name"):
        prepared.prepare(tmp_path / "empty", "../up", lq_home, prepared.Options(), workers=1)


def test_training_reads_facts_from_the_manifest_and_checks_the_pixel_file(photos, lq_home):
    m = prepared.prepare(photos, "pets", lq_home, prepared.Options(size=(16, 16)), workers=1).manifest
    facts = facts_for("data:pets")
    assert facts.samples == 12 and facts.sample_shape == (16, 16, 3) and facts.classes == 2
    data = datasets.load("data:pets", seed=0)
    assert data.x_train.shape[1:] == (16, 16, 3) and len(data.x_train) + len(data.x_val) == 12
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    pixels = prepared.root_of(lq_home) / "pets" / prepared.PIXELS
    with open(pixels, "r+b") as fh:
        fh.truncate(m.pixel_bytes - 10)
    with pytest.raises(UserError, match="prepare it again"):
        datasets.load("data:pets")


def test_a_machine_without_the_dataset_refuses_in_one_line(lq_home):
    with pytest.raises(UserError, match=r"data:missing: not prepared under .*latentq data prepare"):
        datasets.check("data:missing")


def test_images_folder_of_mixed_sizes_points_to_prepare(photos):
    with pytest.raises(UserError, match="latentq data prepare"):
        datasets.load(f"images:{photos / 'cats'}")


def test_images_folder_with_a_grey_first_file_stays_in_colour(tmp_path):
    folder = tmp_path / "few"
    draw(folder / "a.png", (12, 12), mode="L")
    for i in range(5):
        draw(folder / f"b{i}.png", (12, 12))
    data = datasets.load(f"images:{folder}")
    assert data.x_train.shape[1:] == (12, 12, 3)


def test_the_cli_prepares_lists_and_says_when_nothing_is_to_do(photos, tmp_path):
    home = tmp_path / "clihome"
    done = cli("data", "prepare", str(photos), "pets", "--resolution", "16", home=home)
    assert done.returncode == 0, done.stderr
    assert "data:pets: 12 images, 16x16 rgb, 2 classes" in done.stdout
    again = cli("data", "prepare", str(photos), "pets", "--resolution", "16", home=home)
    assert again.returncode == 0 and "nothing to do" in again.stdout
    listed = cli("datasets", "--json", home=home)
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["data:pets"]["count"] == 12 and rows["data:pets"]["bytes"] >= 12 * 16 * 16 * 3
    bad = cli("data", "prepare", str(photos), "other", "--resolution", "2", home=home)
    assert bad.returncode != 0 and bad.stderr.strip().startswith("Error:") and len(bad.stderr.strip().splitlines()) == 1
