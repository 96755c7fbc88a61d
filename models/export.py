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
from typing import Union

import keras

import latentq.models  # noqa: F401  (registers latentq's layers so the run's model loads)
from latentq.errors import UserError
from latentq.runtime.artifacts import ArtifactStore, as_store, put_json

PART_NAMES = ("generator", "decoder", "encoder")
# A part with several outputs serves them by name (the SavedModel's signature says which is which,
# instead of output_0/1/2): a VAE encoder's [mean, log-variance, sampled codings].
OUTPUT_NAMES = {"encoder": ("z_mean", "z_log_var", "z")}


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


def export_saved_model(part: keras.Model, name: str, folder: Path) -> None:
    """`part` as a TensorFlow SavedModel whose `serve` endpoint (and serving_default signature)
    returns its outputs by name when OUTPUT_NAMES names them."""
    names = OUTPUT_NAMES.get(name)
    outputs = part.outputs if isinstance(part.outputs, (list, tuple)) else [part.outputs]
    if not names or len(outputs) != len(names) or len(part.inputs) != 1:
        part.export(str(folder), format="tf_saved_model", verbose=False)
        return
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(part)
    source = part.inputs[0]
    archive.add_endpoint("serve", lambda x: dict(zip(names, part(x, training=False))),
                         input_signature=[tf.TensorSpec(source.shape, source.dtype, name=source.name)])
    archive.write_out(str(folder), verbose=False)


def export_model(model_path: Path, out: Union[Path, ArtifactStore], fmt: str = "keras") -> list[Exported]:
    """Write the parts of the model at `model_path` into `out` (a folder, or a store): <part>.keras
    or a <part>/ SavedModel each, and export.json listing them."""
    if fmt not in ("keras", "saved_model"):
        raise UserError(f"--format {fmt!r}: allowed keras, saved_model")
    model = keras.models.load_model(model_path, compile=False)
    parts = parts_of(model)
    if not parts:
        raise UserError(f"{model_path}: the model has no generator, decoder or encoder sub-model to export")
    files = as_store(out)
    done = []
    for name, part in parts.items():
        needs = latentq_layers(part)
        if fmt == "keras":
            path = files.put(f"{name}.keras", lambda tmp, part=part: part.save(tmp))
            standalone = not needs
        else:
            with files.local_path(name) as folder:
                export_saved_model(part, name, folder)
            path = files.location(name)
            standalone, needs = True, []
        done.append(Exported(name, path, fmt, _shape(part.input_shape), _shape(part.output_shape),
                             standalone, needs))
    put_json(files, "export.json", {"source": str(model_path), "parts": [asdict(d) for d in done]})
    return done

