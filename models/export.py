"""Take the part of a trained model that a user serves out of latentq: the generator or the
decoder, and the encoder, each as its own model.

`keras` format: a `.keras` file that plain `keras.models.load_model` opens in a fresh Python
without importing latentq, when the part is built only from Keras's own layers. A part that holds
a latentq layer (the VAE's sampling layer, the tied AE's DenseTranspose, GAN and StyleGAN layers)
still needs `import latentq.models` first: its layers' code lives in latentq.
`saved_model` format: a TensorFlow SavedModel (inference only, the call traced to a graph), which
`tf.saved_model.load` (or `keras.layers.TFSMLayer`) opens without latentq whatever its layers."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import keras

import latentq.models  # noqa: F401  (registers latentq's layers so the run's model loads)
from latentq.errors import UserError
from latentq.files import atomic_write_json

PART_NAMES = ("generator", "decoder", "encoder")


@dataclass
class Exported:
    part: str
    path: str
    format: str
    input_shape: list
    output_shape: list
    standalone: bool  # loads without latentq
    needs: list  # latentq layers that keep it from loading without latentq (keras format)


def parts_of(model: keras.Model) -> dict[str, keras.Model]:
    """The named sub-models generation jobs use too (latentq.models.generation)."""
    found = {}
    for name in PART_NAMES:
        if model.name == name:
            found[name] = model
            continue
        try:
            found[name] = model.get_layer(name)
        except ValueError:
            pass
    if "generator" in found:
        found.pop("decoder", None)
    return found


def latentq_layers(part: keras.Model) -> list[str]:
    """'Class (layer name)' for every layer, the part included, whose code is latentq's."""
    names = []
    for layer in [part, *part._flatten_layers(include_self=False, recursive=True)]:
        module = type(layer).__module__
        if module.startswith("latentq"):
            names.append(f"{keras.saving.get_registered_name(type(layer))} ({layer.name})")
    return sorted(set(names))


def _shape(shape) -> list:
    if isinstance(shape, list):
        return [_shape(s) for s in shape]
    return list(shape) if shape is not None else []


def export_model(model_path: Path, out_dir: Path, fmt: str = "keras") -> list[Exported]:
    if fmt not in ("keras", "saved_model"):
        raise UserError(f"--format {fmt!r}: allowed keras, saved_model")
    model = keras.models.load_model(model_path, compile=False)
    parts = parts_of(model)
    if not parts:
        raise UserError(f"{model_path}: the model has no generator, decoder or encoder sub-model to export")
    out_dir.mkdir(parents=True, exist_ok=True)
    done = []
    for name, part in parts.items():
        needs = latentq_layers(part)
        if fmt == "keras":
            path = out_dir / f"{name}.keras"
            part.save(path)
            standalone = not needs
        else:
            path = out_dir / name
            part.export(str(path), format="tf_saved_model", verbose=False)
            standalone, needs = True, []
        done.append(Exported(name, str(path), fmt, _shape(part.input_shape), _shape(part.output_shape),
                             standalone, needs))
    atomic_write_json(out_dir / "export.json", {"source": str(model_path), "parts": [asdict(d) for d in done]})
    return done

