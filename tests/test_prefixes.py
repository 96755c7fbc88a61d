"""Every command that takes a run id takes a unique prefix of it, and names the matches of an
ambiguous one in one line. The commands are found by reading the click group, so a new
id-taking command is covered without being listed here."""

from __future__ import annotations

import click
import pytest

from support import invoke

FIRST, SECOND = "abc123aaaaaa", "abc123bbbbbb"
UNIQUE, AMBIGUOUS = "abc123a", "abc123"


def id_commands() -> list[tuple[str, ...]]:
    """The command path of every command with an argument named run_id or run_ids."""
    from latentq.cli.main import cli

    found = []

    def walk(group: click.Group, path: tuple[str, ...]) -> None:
        ctx = click.Context(group)
        for name in group.list_commands(ctx):  # the lazy ones included
            command = group.get_command(ctx, name)
            if isinstance(command, click.Group):
                walk(command, path + (name,))
            elif any(isinstance(p, click.Argument) and p.name in ("run_id", "run_ids") for p in command.params):
                found.append(path + (name,))

    walk(cli, ())
    return found


def _extra(path: tuple[str, ...]) -> list[str]:
    """What a command needs besides the id so that it does not ask (files go to the test's cwd)."""
    return {("rm",): ["--yes"]}.get(path, [])


@pytest.fixture
def two_runs(lq_home, broker, monkeypatch, tmp_path):
    """Two cancelled runs whose ids share the prefix abc123 (a finished run: `watch` returns)."""
    monkeypatch.chdir(tmp_path)  # `report`, `compare`, `export` write beside the cwd
    import latentq.db.store as store_module
    from latentq.settings import load_settings

    ids = iter([FIRST, SECOND])
    monkeypatch.setattr(store_module, "new_run_id", lambda: next(ids))
    settings = load_settings()
    store = store_module.Store(settings.db_url, settings.artifact_root)
    spec = {"kind": "train", "recipe": "stacked-ae", "dataset": "digits", "epochs": 1, "batch_size": 32,
            "seed": 0, "params": {}, "queue": "latentq", "priority": 5}
    for expected in (FIRST, SECOND):
        assert store.create_run(dict(spec), max_attempts=3)[0] == expected
        store.cancel(expected)
    return store


def test_the_id_taking_commands_are_found():
    paths = {" ".join(p) for p in id_commands()}
    assert {"status", "show", "watch", "cancel", "logs", "retry", "rm", "generate", "export", "report",
            "compare"} <= paths


@pytest.mark.parametrize("path", id_commands(), ids=lambda p: " ".join(p))
def test_a_unique_prefix_names_the_run(two_runs, tmp_path, path):
    result = invoke([*path, UNIQUE, *_extra(path)])
    said = result.stdout + result.stderr
    assert "no run with id" not in said and "ambiguous" not in said, said
    assert FIRST in said, f"`latentq {' '.join(path)} {UNIQUE}` never named run {FIRST}: {said}"
    assert SECOND not in said


@pytest.mark.parametrize("path", id_commands(), ids=lambda p: " ".join(p))
def test_an_ambiguous_prefix_is_one_line_listing_the_matches(two_runs, tmp_path, path):
    result = invoke([*path, AMBIGUOUS, *_extra(path)])
    assert result.code == 2, result.stdout + result.stderr
    assert len(result.error_lines) == 1 and result.stderr.strip() == result.error_lines[0], result.stderr
    line = result.error_lines[0]
    assert "ambiguous" in line and FIRST in line and SECOND in line
    assert two_runs.get(FIRST).status == "cancelled"  # nothing happened to either run
    assert two_runs.get(SECOND).status == "cancelled"
