"""PNG pictures of a run: image grids (Pillow) and plots (matplotlib, Agg).

The `*_png` functions return the file's bytes (a run writes them through its artifact store,
latentq.runtime.artifacts); the `save_*` ones write them to a local path, atomically."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from latentq.files import atomic_write


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Float images in [0, 1] as uint8; (N, H, W, 1) becomes (N, H, W)."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    return (np.clip(images, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def grid(images: np.ndarray, cols: int, pad: int = 2, scale: int = 0) -> np.ndarray:
    """Tile (N, H, W[, C]) images row by row into one array, white padding between them."""
    images = to_uint8(images)
    n, h, w = images.shape[:3]
    rows = max(1, -(-n // cols))
    channels = images.shape[3:] if images.ndim == 4 else ()
    canvas = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, *channels), 255, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        canvas[y:y + h, x:x + w] = images[i]
    if scale <= 0:
        scale = max(1, 96 // max(h, w))  # small images (8x8 digits) get enlarged
    if scale > 1:
        canvas = canvas.repeat(scale, axis=0).repeat(scale, axis=1)
    return canvas


def png(picture: np.ndarray) -> bytes:
    """A uint8 picture (H, W) or (H, W, C), e.g. a `grid`, as PNG bytes."""
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(picture).save(out, format="PNG")
    return out.getvalue()


def save_grid(path: Path, images: np.ndarray, cols: int) -> Path:
    data = png(grid(images, cols))
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def save_rows(path: Path, rows: Sequence[np.ndarray]) -> Path:
    """Rows of equally many images, e.g. originals over reconstructions."""
    cols = len(rows[0])
    return save_grid(path, np.concatenate([np.asarray(r) for r in rows]), cols)


def _figure_png(fig, tight: bool = True) -> bytes:
    """PNG at 100 dpi; tight=False keeps the default margins, which fit a curve's labels and
    save the second drawing pass a tight bounding box costs (about half of a curve's time)."""
    import matplotlib.pyplot as plt

    extra = {"bbox_inches": "tight"} if tight else {}
    out = io.BytesIO()
    try:
        fig.savefig(out, format="png", dpi=100, **extra)
    finally:
        plt.close(fig)
    return out.getvalue()


def _save(path: Path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def preload() -> None:
    """Import matplotlib (about a second) ahead of the first plot, e.g. on a background thread."""
    _pyplot()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_curves(path: Path, history: dict[str, Sequence[float]], title: str,
                steps: Optional[Sequence[int]] = None) -> Path:
    return _save(path, curves_png(history, title, steps))


def curves_png(history: dict[str, Sequence[float]], title: str, steps: Optional[Sequence[int]] = None) -> bytes:
    """Loss curves: one line per named series against epoch (ticks on whole epochs). A series with
    one value only (a metric recorded at the last epoch) is a marker labelled with its value: a
    lone point of a line is too small to see."""
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in history.items():
        xs = list(steps) if steps is not None else list(range(1, len(values) + 1))
        points = [(x, v) for x, v in zip(xs, values) if np.isfinite(v)]
        if len(points) == 1:
            (x, v), = points
            line, = ax.plot([x], [v], marker="o", markersize=8, linestyle="none", label=name)
            ax.annotate(f"{v:.4g}", (x, v), textcoords="offset points", xytext=(6, 6), color=line.get_color())
        else:
            ax.plot(xs[: len(values)], values, marker="o", markersize=3, label=name)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return _figure_png(fig, tight=False)


def save_scatter(path: Path, points: np.ndarray, labels: Optional[np.ndarray], title: str) -> Path:
    return _save(path, scatter_png(points, labels, title))


def scatter_png(points: np.ndarray, labels: Optional[np.ndarray], title: str) -> bytes:
    """2-D points, coloured by label where there are labels."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    if labels is not None:
        sc = ax.scatter(points[:, 0], points[:, 1], c=labels, s=8, cmap="tab10")
        fig.colorbar(sc, ax=ax)
    else:
        ax.scatter(points[:, 0], points[:, 1], s=8)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return _figure_png(fig)
