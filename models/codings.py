"""What an encoder makes of the data: codings, sparsity numbers and the t-SNE picture."""

from __future__ import annotations

from typing import Optional

import keras
import numpy as np

from latentq.models.predict import batched


TSNE_POINTS = 500  # t-SNE of at most this many validation codings (about 1-2 s on one core)
TSNE_ITERATIONS = 500
TSNE_THREADS = 2
TSNE_PCA_DIMS = 50  # wider codings (conv) are reduced with PCA first, as usual for t-SNE
ACTIVE_THRESHOLD = 0.5  # a coding unit is "active" above this (sparse AEs)


def encoder_of(model: keras.Model) -> keras.Model:
    return model.get_layer("encoder")


def encode(encoder: keras.Model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The encoder's codings of x, as (N, D). Samples are reshaped to the encoder's input when
    it reads them differently (the recurrent encoder reads (steps, features) sequences); with
    several outputs (a VAE's mean, log var, z) the first is used."""
    want = tuple(encoder.input_shape[1:])
    have = tuple(x.shape[1:])
    if len(want) != len(have) or any(w is not None and w != h for w, h in zip(want, have)):
        x = x.reshape(len(x), *[-1 if w is None else w for w in want])
    def first(batch):  # direct calls: `predict` builds a data pipeline and a function per call
        out = encoder(batch, training=False)
        return out[0] if isinstance(out, (list, tuple)) else out

    return batched(first, x, batch_size).reshape(len(x), -1)


def baseline_mse(data) -> float:
    """MSE on the validation sample of always predicting the mean training sample (the mean of
    the bounded training sample: all of a small dataset)."""
    return float(np.mean((data.x_val - data.train_sample().mean(axis=0)) ** 2))


def sparsity(codings: np.ndarray) -> dict[str, float]:
    return {"mean_activation": float(np.mean(codings)),
            "active_fraction": float(np.mean(codings > ACTIVE_THRESHOLD))}


def preload_tsne(ctx) -> None:
    """Import scikit-learn's manifold module (about a second) in the background while the run
    trains, not at its end (matplotlib: RunContext preloads it for every run)."""
    def load() -> None:
        import sklearn.manifold  # noqa: F401

    if ctx.dataset().y_val is not None:
        ctx.writer.submit(load, part="picture")


def save_codings_picture(ctx, codings: np.ndarray, labels: Optional[np.ndarray], recipe: str) -> None:
    """The validation codings coloured by label: as they are when they are 2-d
    (`images/codings.png`: a t-SNE of 2-d points to 2-d shows nothing more, and it was most of a
    small job's time), else their t-SNE (`images/tsne.png`)."""
    if labels is None:
        return
    if codings.ndim == 2 and codings.shape[1] == 2:
        ctx.save_scatter("codings", "images/codings.png", codings, labels, f"{recipe}: 2-d validation codings")
        return
    save_tsne(ctx, codings, labels, f"{recipe}: t-SNE of {codings.shape[1]}-d validation codings")


def save_tsne(ctx, codings: np.ndarray, labels: Optional[np.ndarray], title: str) -> None:
    """The notes' visualisation strategy: t-SNE of the codings to 2-D, coloured by label, computed
    and drawn in the background (the run's end waits for it, while its other final work goes on).
    At most TSNE_POINTS points; skipped without labels or with too few points."""
    if labels is None or len(codings) < 10:
        return
    codings, labels = np.array(codings), np.array(labels)
    def write() -> None:
        with ctx.phase("t-SNE"):
            _tsne_picture(ctx, codings, labels, title)

    ctx.writer.submit(write, part="picture")


def _tsne_picture(ctx, codings: np.ndarray, labels: np.ndarray, title: str) -> None:
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(ctx.spec.seed)
    pick = np.sort(rng.choice(len(codings), size=min(len(codings), TSNE_POINTS), replace=False))
    z = codings[pick].reshape(len(pick), -1).astype(np.float64)
    if not np.isfinite(z).all() or np.ptp(z, axis=0).max() == 0:
        ctx.event("warning", "t-SNE skipped: the codings are constant or not finite")
        return
    if z.shape[1] > TSNE_PCA_DIMS:
        z = PCA(TSNE_PCA_DIMS, random_state=ctx.spec.seed).fit_transform(z)
    perplexity = float(min(30.0, (len(z) - 1) / 3))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto",
                max_iter=TSNE_ITERATIONS, random_state=ctx.spec.seed)
    # It runs after fit, when the training thread no longer competes for cores: two threads beat
    # one, and more rarely help at 500 points (bench/RESULTS.md).
    with threadpool_limits(TSNE_THREADS):
        points = tsne.fit_transform(z)
    ctx.save_scatter("tsne", "images/tsne.png", points, labels[pick], title)
