"""`retry` and `reap`: bringing back runs that nothing is running (failed, cancelled, stranded)."""

from __future__ import annotations

import os
import socket
import sys

import click

from latentq.cli import render
from latentq.cli.ids import resolve_run_id


@click.command()
@click.argument("run_id", callback=resolve_run_id)
@click.option("--local", is_flag=True,
              help="Resume it here, in the foreground, with no broker (a `latentq run` whose process died).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON only (with --local: the final status, as `run`).")
def retry(run_id: str, local: bool, as_json: bool) -> None:
    """Re-queue a failed or cancelled run (or re-send a queued run's message); it resumes from its last checkpoint."""
    from latentq.cli import common
    from latentq.worker import jobs

    settings = common.settings()
    store = common.store(settings)
    if local:
        jobs.retry(store, run_id, local=(socket.gethostname(), os.getpid()))
        status = common.foreground(run_id, settings, store, quiet=as_json)
        render.out(as_json, status, lambda: click.echo(render.final_line(status)))
        sys.exit(render.exit_code(status))

    from latentq.worker.broker import ping_broker

    ping_broker()  # an unreachable broker: one line, and the run is left as it was
    outcome = jobs.retry(store, run_id)
    status = store.status(run_id)
    said = {
        "resent": f"run {run_id} is queued: its message was sent again to queue {status['queue']}",
        "requeued": f"run {run_id} queued again",
        "requeued-unsent": f"run {run_id} queued again, but its message could not be sent: the sweep sends it "
                           "once the broker answers",
    }[outcome]
    render.out(as_json, status, lambda: click.echo(said))


@click.command()
def reap() -> None:
    """Re-queue runs whose worker died, fail dead `latentq run`s here, re-send lost messages.

    Every worker also does this by itself, every few seconds."""
    from latentq.cli import common
    from latentq.worker.reaper import reap_once

    problems: list[str] = []
    changed = reap_once(common.settings(), problems)
    for run_id, what in changed:
        click.echo(f"run {run_id} -> {what}")
    if not changed:
        click.echo("no stale or stranded runs")
    for problem in problems:
        render.info(f"warning: {problem}")
