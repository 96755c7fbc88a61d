"""Job specification validation: defaults, coercion from --set strings, one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from latentq.errors import UserError
from latentq.spec import JobSpec, build_spec, parse_sets


def spec(**kw):
    base = dict(kind="train", recipe="stacked-ae", dataset=None, epochs=3, batch_size=16, seed=1)
    return build_spec(**{**base, **kw})


def test_defaults_are_filled_and_the_spec_is_json_ready():
    s = spec()
    assert s.dataset == "mnist-5k"
    assert s.params["codings"] == 30 and s.params["hidden"] == 100
    assert JobSpec.model_validate_json(s.model_dump_json()) == s


def test_set_values_are_coerced_to_the_declared_types():
    s = spec(params=parse_sets(["codings=12", "learning_rate=0.01", "optimizer=sgd"]))
    assert s.params["codings"] == 12 and s.params["learning_rate"] == 0.01 and s.params["optimizer"] == "sgd"


def test_linear_ae_defaults_to_the_notes_3d_dataset():
    assert spec(recipe="linear-ae").dataset == "synthetic-3d"


@pytest.mark.parametrize(
    "kw, needle",
    [
        (dict(recipe="nope"), "unknown recipe 'nope'; allowed:"),
        (dict(dataset="imagenet"), "unknown dataset 'imagenet'; allowed:"),
        (dict(dataset="npz:/no/such/file.npz"), "no such file"),
        (dict(dataset="images:/no/such/dir"), "no such folder"),
        (dict(params={"latent": "3"}), "unknown parameter 'latent'; allowed: checkpoint_minutes"),
        (dict(params={"codings": "many"}), "codings: Input should be a valid integer"),
        (dict(params={"codings": "0"}), "codings: Input should be greater than or equal to 1"),
        (dict(params={"optimizer": "lbfgs"}), "optimizer: Input should be"),
        (dict(epochs=0), "epochs: Input should be greater than or equal to 1"),
        (dict(batch_size=-1), "batch_size"),
        (dict(name="../escape"), "name: String should match pattern"),
    ],
)
def test_bad_values_give_one_line_naming_the_field(kw, needle):
    with pytest.raises(UserError) as err:
        spec(**kw)
    message = str(err.value)
    assert needle in message
    assert "\n" not in message


@pytest.mark.parametrize("pair", ["codings", "=3", "a b=1", "1x=2"])
def test_malformed_set_pairs_are_refused(pair):
    with pytest.raises(UserError, match="expected key=value"):
        parse_sets([pair])


def test_npz_dataset_loads_and_splits_the_same_way_for_the_same_seed(tmp_path):
    from latentq import datasets

    x = np.random.default_rng(0).integers(0, 256, size=(50, 6, 6), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(50) % 5)
    a, b = datasets.load(f"npz:{tmp_path / 'd.npz'}", seed=3), datasets.load(f"npz:{tmp_path / 'd.npz'}", seed=3)
    assert a.x_train.shape == (45, 6, 6) and a.x_val.shape == (5, 6, 6)
    assert 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert a.num_classes == 5
    c = datasets.load(f"npz:{tmp_path / 'd.npz'}", seed=4)
    assert not np.array_equal(a.x_val, c.x_val)


def test_images_dataset_reads_class_folders_and_names_a_corrupt_file(tmp_path):
    from PIL import Image

    from latentq import datasets

    for label in ("cats", "dogs"):
        (tmp_path / label).mkdir()
        for i in range(3):
            Image.fromarray(np.full((5, 7), 40 * i, dtype=np.uint8)).save(tmp_path / label / f"{i}.png")
    d = datasets.load(f"images:{tmp_path}")
    assert d.sample_shape == (5, 7) and d.num_classes == 2
    (tmp_path / "dogs" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(UserError, match="cannot read image 'broken.png'"):
        datasets.load(f"images:{tmp_path}")
