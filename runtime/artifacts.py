"""Where a run's files live: the one seam between the code that writes and reads artifacts and
the storage behind them.

Everything a run writes or reads (spec.json, checkpoints, model.keras, pictures, TensorBoard
events, run.log, the shared quality cache) goes through an `ArtifactStore`, named by a relative
posix name ("images/samples/epoch_003.png"). `LocalArtifacts` keeps them on this disk under
LATENTQ_HOME: `runs/<run-id>/...` for a run (`run_files`), `cache/...` for what runs share
(`cache_files`). Another store (object storage) implements the same protocol; nothing outside
this module knows where the bytes go.

Names given by users (run ids, file names in a URL) never leave the store's root: "..", absolute
names and NUL bytes are refused, and so is a symlink that points outside it. TensorFlow-free."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import shutil
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Callable, ContextManager, Iterator, Optional, Protocol, Union

from latentq.errors import UserError
from latentq.files import atomic_write, inside
from latentq.settings import Settings

Writer = Callable[[Path], None]  # writes the whole file at the path it is given
RUNS = "runs"  # Settings.artifact_root: LATENTQ_HOME/runs
CACHE = "cache"  # shared across runs: the quality classifiers and their references, FID weights


class ArtifactStore(Protocol):
    """Files by relative name under one root (a run's folder, the shared cache, ...)."""

    def put(self, name: str, data: Union[bytes, Writer]) -> str:
        """Write the whole file at once, atomically (a reader sees the old file or the new one,
        never half of one; a writer that raises leaves no file). `data` is the bytes or a
        callback writing them to a local path it is handed (Keras, Pillow, numpy, matplotlib).
        Returns where it went (`location`)."""

    def open(self, name: str) -> BinaryIO:
        """The file for reading, in binary (FileNotFoundError when there is none)."""

    def exists(self, name: str) -> bool: ...

    def list(self, prefix: str = "") -> list[str]:
        """The names of the files under `prefix` (recursive, sorted), relative to this store."""

    def delete(self, name: str) -> None:
        """Remove a file, or everything under a prefix; nothing there is not an error."""

    def local_path(self, name: str) -> ContextManager[Path]:
        """A local file or folder for libraries that want a path (Keras load, TensorBoard's event
        writer, an appended log). Locally: the final place, written in place (use `put` to write
        atomically). A remote store: a temp copy, uploaded when the context ends."""

    def lock(self, name: str) -> ContextManager[None]:
        """Held by one process at a time (e.g. training a shared classifier once)."""

    def version(self, name: str) -> str:
        """Changes whenever the file is replaced (locally: size and mtime; remotely: its etag)."""

    def scope(self, prefix: str) -> "ArtifactStore":
        """The files under `prefix`, as a store of their own that cannot reach outside it."""

    def location(self, name: str = "") -> str:
        """Where a file is, for people (status JSON, messages): locally its absolute path."""


def _checked(name: str) -> str:
    """`name` as a relative posix name inside the store; UserError for "..", absolute names, NUL."""
    if not isinstance(name, str) or "\0" in name:
        raise UserError(f"artifact name {name!r}: must be text without NUL bytes")
    parts = PurePosixPath(name).parts
    if name.startswith(("/", "\\")) or PurePosixPath(name).is_absolute() or ".." in parts:
        raise UserError(f"artifact name {name!r} escapes its folder: use a relative name without '..'")
    return "/".join(p for p in parts if p != ".")


def _is_temp(name: str) -> bool:
    """A file `atomic_write` is still writing (".<stem>.XXXX.tmp<suffix>")."""
    return name.startswith(".") and ".tmp" in name


class LocalArtifacts:
    """An ArtifactStore on this disk, rooted at `root` (created on first write)."""

    def __init__(self, root: Union[str, Path]):
        self.root = Path(root).expanduser().resolve()

    def __repr__(self) -> str:
        return f"LocalArtifacts({str(self.root)!r})"

    def path(self, name: str = "") -> Path:
        """The file's place on this disk (this store only: a remote store has none)."""
        name = _checked(name)
        return inside(self.root, name) if name else self.root

    def put(self, name: str, data: Union[bytes, Writer]) -> str:
        if not _checked(name):
            raise UserError("artifact name is empty: name a file to write")
        path = self.path(name)
        if isinstance(data, (bytes, bytearray, memoryview)):
            payload = bytes(data)
            atomic_write(path, lambda tmp: tmp.write_bytes(payload))
        else:
            atomic_write(path, data)
        return str(path)

    def open(self, name: str) -> BinaryIO:
        return open(self.path(name), "rb")

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def list(self, prefix: str = "") -> list[str]:
        top = self.path(prefix)
        if top.is_file():
            return [top.relative_to(self.root).as_posix()]
        if not top.is_dir():
            return []
        found = []
        for path in top.rglob("*"):
            if path.is_file() and not _is_temp(path.name):
                found.append(path.relative_to(self.root).as_posix())
        return sorted(found)

    def delete(self, name: str) -> None:
        path = self.path(name)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def local_path(self, name: str) -> Iterator[Path]:
        path = self.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        yield path

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        path = self.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # released when the holder exits, even if killed
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def version(self, name: str) -> str:
        stat = self.path(name).stat()
        return f"{stat.st_size}-{stat.st_mtime_ns}"

    def scope(self, prefix: str) -> "LocalArtifacts":
        if not _checked(prefix):
            raise UserError("artifact scope is empty: name a folder")
        return LocalArtifacts(self.path(prefix))

    def location(self, name: str = "") -> str:
        return str(self.path(name))


def put_json(files: ArtifactStore, name: str, data: Any) -> str:
    return files.put(name, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def read_json(files: ArtifactStore, name: str) -> Optional[Any]:
    """The parsed file, or None when there is none."""
    try:
        with files.open(name) as fh:
            return json.loads(fh.read())
    except FileNotFoundError:
        return None


def as_store(where: Union[str, os.PathLike, ArtifactStore]) -> ArtifactStore:
    """A store as is; a local folder as a LocalArtifacts rooted there (scripts and tests)."""
    return LocalArtifacts(where) if isinstance(where, (str, os.PathLike)) else where


@functools.lru_cache(maxsize=8)
def artifacts(settings: Settings) -> ArtifactStore:
    """The one artifact store of these settings: LATENTQ_HOME on this disk."""
    return LocalArtifacts(settings.home)


def runs(settings: Settings) -> ArtifactStore:
    """Every run's folder: runs/<run-id>/ (Settings.artifact_root)."""
    return artifacts(settings).scope(RUNS)


def run_files(settings: Settings, run_id: str) -> ArtifactStore:
    """One run's files; a run id that would leave runs/ is a UserError."""
    return runs(settings).scope(run_id)


def cache_files(settings: Settings) -> ArtifactStore:
    """What runs share: cache/ (not under any run's folder)."""
    return artifacts(settings).scope(CACHE)
