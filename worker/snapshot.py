"""A model's checkpoint in two halves: `take` copies its state (weights, optimizer slots, the
config) into host memory on the training thread, `write` turns that copy into a .keras file
anywhere, later, on another thread, while training goes on.

The copy is made by Keras's own saving walk (the same paths and order as `model.save`), with a
store that keeps numpy copies instead of writing HDF5; `write` replays it into the archive. Both
halves use keras.src.saving.saving_lib internals: where they are missing (another Keras), `take`
falls back to saving the whole file into memory on the training thread."""

from __future__ import annotations

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

        def make(self, path, metadata=None):
            values: dict[str, np.ndarray] = {}
            self.entries.append((path, metadata, values))
            return _CopyingDict(values)

        def close(self):
            pass

    class _CopyingDict(dict):
        def __init__(self, target: dict):
            super().__init__()
            self.target = target

        def __setitem__(self, key, value):
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


def take(model) -> Snapshot:
    """The model's state now, in host memory (training thread)."""
    if _lib is not None:
        try:
            config_json, metadata_json = _lib._serialize_model_as_json(model)
            store = _MemoryStore()
            _lib._save_state(model, weights_store=store, assets_store=None, inner_path="",
                             visited_saveables=set())
            return Snapshot(config_json, metadata_json, store.entries)
        except (AttributeError, TypeError, ValueError):  # an internal changed: the slow, sure way
            pass
    return _whole(model)


def _whole(model) -> Snapshot:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "m.keras"
        model.save(target)
        return Snapshot(whole_file=target.read_bytes())
