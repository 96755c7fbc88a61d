"""latentq: submit, run and watch autoencoder / VAE / GAN training jobs."""

from __future__ import annotations

import os
import socket
import sys
import threading
from typing import Any, Optional

import click

from latentq.cli import recovery, render
from latentq.cli import doctor as doctor_cli, logs as logs_cli, workers as workers_cli
from latentq.cli.db_commands import db as db_group
from latentq.cli.generate import generate as generate_command
from latentq.cli.ids import resolve_run_id

JOB_OPTIONS = [
    click.option("--dataset", "-d", default=None, help="Dataset name (see `latentq datasets`); default: the recipe's."),
    click.option("--epochs", "-e", type=int, default=10, show_default=True),
    click.option("--batch-size", "-b", type=int, default=32, show_default=True),
    click.option("--seed", type=int, default=0, show_default=True),
    click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="A recipe parameter (repeatable)."),
    click.option("--name", default=None, help="A label for the run."),
    click.option("--idempotency-key", default=None, help="Submitting the same key again returns the same run."),
    click.option("--json", "as_json", is_flag=True, help="Print JSON only."),
]


def job_options(func):
    for option in reversed(JOB_OPTIONS):
        func = option(func)
    return func


def _settings():
    from latentq.settings import load_settings

    return load_settings()


def _store(settings=None):
    from latentq.db.store import Store
    from latentq.worker.reaper import fail_dead_local_runs

    settings = settings or _settings()
    store = Store(settings.db_url, settings.artifact_root)
    fail_dead_local_runs(store)  # a `latentq run` killed on this host: failed, with the way back
    return store


def _where(settings, broker: bool = False, artifacts: bool = False) -> None:
    from latentq.settings import mask_url

    line = f"latentq: home {settings.home} | db {mask_url(settings.db_url)}"
    if broker:
        line += f" | broker {mask_url(settings.broker_url)}"
    if artifacts:
        line += f" | artifact root {settings.artifact_root}"
    render.info(line)


def _spec(recipe: str, queue: str = "latentq", priority: int = 5, **opts: Any):
    """The validated job, its dataset checked against the recipe's needs: before anything exists."""
    from latentq.data_checks import check_job
    from latentq.spec import build_spec, parse_sets

    spec = build_spec(
        kind="train", recipe=recipe, dataset=opts["dataset"], epochs=opts["epochs"], batch_size=opts["batch_size"],
        seed=opts["seed"], params=parse_sets(opts["sets"]), name=opts["name"],
        idempotency_key=opts["idempotency_key"], queue=queue, priority=priority,
    )
    check_job(spec)
    return spec


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="latentq")
def cli() -> None:
    """Train autoencoders, VAEs and GANs as queued jobs (or in the foreground with `run`)."""


@cli.command()
@click.argument("recipe")
@job_options
@click.option("--dry-run", is_flag=True, help="Validate and print the resolved spec; run nothing.")
def run(recipe: str, as_json: bool, dry_run: bool, **opts: Any) -> None:
    """Run a training job here, in the foreground (SQLite + local disk, no broker)."""
    spec = _spec(recipe, **opts)
    if dry_run:
        render.print_json(spec.model_dump(mode="json"))
        return
    settings = _settings()
    if not as_json:
        _where(settings)
    store = _store(settings)
    run_id, created = store.create_run(spec.model_dump(mode="json"), max_attempts=settings.max_attempts)
    if not created:
        render.info(f"idempotency key {spec.idempotency_key!r} already names run {run_id}")
    status = _foreground(run_id, settings, store, quiet=as_json)
    render.out(as_json, status, lambda: click.echo(render.final_line(status)))
    sys.exit(render.exit_code(status))


def _foreground(run_id: str, settings, store, quiet: bool) -> dict[str, Any]:
    """The shared job function in this process, with a progress bar fed from the store."""
    from latentq.worker.jobs import execute_run

    store.mark_local(run_id, socket.gethostname(), os.getpid())  # this process owns its recovery
    if quiet:
        return execute_run(run_id, settings)
    done = threading.Event()
    console = render.progress_console()  # here: the thread would decide while TensorFlow's import hides stderr
    from latentq.db import reads

    watcher = threading.Thread(target=lambda: render.follow(lambda: reads.progress(store, run_id), stop=done.is_set,
                                                            console=console), daemon=True)
    watcher.start()
    try:
        status = execute_run(run_id, settings)
    finally:
        done.set()
        watcher.join(timeout=5)
    return status


