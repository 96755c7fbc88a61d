"""A model's checkpoint in two halves: `take` copies its state (weights, optimizer slots, the
config) into host memory on the training thread, `write` turns that copy into a .keras file
anywhere, later, on another thread, while training goes on.

The copy is made by Keras's own saving walk (the same paths and order as `model.save`), with a
store that keeps numpy copies instead of writing HDF5; `write` replays it into the archive. Both
halves use keras.src.saving.saving_lib internals: where they are missing (another Keras), `take`
falls back to saving the whole file into memory on the training thread."""

from __future__ import annotations

import weakref
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

try:
    from keras.src.saving import saving_lib as _lib

    class _MemoryStore(_lib.NpzIOStore):  # the type _save_state accepts
        def __init__(self):
            self.entries: list[tuple[str, Optional[dict], dict[str, np.ndarray]]] = []

            self.sources: list[dict] = []  # per entry, what each value was read from

        def make(self, path, metadata=None):
            values: dict[str, np.ndarray] = {}
            sources: dict = {}
            self.entries.append((path, metadata, values))
            self.sources.append(sources)
            return _CopyingDict(values, sources)

        def close(self):
            pass

    class _CopyingDict(dict):
        def __init__(self, target: dict, sources: dict):
            super().__init__()
            self.target = target
            self.sources = sources

        def __setitem__(self, key, value):
            self.sources[key] = value
            self.target[key] = np.array(value, copy=True)

except ImportError:  # pragma: no cover - another Keras layout
    _lib = None


@dataclass
class Snapshot:
    config_json: str = ""
    metadata_json: str = ""
    entries: list = field(default_factory=list)
    whole_file: Optional[bytes] = None  # the fallback: a finished .keras file in memory

    def write(self, path: Path) -> None:
        if self.whole_file is not None:
            path.write_bytes(self.whole_file)
            return
        with open(path, "wb") as fh, zipfile.ZipFile(fh, "w") as zf:
            zf.writestr(_lib._METADATA_FILENAME, self.metadata_json)
            zf.writestr(_lib._CONFIG_FILENAME, self.config_json)
            store = _lib.H5IOStore(_lib._VARS_FNAME_H5, archive=zf, mode="w")
            try:
                for path_, metadata, values in self.entries:
                    entry = store.make(path_, metadata=metadata)
                    for key, value in values.items():
                        entry[key] = value
            finally:
                store.close()


@dataclass
class _Plan:
    """Where a model's state lives, from one walk: (path, metadata, {key: variable}) per entry.
    Valid while the model holds the same variables (`signature`)."""

    model: weakref.ref
    signature: tuple
    entries: list


_plans: dict[int, _Plan] = {}


def forget() -> None:
    """Drop every plan, and the variables they hold (a worker's training process, between runs)."""
    _plans.clear()


def _signature(model) -> tuple:
    """The identity of every variable the model and its optimizers hold, in order: a new
    optimizer slot, a rebuilt network or another model changes it."""
    import keras

    optimizers = [v for v in vars(model).values() if isinstance(v, keras.optimizers.Optimizer)]
    return tuple(id(v) for v in model.variables) + tuple(id(v) for o in optimizers for v in o.variables)


def take(model) -> Snapshot:
    """The model's state now, in host memory (training thread). Keras's saving walk visits every
    layer and attribute (tens of milliseconds per checkpoint); where every value it read came
    from a variable, the next snapshots of the same model read those variables directly."""
    if _lib is not None:
        try:
            config_json, metadata_json = _lib._serialize_model_as_json(model)
            signature = _signature(model)
            plan = _plans.get(id(model))
            if plan is not None and plan.model() is model and plan.signature == signature:
                entries = [(path, metadata, {k: np.array(v, copy=True) for k, v in sources.items()})
                           for path, metadata, sources in plan.entries]
                return Snapshot(config_json, metadata_json, entries)
            store = _MemoryStore()
            _lib._save_state(model, weights_store=store, assets_store=None, inner_path="",
                             visited_saveables=set())
            _remember(model, signature, store)
            return Snapshot(config_json, metadata_json, store.entries)
        except (AttributeError, TypeError, ValueError):  # an internal changed: the slow, sure way
            pass
    return _whole(model)


def _remember(model, signature: tuple, store) -> None:
    entries = []
    for (path, metadata, values), sources in zip(store.entries, store.sources):
        sources = _variables_of(model, path, values, sources)
        if sources is None:  # a value computed when saved, not a variable's: walk every time
            _plans.pop(id(model), None)
            return
        entries.append((path, metadata, sources))
    for key in [k for k, p in _plans.items() if p.model() is None]:
        del _plans[key]
    _plans[id(model)] = _Plan(weakref.ref(model), signature, entries)


def _variables_of(model, path: str, values: dict, sources: dict) -> Optional[dict]:
    """{key: the variable the value was read from}, or None where that cannot be told. Layers
    store their variables; an optimizer (a model attribute) stores its variables' numpy values,
    in the order of `optimizer.variables`: matched back, value by value."""
    import keras

    if all(isinstance(v, keras.Variable) for v in sources.values()):
        return sources
    optimizer = getattr(model, path, None) if "/" not in path else None
    if not isinstance(optimizer, keras.optimizers.Optimizer) or len(optimizer.variables) != len(values):
        return None
    matched = {str(i): v for i, v in enumerate(optimizer.variables)}
    if matched.keys() != values.keys() or not all(np.array_equal(np.asarray(v), values[k]) for k, v in matched.items()):
        return None
    return matched


def _whole(model) -> Snapshot:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "m.keras"
        model.save(target)
        return Snapshot(whole_file=target.read_bytes())
