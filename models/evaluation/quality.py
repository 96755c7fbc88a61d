"""How good are generated samples? Offline stand-ins for FID, measured with a small classifier.

FID needs an Inception network, which cannot be downloaded here. Instead a small classifier is
trained once per labelled dataset (on the dataset's own fixed split with seed 0), cached under
`quality/` of the shared cache (RunContext.cache, LATENTQ_HOME/cache), and used for four numbers:

- `fcd` (Fréchet classifier distance): the Fréchet distance between Gaussians fitted to the
  classifier's penultimate features of real validation images and of generated images.
  0 = the same feature statistics; lower is better.
- `class_coverage`: the fraction of classes predicted for at least half their fair share of the
  samples (1.0 = every class present; a collapsed generator scores low).
- `class_kl`: KL(p || uniform) of the predicted class histogram p (0 = balanced, log K = one class).
- `mean_confidence`: the classifier's mean top probability on the samples (blurry or
  nonsensical samples get low confidence).
- `precision` / `recall` (Kynkäänniemi et al. 2019): the share of samples inside the manifold
  of real features (fidelity), and of real images inside the manifold of the samples'
  features (diversity); each manifold is the union of balls reaching every point's k-th
  nearest neighbour (k = PR_K). Both in [0, 1], higher is better; a collapsed generator keeps
  its precision and loses its recall.

The numbers depend on the classifier, hence on the dataset: they compare runs on the same
dataset only. `classifier_accuracy` (its validation accuracy) is recorded beside them.

The cached classifier is keyed by dataset name (plus size and mtime of an npz file or image
folder) and CLASSIFIER_VERSION; training it is guarded by a file lock so two workers never
train it at once, and its files are written atomically.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import keras
import numpy as np

from latentq import datasets
from latentq.runtime.artifacts import ArtifactStore, as_store, put_json, read_json

CLASSIFIER_VERSION = 1
FEATURES = 64
MAX_TRAIN = 30_000  # classifier training images (a large dataset is subsampled)
TRAIN_STEPS = 20_000  # samples seen in training: about 5 epochs of mnist-5k, 13 of digits
MAX_REFERENCE = 10_000  # real validation images used for the reference statistics
MAX_PR_REFERENCE = 5_000  # real features kept for precision / recall (a k-NN needs the points)
PR_K = 3
METRICS = ("fcd", "class_coverage", "class_kl", "mean_confidence", "precision", "recall")

_loaded: dict[tuple[str, str], "QualityClassifier"] = {}


def forget() -> None:
    """Drop the classifiers loaded so far (a worker's training process, between runs)."""
    _loaded.clear()
Cache = Union[str, os.PathLike, ArtifactStore]  # the shared cache (RunContext.cache), or a local folder


@dataclass
class QualityClassifier:
    dataset: str
    files: ArtifactStore  # the cache's quality/ folder
    key: str  # its files there: <key>.keras, <key>.json, <key>.reference-*.npz
    model: keras.Model  # images -> [penultimate features, class probabilities]
    num_classes: int
    accuracy: float
    meta: dict
    _reference: Optional[dict] = None

    def reference(self, seed: int = 0) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
        """(mean, covariance, sample shape) of the features of real validation images (split seed 0)."""
        return (*self._reference_for(seed)["stats"], self._reference["shape"])

    def reference_features(self, seed: int = 0) -> np.ndarray:
        """At most MAX_PR_REFERENCE of those real features (for precision / recall)."""
        return self._reference_for(seed)["features"]

    def _reference_for(self, seed: int) -> dict:
        if self._reference is None or self._reference["seed"] != seed:
            self._reference = self._cached_reference(seed) or self._measure_reference(seed)
        return self._reference

    def _reference_name(self, seed: int) -> str:
        """Beside the classifier, named after its file's version: a retrained classifier's
        features are measured again."""
        return f"{self.key}.reference-{seed}-{self.files.version(f'{self.key}.keras')}.npz"

    def _cached_reference(self, seed: int) -> Optional[dict]:
        """The reference measured by an earlier run (it saves loading the dataset and embedding its
        validation images in every run)."""
        try:
            with self.files.open(self._reference_name(seed)) as fh, np.load(io.BytesIO(fh.read())) as saved:
                return {"seed": seed, "stats": (saved["mean"], saved["covariance"]),
                        "shape": tuple(int(n) for n in saved["shape"]), "features": saved["features"]}
        except (OSError, KeyError, ValueError):
            return None

    def _measure_reference(self, seed: int) -> dict:
        real = datasets.open_source(self.dataset, 0).x_val  # the bounded validation sample
        if len(real) > MAX_REFERENCE:
            real = real[np.random.default_rng(seed).choice(len(real), MAX_REFERENCE, replace=False)]
        features, _ = self.embed(real)
        reference = {"seed": seed, "stats": _stats(features), "shape": tuple(real.shape[1:]),
                     "features": features[:MAX_PR_REFERENCE]}
        mean, covariance = reference["stats"]
        try:
            self.files.put(self._reference_name(seed), lambda tmp: np.savez(
                tmp, mean=mean, covariance=covariance, shape=np.array(reference["shape"]),
                features=reference["features"]))
        except OSError:  # a read-only or full cache: the next run measures it again
            pass
        return reference

    def embed(self, images: np.ndarray, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """(features, probabilities) of images in the dataset's sample shape."""
        feats, probs = [], []
        for start in range(0, len(images), batch_size):
            f, p = self.model(images[start:start + batch_size], training=False)
            feats.append(keras.ops.convert_to_numpy(f))
            probs.append(keras.ops.convert_to_numpy(p))
        return np.concatenate(feats).astype(np.float64), np.concatenate(probs).astype(np.float64)


def _fingerprint(name: str) -> str:
    """The dataset name, plus size and mtime for a file or folder dataset (its content may change)."""
    kind, sep, target = name.partition(":")
    if sep and kind == "data":  # prepared again (--replace): other pixels, another classifier
        try:
            return f"{name}|{datasets.prepared_manifest(target).sha256}"
        except Exception:
            return name
    if sep and kind in ("npz", "images"):
        path = Path(target).expanduser()
        try:
            stat = path.stat()
            return f"{name}|{stat.st_size}|{stat.st_mtime_ns}"
        except OSError:
            return name
    return name


def cache_key(dataset: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset)[:40].strip("_.") or "dataset"
    digest = hashlib.sha1(_fingerprint(dataset).encode()).hexdigest()[:10]
    return f"{slug}-{digest}-v{CLASSIFIER_VERSION}"


def build_classifier(shape: tuple[int, ...], num_classes: int) -> keras.Model:
    """Two small conv blocks (or an MLP for vectors), a FEATURES-unit penultimate layer, softmax."""
    inputs = keras.Input(shape, name="images")
    if len(shape) in (2, 3):
        channels = 1 if len(shape) == 2 else shape[2]
        x = keras.layers.Reshape((shape[0], shape[1], channels))(inputs)
        for filters in (16, 32):
            x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
            if min(x.shape[1], x.shape[2]) >= 4:
                x = keras.layers.MaxPooling2D(2)(x)
        x = keras.layers.Flatten()(x)
    else:
        x = keras.layers.Flatten()(inputs)
        x = keras.layers.Dense(128, activation="relu")(x)
    x = keras.layers.Dropout(0.25)(x)
    features = keras.layers.Dense(FEATURES, activation="relu", name="features")(x)
    probs = keras.layers.Dense(num_classes, activation="softmax", name="probs")(features)
    return keras.Model(inputs, probs, name="quality_classifier")


def _train(data: datasets.Source, files: ArtifactStore, key: str) -> None:
    rng = np.random.default_rng(0)
    # At most MAX_TRAIN images and datasets.SAMPLE_BYTES of them in memory (fewer for large images).
    most = datasets.sample_limit(data.sample_shape, MAX_TRAIN)
    if data.train_count > most:
        keep = np.sort(rng.choice(data.train_count, most, replace=False))
    else:
        keep = np.arange(data.train_count)
    x, y = data.take(keep), data.y_train[keep]
    epochs = int(np.clip(np.ceil(TRAIN_STEPS / len(x)), 2, 30))
    keras.utils.set_random_seed(0)
    model = build_classifier(data.sample_shape, data.num_classes)
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x, y, batch_size=64, epochs=epochs, shuffle=True, verbose=0)
    seconds = time.perf_counter() - start
    accuracy = float(model.evaluate(data.x_val, data.y_val, batch_size=512, verbose=0)[1])
    files.put(f"{key}.keras", lambda tmp: model.save(tmp))
    put_json(files, f"{key}.json", {
        "dataset": data.name, "version": CLASSIFIER_VERSION, "num_classes": data.num_classes,
        "test_accuracy": accuracy, "epochs": epochs, "train_samples": int(len(x)),
        "test_samples": int(len(data.x_val)), "train_seconds": seconds, "model": f"{key}.keras",
    })


def classifier_for(dataset: Union[str, datasets.Source], cache: Cache) -> Optional[QualityClassifier]:
    """The cached classifier of a labelled dataset, trained the first time it is asked for.

    None when the dataset has no labels (or fewer than 2 classes)."""
    if isinstance(dataset, datasets.Source):
        if dataset.labels is None or dataset.num_classes < 2:
            return None
        dataset = dataset.name
    files = as_store(cache).scope("quality")
    key = cache_key(dataset)
    meta_name = f"{key}.json"
    if not files.exists(meta_name):
        with files.lock(f"{key}.lock"):
            if not files.exists(meta_name):  # another worker may have trained it while we waited
                data = datasets.open_source(dataset, 0)
                if data.labels is None or data.num_classes < 2:
                    put_json(files, meta_name, {"dataset": dataset, "version": CLASSIFIER_VERSION,
                                                "num_classes": 0, "note": "no class labels"})
                else:
                    _train(data, files, key)
    memo = (files.location(meta_name), files.version(meta_name))
    if memo not in _loaded:
        meta = read_json(files, meta_name)
        if int(meta["num_classes"]) < 2:
            return None
        with files.local_path(f"{key}.keras") as path:
            model = keras.models.load_model(path, compile=False)
        both = keras.Model(model.input, [model.get_layer("features").output, model.output])
        _loaded[memo] = QualityClassifier(dataset=dataset, files=files, key=key, model=both,
                                          num_classes=int(meta["num_classes"]),
                                          accuracy=float(meta["test_accuracy"]), meta=meta)
    return _loaded[memo]


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^1/2), as in FID.

    Tr (S1 S2)^1/2 = Tr (S1^1/2 S2 S1^1/2)^1/2, a symmetric PSD matrix: its eigenvalues are real,
    so singular covariances (one repeated image) need no special case."""
    diff = mu1 - mu2
    root1 = _psd_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    trace_covmean = float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None))))
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_covmean)
    return max(value, 0.0)


def _kth_neighbour_distances(points: np.ndarray, k: int, chunk: int = 1024) -> np.ndarray:
    """Distance from each point to its k-th nearest other point (itself excluded)."""
    k = min(k, len(points) - 1)
    out = np.empty(len(points))
    for start in range(0, len(points), chunk):
        d = _distances(points[start:start + chunk], points)
        out[start:start + chunk] = np.partition(d, k, axis=1)[:, k]  # column 0 is the point itself
    return out


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.clip(squared, 0.0, None))


def _coverage(points: np.ndarray, centres: np.ndarray, radii: np.ndarray, chunk: int = 1024) -> float:
    """The share of points inside at least one ball (centre, radius)."""
    inside = 0
    for start in range(0, len(points), chunk):
        d = _distances(points[start:start + chunk], centres)
        inside += int(np.any(d <= radii[None, :] * (1 + 1e-9) + 1e-9, axis=1).sum())
    return inside / len(points)


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = PR_K) -> dict[str, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of fake features against real ones.

    precision: share of fake points within the k-NN radius of some real point; recall: share of
    real points within the k-NN radius of some fake point. Pure numpy, O(N M) memory per chunk."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"real and fake features must be (N, D) arrays of one D. "
                         f"Received: real.shape={real.shape}, fake.shape={fake.shape}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1 or min(len(real), len(fake)) < 2:
        raise ValueError(f"need k >= 1 and at least 2 points on each side. "
                         f"Received: k={k!r}, {len(real)} real, {len(fake)} fake")
    return {
        "precision": _coverage(fake, real, _kth_neighbour_distances(real, k)),
        "recall": _coverage(real, fake, _kth_neighbour_distances(fake, k)),
    }


def _stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _as_samples(images: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == len(shape) + 2 and images.shape[-1] == 1 and tuple(images.shape[1:-1]) == shape:
        images = images[..., 0]  # (N, H, W, 1) for a grey dataset
    if tuple(images.shape[1:]) != shape:
        raise ValueError(f"images must have shape (N, {', '.join(map(str, shape))}). "
                         f"Received: images.shape={images.shape}")
    if len(images) < 2:
        raise ValueError(f"need at least 2 images to score. Received: {len(images)}")
    return np.clip(images, 0.0, 1.0)


def class_scores(probs: np.ndarray, num_classes: int) -> dict[str, float]:
    """class_coverage, class_kl and mean_confidence from predicted class probabilities."""
    counts = np.bincount(probs.argmax(axis=1), minlength=num_classes).astype(np.float64)
    fair = len(probs) / num_classes
    p = counts / counts.sum()
    nonzero = p > 0
    return {
        "class_coverage": float(np.mean(counts >= 0.5 * fair)),
        "class_kl": float(np.sum(p[nonzero] * np.log(p[nonzero] * num_classes))),
        "mean_confidence": float(probs.max(axis=1).mean()),
    }


def evaluate_samples(dataset: Union[str, datasets.Source], images: np.ndarray, cache: Cache,
                     seed: int = 0) -> dict[str, float]:
    """fcd, class_coverage, class_kl, mean_confidence, precision, recall of generated images (float32 in [0, 1],
    the dataset's sample shape), plus classifier_accuracy. {} for an unlabelled dataset.

    The reference is the dataset's validation split with seed 0 (at most MAX_REFERENCE images,
    chosen with `seed`), never seen by the classifier in training."""
    classifier = classifier_for(dataset, cache)
    if classifier is None:
        return {}
    mu, sigma, shape = classifier.reference(seed)
    fake_features, probs = classifier.embed(_as_samples(images, shape))
    scores = {"fcd": frechet_distance(mu, sigma, *_stats(fake_features))}
    scores.update(class_scores(probs, classifier.num_classes))
    real_features = classifier.reference_features(seed)
    if len(real_features) > len(fake_features):  # equal sizes, as in the paper: the radii depend on N
        keep = np.random.default_rng(seed).choice(len(real_features), len(fake_features), replace=False)
        real_features = real_features[keep]
    scores.update(precision_recall(real_features, fake_features))
    scores["classifier_accuracy"] = classifier.accuracy
    return scores


def record_quality(ctx, images: np.ndarray, step: int, dataset: Optional[str] = None) -> dict[str, float]:
    """Score generated images and record the numbers on ctx's run at `step`; an event explains
    when the dataset has no labels to score with."""
    name = dataset or ctx.spec.dataset
    with ctx.phase("quality evaluation"):
        scores = evaluate_samples(name, images, ctx.cache, seed=ctx.spec.seed)
    if not scores:
        ctx.event("info", f"dataset {name!r} has no class labels: fcd / class_coverage are not computed")
        return {}
    ctx.record(step, **scores)
    if scores["classifier_accuracy"] < 0.5:
        ctx.event("warning", f"the quality classifier of {name!r} is only {scores['classifier_accuracy']:.0%} "
                             "accurate: fcd and class_coverage mean little here")
    return scores
