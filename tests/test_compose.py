"""docker-compose.yml against the code: every latentq command parses with the real CLI, every
LATENTQ_* variable is one latentq (or its test suite) reads, Flower runs latentq's app."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from support import ROOT

yaml = pytest.importorskip("yaml")
READS = re.compile(r"""environ(?:\.get)?[\[(]\s*["'](LATENTQ_\w+)["']""")


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _variables_read(*folders: str) -> set[str]:
    names: set[str] = set()
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            names |= set(READS.findall(path.read_text()))
    return names


def _parse(argv: list[str]) -> click.Context:
    """What `latentq ARGV` would run, parsed by click (no command runs)."""
    from latentq.cli.main import cli

    group_ctx = cli.make_context("latentq", list(argv), resilient_parsing=False)
    name, command, rest = cli.resolve_command(group_ctx, group_ctx.protected_args + group_ctx.args)
    return command.make_context(name, rest, parent=group_ctx)


def test_every_latentq_service_command_parses_with_the_cli():
    services = _compose()["services"]
    checked = []
    for name, service in services.items():
        if "build" not in service or "entrypoint" in service or "command" not in service:
            continue  # third-party images, and services that run another program from our image
        ctx = _parse(service["command"])
        checked.append((name, ctx.command.name, ctx.params))
    by_name = {name: (command, params) for name, command, params in checked}
    assert by_name["worker-cpu"][0] == "worker"
    assert by_name["worker-gpu"] == ("worker", {**by_name["worker-gpu"][1], "gpus": "all"})
    assert "gpu" in by_name["worker-gpu"][1]["queues"].split(",")


def test_a_bad_command_would_be_caught():
    with pytest.raises(click.UsageError):
        _parse(["worker", "--no-such-option"])


def _settings_read() -> set[str]:
    """The LATENTQ_* names core/settings.py reads: the one place latentq's settings come from."""
    return set(re.findall(r"""["'](LATENTQ_\w+)["']""", (ROOT / "core" / "settings.py").read_text()))


def test_environment_names_are_settings_latentq_reads():
    code_reads = _settings_read()
    suite_reads = _variables_read("tests")
    assert {"LATENTQ_HOME", "LATENTQ_DB_URL", "LATENTQ_BROKER_URL"} <= code_reads
    services = _compose()["services"]
    for name, service in services.items():
        env = service.get("environment") or {}
        names = set(env) if isinstance(env, dict) else {item.split("=", 1)[0] for item in env}
        unknown = {n for n in names if n.startswith("LATENTQ_")} - code_reads - suite_reads
        assert not unknown, f"service {name}: {sorted(unknown)} are read by nothing"


def test_an_unknown_environment_name_would_be_caught():
    assert "LATENTQ_DB_URI" not in _settings_read() | _variables_read("tests")


def test_flower_and_the_test_profile_use_latentq_itself():
    services = _compose()["services"]
    assert services["flower"]["entrypoint"][:3] == ["celery", "-A", "latentq.worker.app"]
    test = services["test"]
    assert test["profiles"] == ["test"] and test["entrypoint"][:3] == ["python", "-m", "pytest"]
    assert "integration or faults" in test["command"]  # the kinds that need the services
    assert {"LATENTQ_BROKER_URL", "LATENTQ_DB_URL"} <= set(test["environment"])
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY tests tests" in dockerfile