@cli.command()
@click.argument("recipe")
@job_options
@click.option("--queue", "-q", default="latentq", show_default=True, help="Celery queue (workers listen with -Q).")
@click.option("--priority", type=click.IntRange(0, 9), default=5, show_default=True, help="9 runs first.")
@click.option("--wait", is_flag=True, help="Wait for the run to end, showing progress.")
@click.option("--max-attempts", type=click.IntRange(1, 100), default=None,
              help="Attempts before a run whose worker keeps dying is failed [default: LATENTQ_MAX_ATTEMPTS or 3].")
def submit(recipe: str, as_json: bool, queue: str, priority: int, wait: bool, max_attempts: Optional[int],
           **opts: Any) -> None:
    """Queue a training job for a worker."""
    spec = _spec(recipe, queue=queue, priority=priority, **opts)
    settings = _settings()
    if not as_json:
        _where(settings, broker=True)
    status = _enqueue_new(spec, settings, max_attempts)
    _after_submit(status, as_json, wait, settings)


def _enqueue_new(spec, settings, max_attempts: Optional[int] = None, group: Optional[str] = None) -> dict[str, Any]:
    """Broker first, then the row, then the message; a refused message removes the row.
    The status object's "created" says whether this call made the run (an idempotency key may
    name an existing one, whose lost message is then sent again)."""
    from latentq.worker.app import enqueue, ping_broker

    ping_broker()
    store = _store(settings)
    run_id, created = store.create_run(spec.model_dump(mode="json"),
                                       max_attempts=max_attempts or settings.max_attempts, group=group)
    if created:
        try:
            enqueue(run_id, spec.queue, spec.priority, recipe=spec.recipe)
        except Exception:
            store.delete_run(run_id)
            raise
        store.mark_sent(run_id)
    else:
        if not spec.generate and group is None:
            render.info(f"idempotency key {spec.idempotency_key!r} already names run {run_id}")
        recovery.resend_if_lost(store, run_id, settings)
    return {**store.status(run_id), "created": created}


def _after_submit(status: dict[str, Any], as_json: bool, wait: bool, settings) -> None:
    from latentq.cli.workers import say_consumers

    status.pop("created", None)
    say_consumers(status, wait)
    if not wait:
        render.out(as_json, status, lambda: click.echo(f"run {status['id']} queued on {status['queue']}"))
        return
    from latentq.db import reads
    from latentq.db.schema import RunStatus

    store = _store(settings)
    if as_json:
        import time

        said = None
        while status["status"] not in RunStatus.TERMINAL:
            time.sleep(0.5)
            status = reads.progress(store, status["id"])
            said = render.say_waiting(status, said, render.info)
    else:
        status = render.follow(lambda: reads.progress(store, status["id"]))
    status = store.status(status["id"])
    render.out(as_json, status, lambda: render.final_lines(status))
    sys.exit(render.exit_code(status))


@cli.command()
@click.argument("run_id", callback=resolve_run_id)
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
def status(run_id: str, as_json: bool) -> None:
    """Print a run's status (one line)."""
    st = _store().status(run_id)
    render.out(as_json, st, lambda: click.echo(render.status_line(st)))


@cli.command()
@click.argument("run_id", callback=resolve_run_id)
def watch(run_id: str) -> None:
    """Follow a run with a live progress bar until it ends."""
    from latentq.db import reads
    from latentq.worker.reaper import fail_dead_local_runs

    store = _store()

    def current() -> dict[str, Any]:
        fail_dead_local_runs(store)  # the `latentq run` being watched may die meanwhile
        return reads.progress(store, run_id)

    render.follow(current)
    st = store.status(run_id)
    click.echo(render.final_line(st))
    sys.exit(render.exit_code(st))


