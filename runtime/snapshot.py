"""A model's checkpoint in two halves: `take` copies its state (weights, optimizer slots, the
config) into host memory on the training thread, `write` turns that copy into a .keras file
anywhere, later, on another thread, while training goes on.

The copy is made by Keras's own saving walk (the same paths and order as `model.save`), with a
store that keeps numpy copies instead of writing HDF5; `write` replays it into the archive. Both
halves use keras.src.saving.saving_lib internals: where they are missing (another Keras), `take`
falls back to saving the whole file into memory on the training thread.

Keras's walk saves layers' variables, not their random generators: a `SeedGenerator`'s state
(dropout, noise layers, a VAE's sampling, a GAN's noise, the replay buffer's draws) is no
variable of its layer. `take` copies those states too, named by the path Keras's walk gives
their layer, and `write` puts them, with the run's position (`extra`), into the archive as
POSITION; `read_position` and `restore_seed_states` give them back on resume, so a resumed
run draws what an uninterrupted one would have drawn."""

from __future__ import annotations

import json
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


# Inside the .keras archive, beside Keras's own files (load_model ignores it): in the same file as
# the weights, the position can never belong to another checkpoint.
POSITION = "latentq_position.json"


@dataclass
class Snapshot:
    config_json: str = ""
    metadata_json: str = ""
    entries: list = field(default_factory=list)
    whole_file: Optional[bytes] = None  # the fallback: a finished .keras file in memory
    seed_states: dict = field(default_factory=dict)  # seed_states(model) when taken
    extra: dict = field(default_factory=dict)  # the run's position (epoch, batch...), set by the caller

    def position(self) -> str:
        return json.dumps({**self.extra, "seed_generators": self.seed_states})

    def write(self, path: Path) -> None:
        if self.whole_file is not None:
            path.write_bytes(self.whole_file)
            with zipfile.ZipFile(path, "a") as zf:
                zf.writestr(POSITION, self.position())
            return
        with open(path, "wb") as fh, zipfile.ZipFile(fh, "w") as zf:
            zf.writestr(POSITION, self.position())
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
    _seed_plans.clear()


def _signature(model) -> tuple:
    """The identity of every variable the model and its optimizers hold, in order: a new
    optimizer slot, a rebuilt network or another model changes it."""
    import keras

    optimizers = [v for v in vars(model).values() if isinstance(v, keras.optimizers.Optimizer)]
    return tuple(id(v) for v in model.variables) + tuple(id(v) for o in optimizers for v in o.variables)


def take(model) -> Snapshot:
    """The model's state now, in host memory (training thread), its random generators' included."""
    snapshot = _take(model)
    snapshot.seed_states = seed_states(model)
    return snapshot


def _take(model) -> Snapshot:
    """Keras's saving walk visits every layer and attribute (tens of milliseconds per
    checkpoint); where every value it read came from a variable, the next snapshots of the same
    model read those variables directly."""
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


# ---- random generators ----------------------------------------------------------------------

_seed_plans: dict[int, tuple] = {}  # id(model) -> (weakref, signature, [(name, SeedGenerator)])


def seed_generators(model) -> list[tuple[str, object]]:
    """Every keras SeedGenerator the model's layers own, as (name, generator): the name is the
    path Keras's saving walk gives the owning layer (so a model built anew from its config, or
    grown to the same stage, names them alike) and the generator's index in that layer; then
    Keras's global generator (random ops given no seed), when one exists."""
    signature = _signature(model)
    plan = _seed_plans.get(id(model))
    if plan is not None and plan[0]() is model and plan[1] == signature:
        found = list(plan[2])
    else:
        found = _walk_seed_generators(model)
        for key in [k for k, p in _seed_plans.items() if p[0]() is None]:
            del _seed_plans[key]
        _seed_plans[id(model)] = (weakref.ref(model), signature, list(found))
    from keras.src.backend.common import global_state

    shared = global_state.get_global_attribute("global_seed_generator")
    if shared is not None:
        found.append(("(global)", shared))
    return found


def _walk_seed_generators(model) -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    seen: set[int] = set()
    if _lib is None:  # another Keras layout: the layers in their tracked order
        for i, layer in enumerate(model._flatten_layers(include_self=True, recursive=True)):
            for j, generator in enumerate(getattr(layer, "_seed_generators", ()) or ()):
                if id(generator) not in seen:
                    seen.add(id(generator))
                    found.append((f"{i}:{j}", generator))
        return found
    from keras.src.saving.keras_saveable import KerasSaveable
    from keras.src.utils import naming

    visited: set[int] = set()
    containers: set[int] = set()

    def visit(obj, path: str) -> None:  # the order and the names of saving_lib._save_state
        if id(obj) in visited:
            return
        visited.add(id(obj))
        for j, generator in enumerate(getattr(obj, "_seed_generators", None) or ()):
            if id(generator) not in seen:
                seen.add(id(generator))
                found.append((f"{path}:{j}", generator))
        for attr, child in _lib._walk_saveable(obj):
            if isinstance(child, KerasSaveable):
                visit(child, f"{path}/{attr}" if path else attr)
            elif isinstance(child, (list, dict, tuple)) and id(child) not in containers:
                containers.add(id(child))
                used: dict = {}
                base = f"{path}/{attr}" if path else attr
                for item in (child.values() if isinstance(child, dict) else child):
                    if isinstance(item, KerasSaveable):
                        name = _lib._get_unique_name(naming.to_snake_case(item.__class__.__name__), used)
                        visit(item, f"{base}/{name}")

    visit(model, "")
    return found


def seed_states(model) -> dict[str, list[int]]:
    """{name: state} of seed_generators(model)."""
    return {name: [int(v) for v in np.asarray(generator.state.value).ravel()]
            for name, generator in seed_generators(model)}


def restore_seed_states(model, states: dict) -> list[str]:
    """Set the model's random generators to `states` (seed_states of a checkpoint); returns the
    names of the model's generators the states did not hold (left as they are)."""
    missing = []
    for name, generator in seed_generators(model):
        value = states.get(name)
        if value is None:
            missing.append(name)
            continue
        generator.state.assign(np.asarray(value, dtype=np.asarray(generator.state.value).dtype))
    return missing


def read_position(path) -> Optional[dict]:
    """The position a checkpoint archive holds (POSITION), or None (a checkpoint from before)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return json.loads(zf.read(POSITION))
    except (KeyError, OSError, ValueError, zipfile.BadZipFile):
        return None
