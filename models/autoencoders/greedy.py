"""Greedy layer-wise training: one shallow autoencoder per phase, then stacked."""

from __future__ import annotations

from typing import TYPE_CHECKING

import time

import keras
import numpy as np

from latentq.models import training
from latentq.models.inputs import train_input
from latentq.models.autoencoders.builders import _dense_encoder
from latentq.models.autoencoders.recipes import finish_autoencoder
from latentq.recipes import autoencoders as recipes
from latentq.runtime.callbacks import JobCallback

if TYPE_CHECKING:
    from latentq.runtime.context import RunContext


def greedy_units(hidden: int, codings: int, phases: int) -> list[int]:
    """Layer sizes from `hidden` to `codings`, geometrically spaced: 2 phases → [hidden, codings]."""
    return [max(1, int(round(hidden * (codings / hidden) ** (i / (phases - 1))))) for i in range(phases)]


PHASE_FILE = "checkpoints/phase_{}.keras"  # a finished phase's shallow AE, kept for a resume in a later phase


def phase_seed(seed: int, phase: int) -> int:
    """The global seed a phase starts from: its new layers' initial weights depend on the run's
    seed and the phase alone, not on what ran before it in this process (a resume loads the
    phases before its own instead of building them)."""
    return (int(seed) * 1_000_003 + phase) % (2 ** 31)


class GreedyPhaseCallback(JobCallback):
    """The job callback of one greedy phase: metrics as phase<k>_<name> per epoch, progress and
    checkpoints in the phase's epochs (the shallow AE, with the phase in its position), stop
    signals. The test-only pause point counts epochs over the phases ((k - 1) * epochs + e)."""

    def __init__(self, ctx, phase: int, phases: int, epochs: int):
        super().__init__(ctx)
        self.phase, self.phases, self.epochs = phase, phases, epochs

    def on_epoch_end(self, epoch, logs=None):
        if self.stopped:
            super().on_epoch_end(epoch, logs)  # the partial epoch's checkpoint, at its batch
            return
        self.batch_offset = 0
        live = self.ctx.signals.live
        live.step = live.steps
        done = epoch + 1
        self.ctx.record(done, **{f"phase{self.phase}_{k}": float(v) for k, v in (logs or {}).items()
                                 if np.ndim(v) == 0})
        self.save_checkpoint(done, progress=done)
        if self.pause_at is not None and self.pause_at[0] == (self.phase - 1) * self.epochs + done:
            self.hold(self.pause_at[1])

    def save_checkpoint(self, epochs_done: int, progress=None, batch: int = 0) -> None:
        self.ctx.checkpoint(self.model, epochs_done, progress=progress, batch=batch,
                            state={"phase": self.phase, "phases": self.phases})
        self._last_checkpoint = time.monotonic()


def _shallow_ae(phase: int, n: int, units: list[int], shape: tuple, params) -> keras.Model:
    """Phase 1: images -> n units -> images (BCE); phase k: codings of phase k-1 -> n -> them (MSE)."""
    enc = keras.layers.Dense(n, activation="selu", name=f"encoder_{phase}")
    if phase == 1:
        dec = keras.layers.Dense(int(np.prod(shape)), activation="sigmoid", name=f"decoder_{phase}")
        shallow = keras.Sequential([keras.Input(shape), keras.layers.Flatten(), enc, dec,
                                    keras.layers.Reshape(shape)], name=f"phase_{phase}")
        loss, metrics = "binary_crossentropy", [keras.metrics.MeanSquaredError(name="mse")]
    else:
        dec = keras.layers.Dense(units[phase - 2], activation="selu", name=f"decoder_{phase}")
        shallow = keras.Sequential([keras.Input((units[phase - 2],)), enc, dec], name=f"phase_{phase}")
        loss, metrics = "mse", []
    shallow.compile(optimizer=training.make_optimizer(params.optimizer, params.learning_rate), loss=loss,
                    metrics=metrics, steps_per_execution=params.steps_per_execution)
    return shallow