@cli.command("list")
@click.option("--status", "status_filter", type=click.Choice(["queued", "running", "succeeded", "failed", "cancelled"]))
@click.option("--recipe", default=None, help="Only runs of this recipe.")
@click.option("--name", default=None, help="Only runs whose name contains this.")
@click.option("--group", default=None, help="Only runs of this group (see `latentq sweep`).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--wide", is_flag=True, help="Never wrap: one line per run, however wide.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
def list_runs(status_filter: Optional[str], recipe: Optional[str], name: Optional[str], group: Optional[str],
              limit: int, wide: bool, as_json: bool) -> None:
    """List recent runs, newest first."""
    from latentq.db import reads

    store = _store()
    statuses = reads.list_statuses(store, limit=limit, status=status_filter, recipe=recipe, name=name, group=group)
    render.out(as_json, statuses, lambda: render.status_table(statuses, wide=wide))


@cli.command()
@click.argument("run_id", callback=resolve_run_id)
@click.option("--history", is_flag=True, help="Each metric per epoch, not only its latest value.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
def show(run_id: str, history: bool, as_json: bool) -> None:
    """Show a run's spec, latest metrics, artifacts and events."""
    from latentq.db import reads

    store = _store()
    st = store.status(run_id)
    spec = store.spec(run_id)
    events = [{"at": e.at.isoformat(timespec="seconds") + "Z", "level": e.level, "message": e.message}
              for e in store.events(run_id)]
    per_epoch = reads.history(store, run_id) if history else None
    data = {**st, "spec": spec, "events": events, **({"history": per_epoch} if history else {})}
    render.out(as_json, data, lambda: render.status_detail(st, spec, events, history=per_epoch))


@cli.command()
@click.argument("run_id", callback=resolve_run_id)
def cancel(run_id: str) -> None:
    """Cancel a run: a queued run never starts; a running one stops at the next batch."""
    result = _store().cancel(run_id)
    click.echo(f"run {run_id} {result}")


@cli.command()
@click.argument("recipe", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
def models(recipe: Optional[str], as_json: bool) -> None:
    """List recipes and their parameters (types, defaults, bounds); RECIPE details one."""
    from latentq.recipes import all_recipes, get_recipe

    chosen = [get_recipe(recipe)] if recipe else all_recipes()
    recipes = [{"name": r.name, "family": r.family, "summary": r.summary, "default_dataset": r.default_dataset,
                "params": r.param_table(), **({"can": sorted(r.can)} if recipe else {})} for r in chosen]

    def human() -> None:
        from rich.console import Console
        from rich.table import Table

        console = Console(highlight=False)
        for r in recipes:
            table = Table(title=f"[bold]{r['name']}[/bold] ({r['family']}): {r['summary']}", title_justify="left",
                          box=None)
            for col in ("--set", "type", "default", "bounds", "help"):
                table.add_column(col)
            for p in r["params"]:
                table.add_row(p["name"], p["type"], repr(p["default"]), p["bounds"], p["help"])
            console.print(table)
            if recipe:
                render.recipe_details(r)
            console.print()

    render.out(as_json, recipes[0] if recipe else recipes, human)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
def datasets(as_json: bool) -> None:
    """List dataset names."""
    from latentq import datasets as ds

    from latentq.cli.data import prepared_rows

    rows = ds.catalogue() + prepared_rows()

    def human() -> None:
        for row in rows:
            if "count" in row:
                shape = "x".join(str(d) for d in row["shape"])
                click.echo(f"{row['name']:<15} prepared: {row['count']} images {shape}, "
                           f"{row['bytes'] / 2**20:.1f} MiB, from {row['source']}")
            else:
                click.echo(f"{row['name']:<15} {row['description']}")

    render.out(as_json, rows, human)


cli.add_command(generate_command)
from latentq.cli.data import data as data_group  # noqa: E402

cli.add_command(data_group)
from latentq.cli import runs as _runs, ui as _ui  # noqa: E402  (their commands import heavy code lazily)

for _command in (_ui.ui, _ui.report, _runs.rm, _runs.compare, _runs.make_sweep_command(job_options), _runs.export,
                 db_group, recovery.retry, recovery.reap,
                 workers_cli.worker, workers_cli.workers, logs_cli.logs, doctor_cli.doctor):
    cli.add_command(_command)


def main() -> None:
    """Entry point: every user error is one line on stderr and a non-zero exit."""
    from latentq.cli.errors import run_cli

    run_cli(cli)


if __name__ == "__main__":
    main()
