"""The CLI through its real entry point: JSON contracts, one-line errors, nothing left behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from support import cli, invoke


def _runs(home: Path) -> list:
    if not (home / "latentq.db").exists():
        return []
    from latentq.db.store import Store

    return Store(f"sqlite:///{home / 'latentq.db'}", home / "runs").list_runs()


def test_run_trains_in_the_foreground_and_writes_pictures(lq_home):
    result = cli("run", "stacked-ae", "--dataset", "digits", "--epochs", "2", "--set", "hidden=16",
                 "--set", "codings=4", "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)  # nothing but JSON on stdout
    assert status["status"] == "succeeded" and status["epoch"] == 2
    m = status["metrics"]
    assert m["params"] == (64 * 16 + 16) + (16 * 4 + 4) + (4 * 16 + 16) + (16 * 64 + 64)
    assert m["val_mse"] < 0.2 and m["train_seconds"] > 0 and m["samples_per_second"] > 0
    grid = next(Path(a["path"]) for a in status["artifacts"] if a["kind"] == "reconstructions")
    with Image.open(grid) as img:
        assert img.format == "PNG" and img.size[0] > img.size[1]  # originals over reconstructions
    run_dir = lq_home / "runs" / status["id"]
    assert json.loads((run_dir / "spec.json").read_text())["params"]["hidden"] == 16
    assert (run_dir / "model.keras").is_file() and (run_dir / "plots" / "loss.png").is_file()
    assert not list(run_dir.rglob(".*.tmp*"))  # no temp files left behind


@pytest.mark.parametrize(
    "args, needle, code",
    [
        (["run", "nope"], "unknown recipe 'nope'", 2),
        (["run", "stacked-ae", "--set", "codings=-3"], "codings", 2),
        (["run", "stacked-ae", "--set", "bogus=1"], "unknown parameter 'bogus'", 2),
        (["run", "stacked-ae", "--set", "learning_rate=nan"], "should be a finite number (received 'nan')", 2),
        (["run", "stacked-ae", "--set", "learning_rate=inf"], "should be a finite number (received 'inf')", 2),
        (["run", "stacked-ae", "--dataset", "npz:/nope.npz"], "no such file", 2),
        (["run", "stacked-ae", "--epochs", "zero"], "not a valid integer", 2),
        (["run", "stacked-ae", "--name", "x" * 20_000], "(20000 characters)", 2),
        (["run", "x" * 20_000], "unknown recipe", 2),
        (["run", "stacked-ae", "--dataset", "y" * 20_000], "(20000 characters)", 2),
        (["submit", "stacked-ae", "--dataset", "cifar100"], "unknown dataset 'cifar100'", 2),
        (["status", "feedbeef"], "no run with id 'feedbeef'", 1),
        (["show", "feedbeef"], "no run with id 'feedbeef'", 1),
        (["cancel", "feedbeef"], "no run with id 'feedbeef'", 1),
    ],
)
def test_bad_input_is_one_line_nonzero_and_leaves_no_run(lq_home, args, needle, code):
    result = invoke(args)  # in-process, through the real error boundary
    assert result.code == code, result.stderr
    assert len(result.error_lines) == 1 and needle in result.error_lines[0], result.stderr
    assert len(result.stderr) < 2000  # a long input is named, not echoed whole
    assert _runs(lq_home) == []
    assert not (lq_home / "runs").exists() or not any((lq_home / "runs").iterdir())


def test_the_real_entry_point_prints_one_line_without_a_traceback(lq_home):
    result = cli("run", "stacked-ae", "--set", "codings=-3")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        line for line in result.stderr.splitlines() if line.startswith("Error:")]


@pytest.mark.parametrize(
    "env, needle",
    [
        ({"LATENTQ_HOME": "/proc/nope"}, "LATENTQ_HOME='/proc/nope' is not a usable folder"),
        ({"LATENTQ_DB_URL": "sqlite:////nonexistent-latentq/dir/x.db"}, "folder '/nonexistent-latentq/dir' does not exist"),
        ({"LATENTQ_DB_URL": "mysql://u:hunter2@h/db"}, "unsupported scheme 'mysql'"),
        ({"LATENTQ_BROKER_URL": "amqp://guest:hunter2@h//"}, "LATENTQ_BROKER_URL: unsupported scheme 'amqp'"),
        ({"LATENTQ_DB_URL": "postgresql://u:hunter2@h:99999/db"}, "LATENTQ_DB_URL is not a valid URL (Port out of"),
        ({"LATENTQ_BROKER_URL": "redis://:hunter2@h:port/0"}, "LATENTQ_BROKER_URL is not a valid URL"),
        ({"LATENTQ_DB_URL": "postgresql://u:hunter2@[::1/db"}, "LATENTQ_DB_URL is not a valid URL"),
        ({"LATENTQ_DB_URL": "hunter2"}, "LATENTQ_DB_URL is not a URL"),
        ({"LATENTQ_HEARTBEAT_SECONDS": "soon"}, "LATENTQ_HEARTBEAT_SECONDS must be a number"),
        ({"LATENTQ_MAX_ATTEMPTS": "0"}, "LATENTQ_MAX_ATTEMPTS must be an integer >= 1"),
    ],
)
def test_settings_errors_are_one_line_and_create_nothing(lq_home, env, needle):
    for args in (["list"], ["submit", "linear-ae"], ["run", "linear-ae"]):
        result = invoke(args, env=env)
        assert result.code == 2, (args, result.stderr)
        assert len(result.error_lines) == 1 and needle in result.error_lines[0], result.stderr
        assert "hunter2" not in result.stderr
    assert not Path("/nonexistent-latentq").exists()
    assert _runs(lq_home) == []


def test_an_idempotency_key_names_one_spec(lq_home, broker):
    first = invoke(["submit", "linear-ae", "--epochs", "1", "--idempotency-key", "k1", "--json"])
    assert first.code == 0, first.stderr
    run_id = json.loads(first.stdout)["id"]
    again = invoke(["submit", "linear-ae", "--epochs", "1", "--idempotency-key", "k1", "--json"])
    assert again.code == 0 and json.loads(again.stdout)["id"] == run_id
    for command, other in (("submit", ["linear-ae", "--epochs", "2"]),
                           ("submit", ["stacked-ae", "--dataset", "digits", "--epochs", "1"]),
                           ("run", ["linear-ae", "--epochs", "1", "--set", "codings=1"])):
        result = invoke([command, *other, "--idempotency-key", "k1"])
        assert result.code == 2, result.stderr
        assert len(result.error_lines) == 1 and f"already names run {run_id}" in result.error_lines[0]
        assert "different spec" in result.error_lines[0]
    assert len(_runs(lq_home)) == 1
    import redis

    client = redis.Redis.from_url(broker)
    assert sum(client.llen(k) for k in client.keys("latentq*") if client.type(k) == b"list") == 1


def test_db_commands_show_and_upgrade_the_schema_from_any_folder(lq_home, tmp_path):
    history = cli("db", "history")
    assert history.returncode == 0 and "0001" in history.stdout and "(head)" in history.stdout
    before = invoke(["db", "current"])
    assert before.code == 0 and "no schema yet" in before.stdout
    assert invoke(["db", "upgrade"]).code == 0
    after = invoke(["db", "current"])
    assert after.code == 0 and "(head)" in after.stdout and after.stdout.split()[0] != "empty"
    bad = invoke(["db", "upgrade", "nope"])
    assert bad.code == 2 and len(bad.error_lines) == 1 and "nope" in bad.error_lines[0]


def test_unreachable_broker_masks_the_password_and_queues_nothing(lq_home):
    result = cli("submit", "linear-ae", env={"LATENTQ_BROKER_URL": "redis://:hunter2@127.0.0.1:1/0"})
    assert result.returncode == 1
    assert "cannot reach the broker" in result.stderr and "hunter2" not in result.stderr
    assert _runs(lq_home) == []


def test_unreachable_database_is_one_line_without_the_password(lq_home):
    result = cli("submit", "linear-ae", env={"LATENTQ_DB_URL": "postgresql://bob:hunter2@127.0.0.1:1/x"})
    assert result.returncode == 1, result.stderr
    assert "cannot reach the database" in result.stderr and "hunter2" not in result.stderr
    assert "Traceback" not in result.stderr


def test_models_and_datasets_print_json(lq_home):
    models = json.loads(cli("models", "--json").stdout)
    stacked = next(m for m in models if m["name"] == "stacked-ae")
    codings = next(p for p in stacked["params"] if p["name"] == "codings")
    assert codings["default"] == 30 and ">=1" in codings["bounds"]
    names = [d["name"] for d in json.loads(cli("datasets", "--json").stdout)]
    assert {"mnist-5k", "digits", "npz:PATH", "images:DIR"} <= set(names)


def test_dry_run_prints_the_resolved_spec_and_creates_nothing(lq_home):
    result = cli("run", "linear-ae", "--set", "codings=1", "--dry-run")
    assert result.returncode == 0
    assert json.loads(result.stdout)["params"]["codings"] == 1
    assert _runs(lq_home) == []