@recipes.GREEDY_AE.trainer
def train_greedy_ae(ctx: RunContext, params: recipes.GreedyAEParams) -> None:
    """The notes' "training one AE at a time": phase 1 trains a shallow AE on the images
    (BCE); phase k trains a shallow AE on the codings of the encoders before it (MSE); then the
    trained layers are stacked into one encoder/decoder model. Each phase trains --epochs
    epochs and records phase<k>_loss, phase<k>_val_loss per epoch.

    Each phase is a checkpoint: its shallow AE is checkpointed per epoch (and within one, as
    every run) with the phase in its position, and a finished phase is kept as
    checkpoints/phase_<k>.keras; a resumed attempt loads the finished phases and goes on in the
    phase, epoch and batch it stopped in. While a phase runs, the run's phase says which
    ("phase 2/3") and its progress and checkpoint count that phase's epochs."""
    data, epochs = ctx.dataset(), ctx.spec.epochs
    shape = data.sample_shape
    units = greedy_units(params.hidden, params.codings, params.phases)
    phases = len(units)
    resumed = training.resume(ctx, describe=lambda state: f"in phase {int(state.get('phase') or 1)} of {phases} "
                                                          f"after epoch {int(state['epoch'])}")
    resumed_phase = int(resumed.state.get("phase") or 1) if resumed.model is not None else 0
    encoders: list[keras.layers.Dense] = []
    decoders: list[keras.layers.Dense] = []
    x_val = data.x_val
    coders: list[keras.Model] = []  # phase k reads the images through the trained encoders of phases < k

    def through_coders(x):
        for coder in coders:
            x = coder(x, training=False)
        return x

    ctx.timings.add("setup", ctx.timings.elapsed() - ctx.timings.measured())
    trained = 0  # samples trained in this attempt
    for phase, n in enumerate(units, start=1):
        keras.utils.set_random_seed(phase_seed(ctx.spec.seed, phase))
        start_epoch, start_batch = 0, 0
        if phase < resumed_phase:  # finished by an earlier attempt
            with ctx.files.local_path(PHASE_FILE.format(phase)) as path:
                shallow = keras.models.load_model(path)
            start_epoch = epochs
        elif phase == resumed_phase:
            shallow, start_epoch, start_batch = resumed.model, resumed.epoch, resumed.batch
        else:
            shallow = _shallow_ae(phase, n, units, shape, params)
        if phase >= resumed_phase:
            ctx.event("info", f"phase {phase}/{phases}: shallow AE {x_val.shape[1:]} -> {n} units")
            inputs = train_input(ctx, "xx", map_fn=through_coders if coders else None, mirror=False)
            with ctx.phase(f"phase {phase}/{phases}"):
                if start_epoch == 0 and start_batch == 0:
                    ctx.progress(0)
                training.fit(ctx, shallow, inputs, None, (x_val, x_val), initial_epoch=start_epoch,
                             initial_batch=start_batch, job_callbacks=[GreedyPhaseCallback(ctx, phase, phases, epochs)])
            trained += inputs.samples * (epochs - start_epoch)
            with ctx.timings.measure("checkpoint"):
                ctx.files.put(PHASE_FILE.format(phase), lambda tmp, m=shallow: m.save(tmp))
            history = ctx.history(f"phase{phase}_loss", f"phase{phase}_val_loss")
            last = {k: v[-1] for k, v in history.items()}
            ctx.event("info", f"phase {phase} done: " + ", ".join(f"{k}={v:.4g}" for k, v in last.items()))
        enc, dec = shallow.get_layer(f"encoder_{phase}"), shallow.get_layer(f"decoder_{phase}")
        encoders.append(enc)
        decoders.append(dec)
        if phase < phases:  # the next phase learns to reconstruct these codings
            coder = keras.Sequential([keras.Input(x_val.shape[1:]), *([keras.layers.Flatten()] if phase == 1 else []),
                                      enc])
            coders.append(coder)
            x_val = coder.predict(x_val, batch_size=256, verbose=0)

    with ctx.phase("final pictures"):
        with ctx.timings.measure("finish"):
            model = _finish(ctx, params, shape, encoders, decoders, phases)
        training.record_timings(ctx, trained)


def _finish(ctx, params, shape, encoders, decoders, phases: int) -> keras.Model:
    """The stacked model from the phases' layers, its scores, model.keras and the pictures."""
    data, epochs = ctx.dataset(), ctx.spec.epochs
    model = stack_greedy(shape, encoders, decoders)
    model.compile(optimizer=training.make_optimizer(params.optimizer, params.learning_rate),
                  loss="binary_crossentropy", metrics=[keras.metrics.MeanSquaredError(name="mse")])
    model.optimizer.build(model.trainable_variables)  # saved with its slots, so it loads without warnings
    sample = data.train_sample()  # all of a small dataset, a bounded sample of a large one
    train_scores = model.evaluate(sample, sample, batch_size=256, verbose=0, return_dict=True)
    val_scores = model.evaluate(data.x_val, data.x_val, batch_size=256, verbose=0, return_dict=True)
    ctx.record(0, params=training.count_params(model))
    ctx.record(epochs, loss=train_scores["loss"], mse=train_scores["mse"], val_loss=val_scores["loss"])
    ctx.progress(epochs)
    curves = tuple(f"phase{p}_{k}" for p in range(1, phases + 1) for k in ("loss", "val_loss"))
    finish_autoencoder(ctx, model, curves=curves)
    return model


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
