"""Unsupervised pretraining: an autoencoder on all images, a classifier on few labels."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Sequence

import keras
import numpy as np

from latentq.errors import UserError
from latentq.models import training
from latentq.models.autoencoders.builders import build_stacked_ae
from latentq.models.autoencoders.recipes import train_autoencoder
from latentq.models.autoencoders.monitors import PhaseCallback
from latentq.models.codings import encoder_of
from latentq.recipes import autoencoders as recipes

if TYPE_CHECKING:
    from latentq.runtime.context import RunContext


def balanced_indices(y: np.ndarray, n: int, num_classes: int, seed: int) -> np.ndarray:
    """n indices into y, as evenly spread over the classes as n allows (the first n % classes
    classes get one more), drawn at random with the seed."""
    if n < num_classes:
        raise UserError(f"pretrain-classifier: labels must be at least the number of classes {num_classes} "
                        f"(received labels={n})")
    rng = np.random.default_rng(seed)
    picked = []
    for c in range(num_classes):
        want = n // num_classes + (1 if c < n % num_classes else 0)
        members = np.flatnonzero(y == c)
        if len(members) < want:
            raise UserError(f"pretrain-classifier: class {c} has only {len(members)} training images, "
                            f"labels={n} needs {want} per class")
        picked.append(rng.choice(members, size=want, replace=False))
    return np.sort(np.concatenate(picked))


def make_classifier(encoder: keras.Model, num_classes: int, pretrained: bool, freeze: bool,
                    name: str) -> keras.Model:
    """The encoder's architecture plus a softmax head: with the encoder's trained weights
    (pretrained, optionally frozen) or freshly initialised (scratch).

    The head's kernel starts at zero (both ways, so the two classifiers stay the same
    model): the first updates then train the head instead of pushing a random head's
    gradients into the pretrained encoder, which measurably distorts its features
    (bench/ae_pretrain.py: with a random head, fine-tuning lost to scratch)."""
    body = keras.models.clone_model(encoder)
    if pretrained:
        body.set_weights(encoder.get_weights())
        body.trainable = not freeze
    head = keras.layers.Dense(num_classes, activation="softmax", kernel_initializer="zeros", name="head")
    return keras.Sequential([body, keras.layers.Flatten(), head], name=name)


def fit_classifier(encoder: keras.Model, num_classes: int, x: np.ndarray, y: np.ndarray, *, pretrained: bool,
                   freeze: bool, optimizer: str, learning_rate: float, epochs: int, batch_size: int,
                   callbacks: Sequence = ()) -> keras.Model:
    """Build and train one classifier of pretrain-classifier (also used by bench/ae_pretrain.py)."""
    kind = "pretrained" if pretrained else "scratch"
    clf = make_classifier(encoder, num_classes, pretrained=pretrained, freeze=freeze, name=f"classifier_{kind}")
    clf.compile(optimizer=training.make_optimizer(optimizer, learning_rate),
                loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    clf.fit(x, y, epochs=epochs, batch_size=min(batch_size, len(x)), shuffle=True, callbacks=list(callbacks),
            verbose=0)
    return clf


@recipes.PRETRAIN_CLASSIFIER.trainer
def train_pretrain_classifier(ctx: RunContext, params: recipes.PretrainClassifierParams) -> None:
    """Phase 1: a stacked AE on all training images (resumable like stacked-ae). Phase 2:
    the same classifier trained on `labels` labelled images twice, from the pretrained
    encoder and from scratch; accuracy of both on the validation set. A resumed attempt
    resumes the AE (or finds it done) and keeps each classifier an earlier attempt finished
    (classifier_<kind>.keras); each classifier starts from a global seed of its own, so one
    trained after a resume is the one an uninterrupted run trains."""
    data = ctx.dataset()
    picked = balanced_indices(data.y_train, params.labels, data.num_classes, ctx.spec.seed)
    state = ctx.checkpoint_state()
    ae_epochs = ctx.spec.epochs - (int(state["epoch"]) if state else 0)
    model = train_autoencoder(ctx, build_stacked_ae)
    encoder = encoder_of(model)
    x, y = data.take(picked), data.y_train[picked]  # the few labelled images, read from the split
    ctx.event("info", f"pretraining done; training both classifiers on {len(picked)} labelled images")
    accuracy = {}
    trained = data.train_count * max(ae_epochs, 0)
    for index, kind in enumerate(("pretrained", "scratch")):
        rel = f"classifier_{kind}.keras"
        if state and ctx.files.exists(rel):  # finished by an earlier attempt of this run
            with ctx.files.local_path(rel) as path:
                clf = keras.models.load_model(path)
            ctx.event("info", f"kept the {kind} classifier an earlier attempt trained")
        else:
            keras.utils.set_random_seed((int(ctx.spec.seed) * 1_000_003 + 101 + index) % (2 ** 31))
            start = time.perf_counter()
            clf = fit_classifier(encoder, data.num_classes, x, y, pretrained=kind == "pretrained",
                                 freeze=params.freeze, optimizer=params.optimizer,
                                 learning_rate=params.classifier_learning_rate, epochs=params.classifier_epochs,
                                 batch_size=ctx.spec.batch_size, callbacks=[PhaseCallback(ctx, f"{kind}_")])
            ctx.timings.add("train", time.perf_counter() - start)
            trained += len(x) * params.classifier_epochs
            ctx.raise_if_stopped()
            ctx.save_model(clf, rel, kind="classifier")
        with ctx.timings.measure("finish"):
            scores = clf.evaluate(data.x_val, data.y_val, batch_size=256, verbose=0, return_dict=True)
        accuracy[kind] = float(scores["accuracy"])
    ctx.record(ctx.spec.epochs, accuracy_pretrained=accuracy["pretrained"], accuracy_scratch=accuracy["scratch"],
               accuracy_gain=accuracy["pretrained"] - accuracy["scratch"], labels=len(picked))
    ctx.save_curves("classifier_curve", "plots/classifiers.png", ("pretrained_accuracy", "scratch_accuracy"),
                    f"training accuracy on {len(picked)} labels: pretrained vs scratch")
    training.record_timings(ctx, trained)  # again, now with the classifiers' part
