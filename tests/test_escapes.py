"""User-supplied names and files never escape the artifact root; broken inputs name themselves."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from support import cli, invoke
from latentq.errors import UserError
from latentq.files import inside


@pytest.mark.parametrize("name", ["../up", "/etc/passwd", "a/b", "..", ".hidden", "x" * 65])
def test_run_names_that_could_become_paths_are_refused(lq_home, name):
    result = invoke(["run", "linear-ae", "--name", name])
    assert result.code == 2 and len(result.error_lines) == 1 and "name" in result.error_lines[0]
    assert not (lq_home / "runs").exists()


@pytest.mark.parametrize("parent", ["../up", "/etc", "a/b", ".."])
def test_a_generation_parent_is_a_run_id_never_a_path(parent):
    from latentq.spec import build_spec

    with pytest.raises(UserError, match="parent"):
        build_spec(kind="generate", recipe="vae", dataset="digits", parent=parent)


def test_paths_are_resolved_inside_the_root(tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    assert inside(root, "abc") == root.resolve() / "abc"
    for bad in ("../x", "/etc", "a/../../x"):
        with pytest.raises(UserError, match="escapes the artifact root"):
            inside(root, bad)
    (root / "link").symlink_to(tmp_path)  # a symlinked run folder pointing outside
    with pytest.raises(UserError, match="escapes the artifact root"):
        inside(root, "link/x")


def test_an_image_folder_with_a_link_outside_it_is_refused(tmp_path, lq_home):
    from latentq import datasets

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(folder / f"{i}.png")
    secret = tmp_path / "secret.png"
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(secret)
    os.symlink(secret, folder / "sneaky.png")
    with pytest.raises(UserError, match="outside the dataset folder"):
        datasets.load(f"images:{folder}")


def test_a_corrupt_image_is_refused_naming_the_file(tmp_path, lq_home):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(np.full((8, 8), 30 * i, dtype=np.uint8)).save(folder / f"{i}.png")
    (folder / "truncated.png").write_bytes((folder / "0.png").read_bytes()[:20])
    result = cli("run", "stacked-ae", "--dataset", f"images:{folder}", "--epochs", "1", "--json")
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "truncated.png" in lines[0], result.stderr
    assert not (lq_home / "runs").exists()
