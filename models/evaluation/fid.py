"""FID (Heusel et al. 2017) with Inception-v3 from keras.applications, where its weights exist.

The ImageNet weights (87 MB, the "notop" file) are downloaded on first use into
`<cache_dir>/fid/` and reused from there; on a machine without internet (or a blocked download)
`inception(...)` returns None plus one line saying so: the caller records it as an event and
goes on with the offline metrics of latentq.models.evaluation.quality.

Images follow the reference implementations (TTUR's / pytorch-fid's Inception pipeline):
grey images get three identical channels, everything is resized bilinearly to 299x299, scaled
to [-1, 1] (Inception's preprocessing), and the 2048-d global-average-pooled "pool3" features
are compared with the Fréchet distance of quality.frechet_distance.

Comparable to published numbers only with the same reference set and sample count (e.g.
cifar10 at 32x32, 50 000 samples against the 50 000 training images); keras' Inception-v3
weights are not TTUR's TF1 graph either, so expect values a few percent off published FIDs.
On this CPU machine a 299x299 Inception pass costs roughly 6 GFLOP per image: score a few
thousand samples, not 50 000.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from pathlib import Path
from typing import Optional, Union

import keras
import numpy as np

from latentq.models.evaluation.quality import frechet_distance

SIZE = 299
FEATURES = 2048
WEIGHTS_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
               "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5")
DOWNLOAD_TIMEOUT = 30.0  # seconds without an answer before the download counts as impossible
WEIGHTS_HASH = "bcbd6486424b2319ff4ef7d526e38f63"  # md5, as keras.applications.inception_v3 checks it

_models: dict[str, keras.Model] = {}


def forget() -> None:
    """Drop the Inception networks built so far (a worker's training process, between runs)."""
    _models.clear()


def weights_file(cache_dir: Union[str, Path]) -> Path:
    """The ImageNet weights, downloaded into <cache_dir>/fid/ the first time (raises if it cannot)."""
    folder = Path(cache_dir) / "fid"
    folder.mkdir(parents=True, exist_ok=True)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT)  # a firewalled machine fails in seconds, not minutes
    try:
        # keras prints "Downloading data from ..." on stdout: keep stdout for `--json` answers
        with contextlib.redirect_stdout(sys.stderr):
            return Path(keras.utils.get_file(Path(WEIGHTS_URL).name, WEIGHTS_URL, file_hash=WEIGHTS_HASH,
                                             cache_dir=str(folder), cache_subdir="."))
    finally:
        socket.setdefaulttimeout(previous)


def build_inception(weights: Optional[str]) -> keras.Model:
    """Inception-v3 without its classifier: (n, 299, 299, 3) in [-1, 1] -> (n, 2048) pool3 features."""
    return keras.applications.InceptionV3(include_top=False, weights=weights, input_shape=(SIZE, SIZE, 3),
                                          pooling="avg")


def inception(cache_dir: Union[str, Path]) -> tuple[Optional[keras.Model], Optional[str]]:
    """(the ImageNet Inception-v3 feature model, None), or (None, one line saying why there is none)."""
    key = str(Path(cache_dir).resolve())
    if key not in _models:
        try:
            path = weights_file(cache_dir)
        except Exception as exc:  # no network, a proxy refusing, a bad hash: all mean "no FID here"
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            return None, (f"FID skipped: the Inception-v3 ImageNet weights are not in {Path(cache_dir) / 'fid'} "
                          f"and could not be downloaded ({reason})")
        _models[key] = build_inception(str(path))
    return _models[key], None


def prepare(images: np.ndarray) -> np.ndarray:
    """Images in [0, 1], (n, h, w) or (n, h, w, 1 or 3) -> (n, 299, 299, 3) in [-1, 1]."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"FID needs images of shape (N, H, W), (N, H, W, 1) or (N, H, W, 3). "
                         f"Received: images.shape={images.shape}")
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    resized = keras.ops.image.resize(np.clip(images, 0.0, 1.0), (SIZE, SIZE), interpolation="bilinear")
    return keras.ops.convert_to_numpy(resized) * 2.0 - 1.0


def features(model: keras.Model, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """pool3 features (n, 2048) of images in [0, 1], resized batch by batch (memory stays small)."""
    out = [np.asarray(keras.ops.convert_to_numpy(model(prepare(images[start:start + batch_size]), training=False)))
           for start in range(0, len(images), batch_size)]
    return np.concatenate(out).astype(np.float64)


def fid_from_features(real: np.ndarray, fake: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets."""
    if len(real) < 2 or len(fake) < 2:
        raise ValueError(f"FID needs at least 2 images on each side. Received: {len(real)} real, {len(fake)} fake")
    return frechet_distance(real.mean(0), np.cov(real, rowvar=False), fake.mean(0), np.cov(fake, rowvar=False))


def fid(model: keras.Model, real: np.ndarray, fake: np.ndarray, batch_size: int = 32) -> float:
    """FID between real and generated images (both in [0, 1])."""
    return fid_from_features(features(model, real, batch_size), features(model, fake, batch_size))


def record_fid(ctx, real: np.ndarray, fake: np.ndarray, step: int) -> Optional[float]:
    """Score and record `fid` on ctx's run, or record the one-line reason there is none and go on."""
    model, reason = inception(ctx.cache_dir)
    if model is None:
        ctx.event("info", reason)
        return None
    value = fid(model, real, fake)
    ctx.record(step, fid=value)
    return value
