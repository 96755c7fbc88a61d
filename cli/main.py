"""latentq: submit, run and watch autoencoder / VAE / GAN training jobs."""

from __future__ import annotations

import sys
from typing import Any, Optional

import click

from latentq.cli import common, render
from latentq.cli.common import job_options, queue_options
from latentq.cli.ids import resolve_run_id

# Commands in modules of their own, imported only when run (or when `--help` lists them).
LAZY_COMMANDS = {
    "generate": "latentq.cli.generate:generate",
    "data": "latentq.cli.data:data",
    "ui": "latentq.cli.ui:ui",
    "report": "latentq.cli.ui:report",
    "rm": "latentq.cli.runs:rm",
    "cancel": "latentq.cli.runs:cancel",
    "compare": "latentq.cli.runs:compare",
    "sweep": "latentq.cli.runs:sweep",
    "search": "latentq.cli.search:search",
    "export": "latentq.cli.runs:export",
    "db": "latentq.cli.db_commands:db",
    "retry": "latentq.cli.recovery:retry",
    "reap": "latentq.cli.recovery:reap",
    "worker": "latentq.cli.workers:worker",
    "workers": "latentq.cli.workers:workers",
    "logs": "latentq.cli.logs:logs",
    "doctor": "latentq.cli.doctor:doctor",
}


@click.group(cls=common.LazyGroup, lazy=LAZY_COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="latentq")
def cli() -> None:
    """Train autoencoders, VAEs and GANs as queued jobs (or in the foreground with `run`)."""


@cli.command()
@click.argument("recipe")
@job_options
@click.option("--dry-run", is_flag=True, help="Validate and print the resolved spec; run nothing.")
def run(recipe: str, as_json: bool, dry_run: bool, **opts: Any) -> None:
    """Run a training job here, in the foreground (SQLite + local disk, no broker)."""
    spec = common.train_spec(recipe, **opts)
    if dry_run:
        render.print_json(spec.model_dump(mode="json"))
        return
    settings = common.settings()
    if not as_json:
        common.where(settings)
    store = common.store(settings)
    run_id, created = store.create_run(spec.model_dump(mode="json"), max_attempts=settings.max_attempts)
    if not created:
        render.info(f"idempotency key {spec.idempotency_key!r} already names run {run_id}")
    status = common.foreground(run_id, settings, store, quiet=as_json)
    render.out(as_json, status, lambda: click.echo(render.final_line(status)))
    sys.exit(render.exit_code(status))


@cli.command()
@click.argument("recipe")
@job_options
@queue_options(wait_help="Wait for the run to end, showing progress.")
def submit(recipe: str, as_json: bool, queue: str, priority: int, wait: bool, max_attempts: Optional[int],
           **opts: Any) -> None:
    """Queue a training job for a worker."""
    spec = common.train_spec(recipe, queue=queue, priority=priority, **opts)
    settings = common.settings()
    if not as_json:
        common.where(settings, broker=True)
    common.after_submit(common.submit(spec, settings, max_attempts), as_json, wait, settings)


@common.quick
@cli.command()
@click.argument("run_id", callback=resolve_run_id)
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
def status(run_id: str, as_json: bool) -> None:
    """Print a run's status (one line)."""
    from latentq.cli import waiting
    from latentq.db import reads

    runs = common.reader()
    st = waiting.explain(runs, [reads.status(runs, run_id)])[0]
    render.out(as_json, st, lambda: click.echo(render.status_line(st)))


@cli.command()
@click.argument("run_id", callback=resolve_run_id)
def watch(run_id: str) -> None:
    """Follow a run with a live progress bar until it ends."""
    from latentq.db import reads
    from latentq.worker.reaper import fail_dead_local_runs

    runs = common.reader()

    def current() -> dict[str, Any]:
        fail_dead_local_runs(runs)  # the `latentq run` being watched may die meanwhile
        return reads.progress(runs, run_id)

    render.follow(current)
    st = reads.status(runs, run_id)
    click.echo(render.final_line(st))
    sys.exit(render.exit_code(st))


@common.quick
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
    from latentq.cli import waiting
    from latentq.db import reads

    runs = common.reader()
    statuses = reads.list_statuses(runs, limit=limit, status=status_filter, recipe=recipe, name=name, group=group)
    waiting.explain(runs, statuses)

    def human() -> None:
        if statuses:
            render.status_table(statuses, wide=wide)
        elif any((status_filter, recipe, name, group)):
            click.echo("no run matches these filters")
        else:
            click.echo("no runs yet: `latentq run RECIPE` trains one here, `latentq submit RECIPE` queues one "
                       "(`latentq models` lists the recipes)")

    render.out(as_json, statuses, human)


@common.quick
@cli.command()
@click.argument("run_id", callback=resolve_run_id)
@click.option("--history", is_flag=True, help="Each metric per epoch, not only its latest value.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
def show(run_id: str, history: bool, as_json: bool) -> None:
    """Show a run's spec, latest metrics, artifacts and events."""
    from latentq.db import reads

    runs = common.reader()
    st = reads.status(runs, run_id)
    spec = reads.spec(runs, run_id)
    events = [{"at": reads.iso(e.at), "level": e.level, "message": e.message} for e in reads.events(runs, run_id)]
    per_epoch = reads.history(runs, run_id) if history else None
    data = {**st, "spec": spec, "events": events, **({"history": per_epoch} if history else {})}
    render.out(as_json, data, lambda: render.status_detail(st, spec, events, history=per_epoch))


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


def main() -> None:
    """Entry point: every user error is one line on stderr and a non-zero exit."""
    import gc

    from latentq.cli.errors import run_cli

    gc.disable()  # until the command is known: see common.quick
    common.ENTRY_POINT["fast_exit"] = True
    run_cli(cli)


if __name__ == "__main__":
    main()
