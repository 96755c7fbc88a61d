"""Prepared datasets: a folder of images turned once into uint8 pixels plus a manifest.

`latentq data prepare SOURCE NAME` decodes every image of SOURCE (recursively; class
sub-folders become labels), converts it to one channel layout and one size (`--resolution` or
`--size`, with stylegan2-ada's `dataset_tool.py` transforms: center-crop, pad, stretch), and
writes under LATENTQ_HOME/datasets/NAME/:

- `pixels.u8`: the images as one row-major uint8 array (count, height, width, channels), so a
  reader memory-maps it (numpy.memmap) and touches only the pages it reads;
- `labels.npy`: one int64 class number per image (absent when unlabelled);
- `manifest.json`: count, shape, channels, class names, value range, the transform and size,
  the source and a fingerprint of its files, the SHA-256 of the pixels, skipped files.

The folder is built under a temporary name and renamed into place, so a worker sharing the
volume sees a whole dataset or none. Training names it `data:NAME`. Decoding runs in worker
processes; no TensorFlow is imported here.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from latentq.errors import UserError, clip

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
TRANSFORMS = ("center-crop", "pad", "stretch")
CHANNELS = ("rgb", "grey")
MIN_SIDE, MAX_SIDE = 4, 4096
NAME_RULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MANIFEST, PIXELS, LABELS = "manifest.json", "pixels.u8", "labels.npy"
FORMAT = 1


@dataclass(frozen=True)
class Options:
    """How a folder is prepared; the same source with the same options is the same dataset."""

    size: Optional[tuple[int, int]] = None  # (width, height); None: the images' own, if they share one
    transform: str = "center-crop"
    channels: Optional[str] = None  # None: rgb if any image is in colour, else grey
    labels: str = "auto"  # auto: class sub-folders if there are any; none
    max_images: Optional[int] = None
    skip_bad: bool = False

    def check(self) -> None:
        if self.size is not None:
            for side in self.size:
                if not MIN_SIDE <= side <= MAX_SIDE:
                    raise UserError(f"image size {self.size[0]}x{self.size[1]}: each side must be "
                                    f"{MIN_SIDE}..{MAX_SIDE} pixels")
        if self.transform not in TRANSFORMS:
            raise UserError(f"unknown transform {clip(self.transform)}; allowed: {', '.join(TRANSFORMS)}")
        if self.channels is not None and self.channels not in CHANNELS:
            raise UserError(f"unknown channels {clip(self.channels)}; allowed: {', '.join(CHANNELS)}")
        if self.labels not in ("auto", "none"):
            raise UserError(f"unknown labels {clip(self.labels)}; allowed: auto, none")
        if self.max_images is not None and self.max_images < 1:
            raise UserError(f"--max-images must be at least 1, got {self.max_images}")


@dataclass
class Manifest:
    name: str
    count: int
    shape: tuple[int, int, int]  # (height, width, channels)
    channels: str
    classes: list[str]
    source: str
    source_fingerprint: str
    options: dict
    sha256: str
    skipped: list[dict] = field(default_factory=list)
    created_at: float = 0.0
    format: int = FORMAT

    @property
    def labelled(self) -> bool:
        return bool(self.classes)

    @property
    def pixel_bytes(self) -> int:
        h, w, c = self.shape
        return self.count * h * w * c

    def to_json(self) -> dict:
        return {"format": self.format, "name": self.name, "count": self.count, "shape": list(self.shape),
                "channels": self.channels, "classes": self.classes, "value_range": [0, 255],
                "dtype": "uint8", "layout": "count,height,width,channels", "source": self.source,
                "source_fingerprint": self.source_fingerprint, "options": self.options,
                "sha256": self.sha256, "skipped": self.skipped, "created_at": self.created_at}

    @classmethod
    def from_json(cls, data: dict) -> "Manifest":
        return cls(name=data["name"], count=int(data["count"]), shape=tuple(data["shape"]),
                   channels=data["channels"], classes=list(data["classes"]), source=data["source"],
                   source_fingerprint=data["source_fingerprint"], options=data["options"],
                   sha256=data["sha256"], skipped=list(data.get("skipped", [])),
                   created_at=float(data.get("created_at", 0)), format=int(data.get("format", FORMAT)))


# ---- where prepared datasets live -------------------------------------------------------------


def root_of(home: Path) -> Path:
    """LATENTQ_HOME/datasets: on the artifact volume that every worker of a fleet shares."""
    return home / "datasets"


def check_name(name: str) -> None:
    if not NAME_RULE.match(name or ""):
        raise UserError(f"dataset name {clip(name)}: use 1-64 letters, digits, '.', '_' or '-', "
                        "starting with a letter or digit")


def read_manifest(root: Path, name: str) -> Manifest:
    """The manifest of a prepared dataset; a one-line error when this machine cannot see it."""
    check_name(name)
    path = root / name / MANIFEST
    try:
        return Manifest.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        raise UserError(f"dataset data:{name}: not prepared under {root} on this machine (prepare it with "
                        f"`latentq data prepare FOLDER {name}`; a fleet shares LATENTQ_HOME's volume)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"dataset data:{name}: unreadable manifest {path} ({exc})") from None


def verify(root: Path, manifest: Manifest) -> None:
    """The pixel file is whole: its size is what the manifest says (cheap; no checksum pass)."""
    path = root / manifest.name / PIXELS
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UserError(f"dataset data:{manifest.name}: cannot read {path} ({exc.strerror or exc})") from None
    if size != manifest.pixel_bytes:
        raise UserError(f"dataset data:{manifest.name}: {path} holds {size} bytes, its manifest says "
                        f"{manifest.pixel_bytes}; prepare it again")


def open_pixels(root: Path, manifest: Manifest) -> np.ndarray:
    """The pixels as a read-only memory map, shape (count, height, width, channels)."""
    verify(root, manifest)
    return np.memmap(root / manifest.name / PIXELS, dtype=np.uint8, mode="r",
                     shape=(manifest.count, *manifest.shape))


def open_labels(root: Path, manifest: Manifest) -> Optional[np.ndarray]:
    if not manifest.labelled:
        return None
    return np.load(root / manifest.name / LABELS, mmap_mode="r")


def listing(root: Path) -> list[dict]:
    """Every prepared dataset: name, count, shape, classes, bytes on disk, source."""
    rows = []
    if not root.is_dir():
        return rows
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            m = Manifest.from_json(json.loads((folder / MANIFEST).read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        on_disk = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
        rows.append({"name": f"data:{m.name}", "count": m.count, "shape": list(m.shape), "channels": m.channels,
                     "classes": len(m.classes), "bytes": on_disk, "source": m.source,
                     "skipped": len(m.skipped)})
    return rows


# ---- the source folder ------------------------------------------------------------------------


def list_images(source: Path, labels: str) -> tuple[list[tuple[Path, int]], list[str]]:
    """(image path, class index or -1) of every image under source, in a stable order, and the
    class names: the top-level sub-folders holding images, when labels == "auto"."""
    if not source.is_dir():
        raise UserError(f"{clip(str(source))} is not a folder")
    root = source.resolve()
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files.extend(Path(dirpath) / f for f in sorted(filenames)
                     if Path(f).suffix.lower() in IMAGE_SUFFIXES and not f.startswith("."))
    files = [f for f in files if f.is_file() and root in f.resolve().parents]  # links out of the folder: ignored
    if not files:
        raise UserError(f"{clip(str(source))}: no images found ({', '.join(sorted(IMAGE_SUFFIXES))})")
    classes: list[str] = []
    if labels == "auto":
        tops = sorted({f.relative_to(root).parts[0] for f in files if len(f.relative_to(root).parts) > 1})
        loose = [f for f in files if len(f.relative_to(root).parts) == 1]
        if tops and not loose:
            classes = tops
    index = {c: i for i, c in enumerate(classes)}
    return [(f, index[f.relative_to(root).parts[0]] if classes else -1) for f in files], classes


def fingerprint(files: list[tuple[Path, int]], root: Path) -> str:
    """What the source folder holds: names, sizes and modification times of its images."""
    digest = hashlib.sha256()
    for path, _ in files:
        st = path.stat()
        digest.update(f"{path.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


# ---- decoding, in worker processes -------------------------------------------------------------


def _header(path: str) -> tuple[Optional[str], Optional[tuple[int, int]], Optional[str]]:
    """(mode, (width, height), error) from the file's header only."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.mode, img.size, None
    except Exception as exc:
        return None, None, f"{type(exc).__name__}: {exc}"


