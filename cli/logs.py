"""`latentq logs ID [--follow]` (ID or a unique prefix of it): what a run's training processes printed (runs/<id>/run.log)."""

from __future__ import annotations

import sys
import time

import click

from latentq.cli.ids import resolve_run_id


@click.command()
@click.argument("run_id", callback=resolve_run_id)
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the run ends.")
def logs(run_id: str, follow: bool) -> None:
    """Print a run's own log: its output, warnings, a failure's traceback, one header per attempt."""
    from latentq.cli import common
    from latentq.db.tables import RunStatus
    from latentq.errors import StateError
    from latentq.worker.process import run_log

    settings = common.settings()
    store = common.store(settings)
    run = store.get(run_id)  # NotFound for an unknown id
    files, name = run_log(settings, run_id)
    if not follow:
        if not files.exists(name):
            raise StateError(_no_log(run_id, run.status))
        with files.open(name) as fh:
            sys.stdout.buffer.write(fh.read())
        return
    offset = 0
    while True:
        status = store.get(run_id).status  # read before the file: its last lines are then in it
        if files.exists(name):
            with files.open(name) as fh:
                fh.seek(offset)
                chunk = fh.read()
            offset += len(chunk)
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
        if status in RunStatus.TERMINAL:
            if not files.exists(name):
                raise StateError(_no_log(run_id, status))
            return
        time.sleep(0.5)


def _no_log(run_id: str, status: str) -> str:
    from latentq.db.tables import RunStatus

    if status == RunStatus.QUEUED:
        return f"run {run_id} has no log yet: it is queued (`latentq logs {run_id} --follow` waits for it)"
    return (f"run {run_id} ({status}) has no log: it ran in the foreground (`latentq run`), "
            "where its output went to that terminal")
