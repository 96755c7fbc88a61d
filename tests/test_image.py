"""The Docker image's install step, without Docker: the wheel is built from exactly the files the
Dockerfile copies before its `pip install` (read from the Dockerfile's COPY lines, not listed
again here), and holds every latentq package pyproject.toml declares.

Not tested here: the base image, pip resolving the dependencies inside it, and the image's
entry point (no daemon or registry on CI)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from support import ROOT

tomllib = pytest.importorskip("tomllib")  # Python 3.11+


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction: comments dropped, backslash continuations joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def copied_before_install(dockerfile: Path) -> list[tuple[list[str], str]]:
    """(sources, destination) of every COPY before the `RUN pip install`: what the install sees."""
    copies = []
    for word, rest in _instructions(dockerfile):
        if word == "RUN" and "pip install" in rest:
            return copies
        if word == "COPY":
            if rest.startswith("["):
                import json

                parts = json.loads(rest)
            else:
                parts = [p for p in shlex.split(rest) if not p.startswith("--")]
            if any(p.startswith("--from") for p in shlex.split(rest)):
                continue  # from another stage, not the build context
            copies.append((parts[:-1], parts[-1]))
    raise AssertionError("the Dockerfile has no `RUN pip install` step")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _stage(dockerfile: Path, into: Path) -> None:
    """What the image's WORKDIR holds at its `pip install`: the COPY lines applied to the context."""
    for sources, dest in copied_before_install(dockerfile):
        target = into / dest
        for source in sources:
            src = ROOT / source
            assert src.exists(), f"the Dockerfile copies {source}, which does not exist"
            if src.is_dir():
                # `COPY dir dest` copies the folder's contents into dest.
                shutil.copytree(src, target, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                placed = target / src.name if dest.endswith("/") or len(sources) > 1 else target
                placed.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, placed)


def test_the_dockerfile_copies_every_package_folder_before_installing():
    copied = {Path(s).parts[0] for sources, _ in copied_before_install(ROOT / "Dockerfile") for s in sources}
    folders = {Path(d).parts[0] for d in _pyproject()["tool"]["setuptools"]["package-dir"].values()}
    assert folders - copied == set(), f"pyproject.toml maps packages to {sorted(folders - copied)}, not copied"
    assert {"pyproject.toml", "README.md"} <= copied  # the build reads both


def test_the_copy_parser_reads_continuations_and_lists(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text('FROM x\n# COPY nothing here\nCOPY a \\\n  b ./\nCOPY ["c", "d"]\nRUN pip install .\n'
                          "COPY tests tests\n")
    assert copied_before_install(dockerfile) == [(["a", "b"], "./"), (["c"], "d")]


def test_a_wheel_built_from_the_dockerfiles_files_holds_every_package(tmp_path):
    context = tmp_path / "app"
    context.mkdir()
    _stage(ROOT / "Dockerfile", context)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
         str(tmp_path / "dist"), str(context)],
        capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    wheels = list((tmp_path / "dist").glob("latentq-*.whl"))
    assert len(wheels) == 1
    names = set(zipfile.ZipFile(wheels[0]).namelist())
    missing = [package for package in _pyproject()["tool"]["setuptools"]["packages"]
               if package.replace(".", "/") + "/__init__.py" not in names]
    assert not missing, f"the image's wheel lacks {missing}"
    assert {"latentq/web/templates/base.html", "latentq/web/static/app.css"} <= names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "latentq = latentq.cli.main:main" in zipfile.ZipFile(wheels[0]).read(entry_points).decode()


def test_a_missing_package_folder_fails_the_build(tmp_path):
    folder = "web"
    """The failure this test exists for: the Dockerfile once left `web` out."""
    context = tmp_path / "app"
    context.mkdir()
    _stage(ROOT / "Dockerfile", context)
    shutil.rmtree(context / folder)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
         str(tmp_path / "dist"), str(context)],
        capture_output=True, text=True, timeout=300)
    assert built.returncode != 0
    assert f"'{folder}' does not exist" in built.stdout + built.stderr
