"""`latentq models --json` and `latentq models RECIPE --json` keep each recipe's parameters: the
same names, types, defaults and bounds as the snapshot in fixtures/recipe_params.json (taken before
the shared fields moved to field factories and base classes). Help texts may change; order may
follow where a field is declared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import invoke

SNAPSHOT = Path(__file__).parent / "fixtures" / "recipe_params.json"
KEYS = ("type", "default", "bounds")


def _table(params: list[dict]) -> dict[str, dict]:
    return {p["name"]: {k: p[k] for k in KEYS} for p in params}


def _listed() -> dict[str, dict[str, dict]]:
    result = invoke(["models", "--json"])
    assert result.code == 0, result.stderr
    return {r["name"]: _table(r["params"]) for r in json.loads(result.stdout)}


def test_models_json_lists_the_snapshotted_parameters():
    expected = json.loads(SNAPSHOT.read_text())
    assert _listed() == expected


@pytest.mark.parametrize("recipe", sorted(json.loads(SNAPSHOT.read_text())))
def test_models_recipe_json_details_the_snapshotted_parameters(recipe):
    result = invoke(["models", recipe, "--json"])
    assert result.code == 0, result.stderr
    assert _table(json.loads(result.stdout)["params"]) == json.loads(SNAPSHOT.read_text())[recipe]


def test_every_parameter_has_help():
    result = invoke(["models", "--json"])
    missing = [(r["name"], p["name"]) for r in json.loads(result.stdout) for p in r["params"] if not p["help"]]
    assert not missing


if __name__ == "__main__":  # a parameter added or changed on purpose: `python tests/test_recipe_params.py`
    SNAPSHOT.write_text(json.dumps(_listed(), indent=1, sort_keys=True) + "\n")
