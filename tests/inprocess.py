"""The CLI in this process, through its real error boundary (run_cli), with click's CliRunner
isolation: argument checks run in milliseconds instead of a Python start-up per case."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from click.testing import CliRunner


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("Error:")]


def invoke(args: list[str], env: Optional[dict[str, Optional[str]]] = None) -> Result:
    """`latentq ARGS` in-process. An exception escaping the error boundary fails the test: at the
    real entry point it would be a traceback."""
    from latentq.cli.errors import run_cli
    from latentq.cli.main import cli

    with CliRunner().isolation(env=env) as (out, err, _mixed):
        try:
            run_cli(cli, list(args))
            code = 0
        except SystemExit as done:
            code = int(done.code or 0)
        except BaseException as exc:  # noqa: BLE001
            raise AssertionError(f"`latentq {' '.join(args)[:200]}` escaped the error boundary with "
                                 f"{type(exc).__name__}: {exc} (a traceback for a user)") from exc
        return Result(code, out.getvalue().decode(errors="replace"), err.getvalue().decode(errors="replace"))
