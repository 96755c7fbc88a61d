"""Atomic file writes and safe paths under the artifact root."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from latentq.errors import UserError


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call write(tmp_path) then rename onto path: a reader never sees half a file.

    The temp file keeps the suffix so writers that look at it (Keras, Pillow) stay happy."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    except OSError as exc:  # the error names the file asked for, not a temp name or a parent
        raise type(exc)(exc.errno, exc.strerror, str(path)) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        # mkstemp makes 0600; the file gets what any other file of this process would (0666 less
        # the umask), so a shared artifact volume stays readable by the fleet and a web server.
        os.chmod(tmp, 0o666 & ~current_umask())
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def current_umask() -> int:
    """The process's umask: from /proc where there is one (os.umask can only read it by setting
    it, which would race with threads creating files meanwhile)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def atomic_write_json(path: Path, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def inside(root: Path, relative: str) -> Path:
    """root/relative, refusing anything that would land outside root (.., absolute, symlinks)."""
    root = root.resolve()
    target = (root / relative).resolve()
    if target != root and root not in target.parents:
        raise UserError(f"path {relative!r} escapes the artifact root {str(root)!r}")
    return target