def _is_colour(mode: str) -> bool:
    return mode not in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")


def _fit(img, size: tuple[int, int], transform: str):
    """stylegan2-ada dataset_tool's transforms: crop to the target's aspect ratio around the
    centre, or pad (letterbox, black borders), or stretch; then Lanczos to the target size."""
    from PIL import Image

    width, height = size
    if img.size == size:
        return img
    if transform == "stretch":
        return img.resize(size, Image.LANCZOS)
    w, h = img.size
    if transform == "center-crop":
        scale = max(width / w, height / h)
        crop_w, crop_h = min(w, round(width / scale)), min(h, round(height / scale))
        left, top = (w - crop_w) // 2, (h - crop_h) // 2
        return img.crop((left, top, left + crop_w, top + crop_h)).resize(size, Image.LANCZOS)
    scale = min(width / w, height / h)  # pad
    inner = (max(1, round(w * scale)), max(1, round(h * scale)))
    canvas = Image.new(img.mode, size)
    canvas.paste(img.resize(inner, Image.LANCZOS), ((width - inner[0]) // 2, (height - inner[1]) // 2))
    return canvas


def _decode(job: tuple[str, tuple[int, int], str, str]) -> tuple[Optional[bytes], Optional[str]]:
    from PIL import Image

    path, size, transform, channels = job
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit / float grey: to 8 bits first
                img = img.point(lambda v: v / 256).convert("L") if img.mode != "F" else img.convert("L")
            if img.mode in ("RGBA", "LA", "P", "PA") and img.mode != ("RGB" if channels == "rgb" else "L"):
                img = img.convert("RGBA")  # transparency over black, the same for every image
                back = Image.new("RGBA", img.size, (0, 0, 0, 255))
                img = Image.alpha_composite(back, img)
            img = img.convert("RGB" if channels == "rgb" else "L")
            return np.asarray(_fit(img, size, transform), dtype=np.uint8).tobytes(), None
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}".splitlines()[0]


def _pool(workers: int):
    import multiprocessing

    # Never fork a process that has imported TensorFlow (not fork-safe); the CLI has not.
    method = "fork" if "tensorflow" not in sys.modules and sys.platform.startswith("linux") else "spawn"
    return multiprocessing.get_context(method).Pool(workers)


# ---- preparing --------------------------------------------------------------------------------


Progress = Callable[[int, int], None]  # (done, total)


@dataclass
class Result:
    manifest: Manifest
    path: Path
    created: bool  # False: the same source and options were already prepared
    seconds: float = 0.0


def prepare(source: Path, name: str, home: Path, options: Options, workers: Optional[int] = None,
            progress: Optional[Progress] = None, replace: bool = False) -> Result:
    check_name(name)
    options.check()
    root = root_of(home)
    source = Path(source).expanduser()
    files, classes = list_images(source, options.labels)
    src_root = source.resolve()
    if options.max_images is not None:
        files = files[: options.max_images]
    stamp = fingerprint(files, src_root)
    wanted = _options_record(options)
    existing = _existing(root, name)
    if existing is not None and not replace:
        if existing.source == str(src_root) and existing.options == wanted and existing.source_fingerprint == stamp:
            return Result(existing, root / name, created=False)
        what = ("other options" if existing.source == str(src_root) and existing.options != wanted
                else "a source that has changed since" if existing.source == str(src_root) else f"{existing.source}")
        raise UserError(f"dataset name {name!r} is already used by a dataset prepared from {what} "
                        f"({existing.count} images, options {json.dumps(existing.options, sort_keys=True)}); "
                        f"this asks for {src_root} with {json.dumps(wanted, sort_keys=True)}: choose another "
                        "name, or pass --replace")
    started = time.monotonic()
    workers = max(1, workers or os.cpu_count() or 1)
    with _pool(workers) as pool:
        size, channels, bad = _survey(pool, files, options, source)
        good = [f for f in files if str(f[0]) not in bad]
        height, width, depth = size[1], size[0], 3 if channels == "rgb" else 1
        per_image = width * height * depth
        _check_space(root, per_image * len(good), name)
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=root))
        try:
            count, digest, labels, skipped = _write(pool, good, size, options, channels, tmp, per_image, progress,
                                                    len(files), source)
            skipped = [{"file": str(Path(p).relative_to(src_root)), "error": e} for p, e in bad.items()] + skipped
            if count < 2:
                raise UserError(f"{clip(str(source))}: fewer than 2 readable images ({len(skipped)} skipped)")
            manifest = Manifest(name=name, count=count, shape=(height, width, depth), channels=channels,
                                classes=classes, source=str(src_root), source_fingerprint=stamp, options=wanted,
                                sha256=digest, skipped=skipped, created_at=time.time())
            if classes:
                np.save(tmp / LABELS, np.asarray(labels[:count], dtype=np.int64))
            (tmp / MANIFEST).write_text(json.dumps(manifest.to_json(), indent=2, sort_keys=True) + "\n")
            for f in tmp.iterdir():
                os.chmod(f, 0o666 & ~_umask())
            os.chmod(tmp, 0o777 & ~_umask())
            final = root / name
            if final.exists():  # --replace: the old one out of the way first, then the new one in
                old = root / f".{name}.old-{os.getpid()}"
                os.replace(final, old)
                os.replace(tmp, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, final)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if exc.errno == errno.ENOSPC:
                raise UserError(f"disk full while preparing {name!r} under {root}: it needs about "
                                f"{_human(per_image * len(good))} free; nothing was kept") from None
            raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return Result(manifest, root / name, created=True, seconds=time.monotonic() - started)


