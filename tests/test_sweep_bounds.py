"""Sweeps with bounds: the size is known before a point is built, a sweep over the limit is one
line naming its count, --random draws points of a huge grid without building it, a group is
created whole or not at all, and empty grid values are refused."""

from __future__ import annotations

import json

import pytest

from support import cli

pytestmark = pytest.mark.cli


def _axes(keys: int, values: int) -> list[str]:
    return [arg for k in range(keys) for arg in ("--grid", f"k{k}=" + ",".join(str(v) for v in range(values)))]


def _runs() -> int:
    return len(json.loads(cli("list", "--json", "--limit", "1000").stdout))


def test_a_sweep_of_ten_billion_points_is_one_line_naming_the_count(lq_home):
    # Built, this product would take hundreds of gigabytes: the test would be killed, not fail.
    result = cli("sweep", "stacked-ae", *_axes(10, 10), timeout=60)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "10,000,000,000 runs" in errors[0] and "limit of 10,000" in errors[0] and "--max-runs" in errors[0]
    assert _runs() == 0


def test_random_over_the_limit_is_refused_and_max_runs_raises_the_limit(lq_home, broker):
    grid = ["--grid", "codings=2,3,4", "--grid", "hidden=8,16,32", "--dataset", "digits", "--epochs", "1"]
    big = cli("sweep", "stacked-ae", *_axes(8, 10), "--random", "1000000", timeout=60)
    assert big.returncode == 2 and "1,000,000 runs (--random 1,000,000 of 100,000,000 grid points)" in big.stderr
    over = cli("sweep", "stacked-ae", *grid, "--max-runs", "8")
    assert over.returncode == 2 and "9 runs" in over.stderr and "limit of 8" in over.stderr, over.stderr
    assert _runs() == 0
    fits = cli("sweep", "stacked-ae", *grid, "--max-runs", "9", "--json")
    assert fits.returncode == 0, fits.stderr
    assert json.loads(fits.stdout)["created"] == 9 and _runs() == 9


def test_random_draws_distinct_points_of_a_huge_grid_without_building_it(lq_home, broker):
    # 10^4 seeds x 4096 codings x 8192 hidden sizes: 3.4e11 points, 5 drawn.
    args = ["sweep", "stacked-ae", "--grid", "seed=" + ",".join(str(s) for s in range(10_000)),
            "--grid", "codings=" + ",".join(str(c) for c in range(1, 4097)),
            "--grid", "hidden=" + ",".join(str(h) for h in range(1, 8193)),
            "--random", "5", "--dataset", "digits", "--epochs", "1", "--name", "huge", "--json"]
    result = cli(*args, timeout=120)
    assert result.returncode == 0, result.stderr
    made = json.loads(result.stdout)
    points = [tuple(sorted(r["point"].items())) for r in made["runs"]]
    assert made["created"] == 5 and len(set(points)) == 5
    again = json.loads(cli(*args, timeout=120).stdout)  # the same seed draws the same points
    assert again["created"] == 0 and [r["id"] for r in again["runs"]] == [r["id"] for r in made["runs"]]


@pytest.mark.parametrize("value", ["codings=1,,2", "codings=,1", "codings=1,", "codings=1, ,2"])
def test_an_empty_grid_value_is_refused(lq_home, value):
    result = cli("sweep", "stacked-ae", "--grid", value)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "empty value" in errors[0], result.stderr
    assert _runs() == 0


def test_a_group_is_created_in_one_transaction_or_not_at_all(store):
    spec = {"kind": "train", "recipe": "stacked-ae", "dataset": "digits", "epochs": 1}
    specs = [{**spec, "idempotency_key": f"k{i}"} for i in range(5)] + [{**spec, "idempotency_key": "k0"}]
    from latentq.errors import StateError

    with pytest.raises(StateError):  # the sixth row breaks the key's uniqueness: none are kept
        store.create_runs(specs, group="g")
    assert store.list_runs(limit=100) == []
    made = store.create_runs(specs[:5], group="g")
    assert [created for _, created in made] == [True] * 5
    again = store.create_runs(specs[:5] + [{**spec, "idempotency_key": "k5"}], group="g")
    assert [run_id for run_id, _ in again[:5]] == [run_id for run_id, _ in made]
    assert [created for _, created in again] == [False] * 5 + [True]
    assert {r.group_name for r in store.list_runs(limit=100)} == {"g"} and len(store.list_runs(limit=100)) == 6
