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
def retry(run_id: str, local: bool) -> None:
    """Re-queue a failed or cancelled run (or re-send a queued run's message); it resumes from its last checkpoint."""
    from latentq.cli.main import _foreground, _settings, _store
    from latentq.db.schema import RunStatus
    from latentq.db.store import IllegalTransition

    settings = _settings()
    store = _store(settings)
    run = store.get(run_id)
    if local:
        host, pid = socket.gethostname(), os.getpid()
        if not store.requeue(run_id, local=(host, pid)):
            raise IllegalTransition(f"run {run_id} is {run.status}; only failed or cancelled runs can be "
                                    "retried with --local")
        store.add_event(run_id, "info", f"retried in the foreground by process {pid} on {host}")
        status = _foreground(run_id, settings, store, quiet=False)
        click.echo(render.final_line(status))
        sys.exit(render.exit_code(status))

    from latentq.worker.app import ping_broker
    from latentq.worker.jobs import requeue, resend

    ping_broker()
    if run.status == RunStatus.QUEUED.value:
        if run.pid is not None:
            raise IllegalTransition(f"run {run_id} is queued to start in process {run.pid} on {run.host}, "
                                    "not on a queue")
        if not resend(store, run, "retried by the user"):
            raise IllegalTransition(f"run {run_id} changed while retrying it; see `latentq status {run_id}`")
        click.echo(f"run {run_id} is queued: its message was sent again to queue {run.queue}")
        return
    sent = requeue(store, run_id, lambda: store.requeue(run_id), "retried by the user")
    if sent is None:
        raise IllegalTransition(f"run {run_id} is {run.status}; only failed, cancelled or queued runs can be retried")
    if sent:
        click.echo(f"run {run_id} queued again")
    else:
        click.echo(f"run {run_id} queued again, but its message could not be sent: the sweep sends it once "
                   "the broker answers")


def resend_if_lost(store, run_id: str, settings) -> bool:
    """Submitted again (same idempotency key): a queued run whose message the broker does not
    hold gets it now instead of waiting for the sweep."""
    from latentq.db.schema import RunStatus
    from latentq.worker.jobs import queued_run_ids, resend

    run = store.get(run_id)
    if run.status != RunStatus.QUEUED.value or run.pid is not None:
        return False
    live = queued_run_ids(settings.broker_url, {run.queue})
    if live is None or run_id in live:
        return False
    if resend(store, run, "submitted again, its message not in the broker"):
        render.info(f"run {run_id} was queued with no message in the broker: sent again")
        return True
    return False


@click.command()
def reap() -> None:
    """Re-queue runs whose worker died, fail dead `latentq run`s here, re-send lost messages.

    Every worker also does this by itself, every few seconds."""
    from latentq.cli.main import _settings
    from latentq.worker.reaper import reap_once

    problems: list[str] = []
    changed = reap_once(_settings(), problems)
    for run_id, what in changed:
        click.echo(f"run {run_id} -> {what}")
    if not changed:
        click.echo("no stale or stranded runs")
    for problem in problems:
        render.info(f"warning: {problem}")