def _options_record(options: Options) -> dict:
    return {"size": list(options.size) if options.size else None, "transform": options.transform,
            "channels": options.channels, "labels": options.labels, "max_images": options.max_images,
            "skip_bad": options.skip_bad}


def _existing(root: Path, name: str) -> Optional[Manifest]:
    try:
        return Manifest.from_json(json.loads((root / name / MANIFEST).read_text()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        raise UserError(f"{root / name} exists but holds no readable manifest; remove it or choose another "
                        "name") from None


def _survey(pool, files, options: Options, source: Path) -> tuple[tuple[int, int], str, dict[str, str]]:
    """Read every header (cheap): the channel layout when not given (colour if ANY image is), the
    common size when not given, and the files that cannot even be opened."""
    bad: dict[str, str] = {}
    colour, sizes = False, {}
    for (path, _), (mode, size, error) in zip(files, pool.imap(_header, [str(p) for p, _ in files], chunksize=64)):
        if error:
            bad[str(path)] = error
            continue
        colour = colour or _is_colour(mode)
        sizes.setdefault(size, path)
    if bad and not options.skip_bad:
        first = next(iter(bad))
        raise UserError(f"{clip(str(source))}: cannot read image {clip(first)} ({bad[first]}); "
                        f"{len(bad)} unreadable in all: fix or remove them, or pass --skip-bad")
    channels = options.channels or ("rgb" if colour else "grey")
    if options.size is not None:
        return options.size, channels, bad
    if len(sizes) > 1:
        shown = ", ".join(f"{w}x{h}" for w, h in list(sizes)[:4])
        raise UserError(f"{clip(str(source))}: images have {len(sizes)} different sizes ({shown}"
                        f"{', ...' if len(sizes) > 4 else ''}); give --resolution R (square) or --size WxH, "
                        f"and --transform {'|'.join(TRANSFORMS)}")
    if not sizes:
        raise UserError(f"{clip(str(source))}: no readable images")
    size = next(iter(sizes))
    if not all(MIN_SIDE <= side <= MAX_SIDE for side in size):
        raise UserError(f"{clip(str(source))}: images are {size[0]}x{size[1]}; give --resolution "
                        f"{MIN_SIDE}..{MAX_SIDE}")
    return size, channels, bad


def _write(pool, files, size, options: Options, channels: str, tmp: Path, per_image: int,
           progress: Optional[Progress], total: int, source: Path):
    digest = hashlib.sha256()
    labels: list[int] = []
    skipped: list[dict] = []
    count = 0
    jobs = [(str(p), size, options.transform, channels) for p, _ in files]
    with open(tmp / PIXELS, "wb") as out:
        for (path, label), (data, error) in zip(files, pool.imap(_decode, jobs, chunksize=16)):
            if error is not None:
                if not options.skip_bad:
                    raise UserError(f"{clip(str(source))}: cannot decode image {clip(str(path))} ({error}); "
                                    "fix or remove it, or pass --skip-bad")
                skipped.append({"file": str(path.relative_to(source.resolve())), "error": error})
            else:
                assert len(data) == per_image
                out.write(data)
                digest.update(data)
                labels.append(label)
                count += 1
            if progress is not None:
                progress(count + len(skipped), len(files))
        out.flush()
        os.fsync(out.fileno())
    return count, digest.hexdigest(), labels, skipped


def _check_space(root: Path, needed: int, name: str) -> None:
    probe = root if root.exists() else root.parent
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < needed + (16 << 20):
        raise UserError(f"not enough disk space to prepare {name!r} under {root}: it needs about "
                        f"{_human(needed)}, {_human(free)} free")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"

