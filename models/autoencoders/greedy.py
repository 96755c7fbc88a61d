"""Greedy layer-wise training: one shallow autoencoder per phase, then stacked."""

from __future__ import annotations

from typing import TYPE_CHECKING

import time

import keras
import numpy as np

from latentq.models import training
from latentq.models.inputs import TrainInput, train_input
from latentq.models.autoencoders.builders import _dense_encoder
from latentq.models.autoencoders.recipes import finish_autoencoder
from latentq.models.autoencoders.monitors import PhaseCallback
from latentq.recipes import autoencoders as recipes

if TYPE_CHECKING:
    from latentq.runtime.context import RunContext


def greedy_units(hidden: int, codings: int, phases: int) -> list[int]:
    """Layer sizes from `hidden` to `codings`, geometrically spaced: 2 phases → [hidden, codings]."""
    return [max(1, int(round(hidden * (codings / hidden) ** (i / (phases - 1))))) for i in range(phases)]


def _fit_phase(ctx, model: keras.Model, inputs: TrainInput, validation_data, callback: PhaseCallback,
               epochs: int) -> float:
    """model.fit for one phase on the streamed training split; returns its wall time."""
    start = time.perf_counter()
    model.fit(inputs.dataset(), validation_data=validation_data, epochs=epochs,
              callbacks=[inputs.callback(), callback], verbose=0)
    seconds = time.perf_counter() - start
    ctx.raise_if_stopped()
    return seconds


@recipes.GREEDY_AE.trainer
def train_greedy_ae(ctx: RunContext, params: recipes.GreedyAEParams) -> None:
    """The notes' "training one AE at a time": phase 1 trains a shallow AE on the images
    (BCE); the training set is encoded; phase k trains a shallow AE on the previous codings
    (MSE); then the trained layers are stacked into one encoder/decoder model. Each phase
    trains --epochs epochs and records phase<k>_loss, phase<k>_val_loss per epoch. No
    checkpoints: a resumed attempt restarts its phases."""
    data, epochs = ctx.dataset(), ctx.spec.epochs
    shape = data.sample_shape
    size = int(np.prod(shape))
    units = greedy_units(params.hidden, params.codings, params.phases)
    encoders: list[keras.layers.Dense] = []
    decoders: list[keras.layers.Dense] = []
    x_val = data.x_val
    coders: list[keras.Model] = []  # phase k reads the images through the trained encoders of phases < k

    def through_coders(x):
        for coder in coders:
            x = coder(x, training=False)
        return x

    seconds = 0.0
    for phase, n in enumerate(units, start=1):
        inputs = train_input(ctx, "xx", map_fn=through_coders if coders else None, mirror=False)
        ctx.event("info", f"phase {phase}/{len(units)}: shallow AE {x_val.shape[1:]} -> {n} units")
        enc = keras.layers.Dense(n, activation="selu", name=f"encoder_{phase}")
        if phase == 1:
            dec = keras.layers.Dense(size, activation="sigmoid", name=f"decoder_{phase}")
            shallow = keras.Sequential([keras.Input(shape), keras.layers.Flatten(), enc, dec,
                                        keras.layers.Reshape(shape)], name=f"phase_{phase}")
            loss, metrics = "binary_crossentropy", [keras.metrics.MeanSquaredError(name="mse")]
        else:
            dec = keras.layers.Dense(units[phase - 2], activation="selu", name=f"decoder_{phase}")
            shallow = keras.Sequential([keras.Input((units[phase - 2],)), enc, dec], name=f"phase_{phase}")
            loss, metrics = "mse", []
        shallow.compile(optimizer=training.make_optimizer(params.optimizer, params.learning_rate), loss=loss,
                        metrics=metrics, steps_per_execution=params.steps_per_execution)
        done_before = (phase - 1) * epochs
        callback = PhaseCallback(ctx, f"phase{phase}_",
                                 on_epoch=lambda e, base=done_before: ctx.progress((base + e) // len(units)))
        seconds += _fit_phase(ctx, shallow, inputs, (x_val, x_val), callback, epochs)
        history = ctx.history(f"phase{phase}_loss", f"phase{phase}_val_loss")
        last = {k: v[-1] for k, v in history.items()}
        ctx.event("info", f"phase {phase} done: " + ", ".join(f"{k}={v:.4g}" for k, v in last.items()))
        encoders.append(enc)
        decoders.append(dec)
        if phase < len(units):  # the next phase learns to reconstruct these codings
            coder = keras.Sequential([keras.Input(x_val.shape[1:]), *([keras.layers.Flatten()] if phase == 1 else []),
                                      enc])
            coders.append(coder)
            x_val = coder.predict(x_val, batch_size=256, verbose=0)

    model = stack_greedy(shape, encoders, decoders)
    model.compile(optimizer=training.make_optimizer(params.optimizer, params.learning_rate),
                  loss="binary_crossentropy", metrics=[keras.metrics.MeanSquaredError(name="mse")])
    model.optimizer.build(model.trainable_variables)  # saved with its slots, so it loads without warnings
    sample = data.train_sample()  # all of a small dataset, a bounded sample of a large one
    train_scores = model.evaluate(sample, sample, batch_size=256, verbose=0, return_dict=True)
    val_scores = model.evaluate(data.x_val, data.x_val, batch_size=256, verbose=0, return_dict=True)
    ctx.record(0, params=training.count_params(model), train_seconds=seconds,
               samples_per_second=data.train_count * epochs * len(units) / max(seconds, 1e-9))
    ctx.record(epochs, loss=train_scores["loss"], mse=train_scores["mse"], val_loss=val_scores["loss"])
    ctx.progress(epochs)
    curves = tuple(f"phase{p}_{k}" for p in range(1, len(units) + 1) for k in ("loss", "val_loss"))
    with ctx.phase("final pictures"):
        finish_autoencoder(ctx, model, curves=curves)


def stack_greedy(shape: tuple[int, ...], encoders: list, decoders: list) -> keras.Model:
    """One encoder/decoder model from the phases' trained Dense layers (weights copied)."""
    def copy(layer: keras.layers.Dense) -> keras.layers.Dense:
        return keras.layers.Dense(layer.units, activation=layer.activation, name=layer.name)

    enc_layers = [copy(layer) for layer in encoders]
    dec_layers = [copy(layer) for layer in decoders[::-1]]
    encoder = _dense_encoder(shape, enc_layers)
    decoder = keras.Sequential([keras.Input((encoders[-1].units,)), *dec_layers, keras.layers.Reshape(shape)],
                               name="decoder")
    for new, old in zip(enc_layers + dec_layers, encoders + decoders[::-1]):
        new.set_weights(old.get_weights())
    return keras.Sequential([encoder, decoder], name="greedy_ae")
