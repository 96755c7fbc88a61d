"""Property-based: any job a user can type is either valid or refused with one line, exit 2,
no traceback, and no run row or queue message."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from support import invoke as in_process

KEYS = st.sampled_from(["codings", "hidden", "learning_rate", "optimizer", "max_minutes", "checkpoint_minutes",
                        "bogus", "Codings", "noise"]) | st.from_regex(r"[a-z_]{1,12}", fullmatch=True)
VALUES = (st.integers(-10**6, 10**6).map(str) | st.floats(allow_nan=True, allow_infinity=True).map(str)
          | st.sampled_from(["", "sgd", "adam", "true", "none", "1e400", "0x10", "NaN", "10**3"])
          | st.text(max_size=12))
RECIPES = st.sampled_from(["linear-ae", "stacked-ae", "nope", "STACKED-AE", ""])
NUMBERS = st.integers(-5, 10**7).map(str) | st.text(max_size=6)
DATASETS = st.sampled_from(["mnist-5k", "digits", "npz:/nope.npz", "images:", "images:/nonexistent", "x", ":", ""])


def invoke(args: list[str]) -> tuple[int, str]:
    """Through the real error boundary. Anything but SystemExit escaping it would be a traceback
    at the entry point: in_process.invoke fails the test with it, naming the input."""
    result = in_process(args)
    return result.code, result.stderr


@pytest.fixture
def dead_broker(lq_home, monkeypatch):
    monkeypatch.setenv("LATENTQ_BROKER_URL", "redis://127.0.0.1:1/0")  # valid jobs stop at the broker
    return lq_home


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(recipe=RECIPES, sets=st.lists(st.tuples(KEYS, VALUES), max_size=4), epochs=NUMBERS, batch=NUMBERS,
       dataset=DATASETS, name=st.none() | st.text(max_size=10))
def test_any_submit_is_valid_or_refused_in_one_line(dead_broker, recipe, sets, epochs, batch, dataset, name):
    args = ["submit", recipe, "--epochs", epochs, "--batch-size", batch, "--dataset", dataset]
    for key, value in sets:
        args += ["--set", f"{key}={value}"]
    if name is not None:
        args += ["--name", name]
    code, err = invoke(args)
    error_lines = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1, err
    if "cannot reach the broker" in err:
        assert code == 1  # the spec was valid
    else:
        assert code == 2, err
    db = dead_broker / "latentq.db"
    if db.exists():
        from latentq.db.store import Store

        assert Store(f"sqlite:///{db}", dead_broker / "runs").list_runs() == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(run_id=st.text(min_size=1, max_size=20).filter(lambda s: not s.startswith("-")),
       command=st.sampled_from(["status", "show", "cancel", "watch"]))
def test_any_run_id_is_found_or_refused_in_one_line(lq_home, run_id, command):
    code, err = invoke([command, run_id])
    assert code == 1
    error_lines = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1 and "no run with id" in error_lines[0], err
    assert not (lq_home / "runs").exists()
