"""Commands over several runs: `rm`, `compare`, `sweep`, and `export` (a model out of latentq)."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Optional

import click

from latentq.cli.common import FiniteFloatRange, job_options, queue_options
from latentq.cli.ids import resolve_run_id

# The oldest age `rm --older-than` takes: past it the cutoff would fall before year 1 (datetime's range).
MAX_AGE_DAYS = 100_000

# RunStatus's values, spelled out so that `--help` need not import SQLAlchemy (tests/test_read_model.py
# checks they match).
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


# ---- rm, cancel -------------------------------------------------------------------------------


def confirm_or_stop(question: str, nothing: str) -> None:
    """Ask on stderr; "n" prints `nothing` (what was left alone) and exits 1."""
    if not click.confirm(question, err=True):
        click.echo(nothing, err=True)
        sys.exit(1)


@click.command()
@click.argument("run_ids", nargs=-1, callback=resolve_run_id)
@click.option("--older-than", type=FiniteFloatRange(0, MAX_AGE_DAYS), default=None, metavar="DAYS",
              help="Only runs created more than DAYS ago.")
@click.option("--status", "status_filter", type=click.Choice(STATUSES), default=None, help="Only runs in this status.")
@click.option("--cancel", "cancel_queued", is_flag=True,
              help="Cancel the selected queued runs first, then delete them (a running run is still refused).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def rm(run_ids: tuple[str, ...], older_than: Optional[float], status_filter: Optional[str], cancel_queued: bool,
       yes: bool) -> None:
    """Delete runs and their files (a queued run needs --cancel; a running one is refused: cancel it first)."""
    from latentq.cli import common
    from latentq.db.tables import RunStatus, utcnow
    from latentq.errors import StateError
    from latentq.runtime import artifacts

    if not run_ids and older_than is None and status_filter is None:
        raise click.UsageError("name runs to delete, or select them with --older-than DAYS and/or --status S")
    settings = common.settings()
    store = common.store(settings)
    named = bool(run_ids)
    runs = ([store.get(r) for r in run_ids] if named
            else store.list_runs(limit=1_000_000, status=status_filter))
    if older_than is not None:
        cutoff = utcnow() - timedelta(days=older_than)
        runs = [r for r in runs if r.created_at < cutoff]
    if status_filter:
        runs = [r for r in runs if r.status == status_filter]
    busy = [r for r in runs if r.status in RunStatus.ACTIVE
            and not (cancel_queued and r.status == RunStatus.QUEUED.value)]
    if busy:
        first = busy[0]
        hint = " or add --cancel" if first.status == RunStatus.QUEUED.value else ", then rm it once it has stopped"
        raise StateError(f"run {first.id} is {first.status}: cancel it first (`latentq cancel {first.id}`){hint}"
                         + (f"; {len(busy) - 1} more selected runs are queued or running" if len(busy) > 1 else ""))
    if not runs:
        click.echo("no runs match")
        return
    for r in runs:
        click.echo(f"  {r.id}  {r.status:<9}  {r.recipe:<12} {r.name or ''}")
    if not yes:
        confirm_or_stop(f"Delete {len(runs)} run{'s' if len(runs) != 1 else ''} and their files?", "nothing deleted")
    queued = [r.id for r in runs if r.status == RunStatus.QUEUED.value]
    if queued:  # --cancel: a queued run never starts; its message is dropped by the worker that gets it
        store.cancel_many(queued)
    removed = 0
    for r in runs:
        if not store.remove_run(r.id):
            click.echo(f"run {r.id} started meanwhile: kept (cancel it first)", err=True)
            continue
        artifacts.run_files(settings, r.id).delete("")
        removed += 1
    click.echo(f"deleted {removed} run{'s' if removed != 1 else ''}")


@click.command()
@click.argument("run_ids", nargs=-1, callback=resolve_run_id)
@click.option("--group", "-g", default=None, help="Only runs of this group (see `latentq sweep`).")
@click.option("--status", "status_filter", type=click.Choice(("queued", "running")), default=None,
              help="Only runs in this status [default: queued and running].")
@click.option("--recipe", default=None, help="Only runs of this recipe.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation when more than one run is selected.")
def cancel(run_ids: tuple[str, ...], group: Optional[str], status_filter: Optional[str], recipe: Optional[str],
           yes: bool) -> None:
    """Cancel runs: a queued run never starts; a running one stops at the next batch."""
    from latentq.cli import common
    from latentq.db.tables import RunStatus

    filtered = group is not None or status_filter is not None or recipe is not None
    if not run_ids and not filtered:
        raise click.UsageError("name runs to cancel, or select them with --group, --status and/or --recipe")
    store = common.store()
    if len(run_ids) == 1 and not filtered:  # one named run: a finished one is an error, as it always was
        click.echo(f"run {run_ids[0]} {store.cancel(run_ids[0])}")
        return
    if run_ids:
        runs = [store.get(r) for r in run_ids]
    else:
        runs = store.list_runs(limit=1_000_000, status=status_filter, recipe=recipe, group=group)
    runs = [r for r in runs if (not group or r.group_name == group) and (not recipe or r.recipe == recipe)
            and (r.status == status_filter if status_filter else r.status in RunStatus.ACTIVE)]
    if not runs:
        click.echo("no queued or running runs match")
        return
    if len(runs) > 1 and not yes:
        for r in runs[:20]:
            click.echo(f"  {r.id}  {r.status:<9}  {r.recipe:<12} {r.name or ''}")
        if len(runs) > 20:
            click.echo(f"  ... and {len(runs) - 20} more")
        confirm_or_stop(f"Cancel {len(runs)} runs?", "nothing cancelled")
    outcome = store.cancel_many([r.id for r in runs])
    for run_id, what in outcome.items():
        if what not in ("cancelled", "cancelling"):
            click.echo(f"run {run_id} {what} meanwhile: left as it is", err=True)
    done = sum(w == "cancelled" for w in outcome.values())
    stopping = sum(w == "cancelling" for w in outcome.values())
    click.echo(f"cancelled {done} queued run{'s' if done != 1 else ''}"
               + (f"; {stopping} running run{'s' if stopping != 1 else ''} stop at the next batch" if stopping else ""))


# ---- compare ---------------------------------------------------------------------------------


@click.command()
@click.argument("run_ids", nargs=-1, callback=resolve_run_id)
@click.option("--group", "-g", default=None, help="Compare every run of this group (see `latentq sweep`).")
@click.option("--metric", "-m", default=None, help="Plot only this metric's curve.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The overlay plot (PNG) [default: ./latentq-compare-<group or first id>.png].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
def compare(run_ids: tuple[str, ...], group: Optional[str], metric: Optional[str], output: Optional[Path],
            as_json: bool) -> None:
    """Compare runs: final metrics, spec differences, and an overlay plot of their curves."""
    from latentq.cli import common, render
    from latentq.db import reads
    from latentq.errors import NotFound, UserError

    if not run_ids and not group:
        raise click.UsageError("name runs to compare, or --group G")
    store = common.store()
    if group and not store.list_runs(limit=1, group=group):
        raise NotFound(f"no runs in group {group!r} (groups: {', '.join(store.groups()) or 'none yet'})")
    page, _ = reads.compare_data(store, list(run_ids), group, metric=metric)
    names = [c[0] for c in page["charts"]]
    if metric and not names:
        known = sorted({n for s in page["series"].values() for n in s})
        raise UserError(f"--metric {metric!r}: no run has per-epoch values of it; known: {', '.join(known)}")
    out = (output or Path(f"latentq-compare-{group or page['ids'][0]}.png")).resolve()
    plot = save_overlay(out, page, names) if names else None
    result = {"runs": page["runs"], "finals": page["finals"], "differences": page["differences"],
              "plot": str(plot) if plot else None}
    render.out(as_json, result, lambda: _print_compare(page, plot))


def _print_compare(page: dict[str, Any], plot: Optional[Path]) -> None:
    from rich.table import Table

    from latentq import formatting
    from latentq.cli import render

    console = render._console()
    ids = page["ids"]
    best = formatting.best_runs(page["finals"])
    table = Table(title="final metrics (best in bold)", title_justify="left", box=None, header_style="bold")
    table.add_column("metric", no_wrap=True)
    for row in page["runs"]:
        table.add_column(formatting.label(row), justify="right", overflow="fold")
    table.add_row("status", *[r["status"] for r in page["runs"]])
    for name, values in sorted(page["finals"].items()):
        cells = [formatting.fmt(values[r]) for r in ids]
        if name in best:
            cells = [f"[bold]{c}[/bold]" if r == best[name] else c for r, c in zip(ids, cells)]
        table.add_row(name, *cells)
    console.print(table)
    if page["differences"]:
        diff = Table(title="spec differences", title_justify="left", box=None, header_style="bold")
        diff.add_column("field", no_wrap=True)
        for row in page["runs"]:
            diff.add_column(formatting.label(row), overflow="fold")
        for field, values in sorted(page["differences"].items()):
            diff.add_row(field, *[formatting.fmt(values[r]) for r in ids])
        console.print(diff)
    else:
        console.print("spec differences: none")
    console.print(f"plot: {plot}" if plot else "plot: none (no per-epoch metrics)", soft_wrap=True)


def save_overlay(path: Path, page: dict[str, Any], names: list[str]) -> Path:
    """One panel per metric (at most 9), a line per run."""
    import math

    from latentq.files import atomic_write
    from latentq.formatting import label
    from latentq.pictures import _pyplot

    plt = _pyplot()
    names = names[:9]
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    labels = {r["id"]: label(r) for r in page["runs"]}
    from matplotlib.ticker import MaxNLocator

    for ax, name in zip(axes.flat, names):
        for index, (run_id, series) in enumerate(page["series"].items()):
            points = series.get(name)
            if points:  # one colour per run on every panel
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3,
                        color=f"C{index % 10}", label=labels[run_id])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    finally:
        plt.close(fig)


# ---- sweep -----------------------------------------------------------------------------------

SPEC_FIELDS = ("dataset", "epochs", "batch_size", "seed")


MAX_SWEEP_RUNS = 10_000  # runs one sweep may queue unless --max-runs raises it (docs/cli.md)


def parse_grid(grids: tuple[str, ...]) -> dict[str, list[str]]:
    import re

    axes: dict[str, list[str]] = {}
    for item in grids:
        key, sep, values = item.partition("=")
        key = key.strip()
        choices = [v.strip() for v in values.split(",")]
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) or not values.strip():
            raise click.UsageError(f"--grid {item!r}: expected key=v1,v2,..., for example --grid codings=4,8")
        if "" in choices:
            raise click.UsageError(f"--grid {item!r}: an empty value (two commas, or one at an end); "
                                   "list each value once, for example --grid codings=4,8")
        if key in axes:
            raise click.UsageError(f"--grid {key}: given twice; put all its values in one --grid")
        axes[key] = list(dict.fromkeys(choices))
    return axes


def sweep_size(axes: dict[str, list[str]]) -> int:
    """The number of points of the grid, without building it."""
    return math.prod(len(values) for values in axes.values())


def sweep_points(axes: dict[str, list[str]], n_random: Optional[int], seed: int) -> list[dict[str, str]]:
    """Every point of the grid, or `n_random` distinct points drawn with `seed`: an index drawn per
    axis, so a huge grid is never built (only the points drawn are)."""
    names, sizes = list(axes), [len(v) for v in axes.values()]
    total = sweep_size(axes)
    if n_random is None or n_random >= total:
        return [dict(zip(names, values)) for values in itertools.product(*axes.values())]
    rng = random.Random(seed)
    chosen: dict[tuple[int, ...], None] = {}
    while len(chosen) < n_random:  # n_random < total: distinct draws end (few repeats when n << total)
        chosen.setdefault(tuple(rng.randrange(size) for size in sizes))
    return [{name: axes[name][i] for name, i in zip(names, index)} for index in chosen]


def check_sweep_size(axes: dict[str, list[str]], n_random: Optional[int], max_runs: int) -> int:
    """The number of runs the sweep would queue; over `max_runs`, one line naming the count."""
    total = sweep_size(axes)
    runs = min(total, n_random) if n_random is not None else total
    if runs > max_runs:
        shown = f"{total:,}" if total < 10**15 else f"about 10^{len(str(total)) - 1}"
        what = f"{runs:,} runs (--random {n_random:,} of {shown} grid points)" if n_random is not None else \
            f"{shown} runs (the product of the grid's {len(axes)} axes)"
        raise click.UsageError(f"this sweep would queue {what}: over the limit of {max_runs:,} runs; draw fewer "
                               f"with --random N, or raise the limit with --max-runs")
    return runs


@click.command()
@click.argument("recipe")
@click.option("--grid", "grids", multiple=True, required=True, metavar="KEY=V1,V2",
              help="A recipe parameter (or dataset, epochs, batch_size, seed) and its values; repeatable.")
@click.option("--random", "n_random", type=click.IntRange(min=1), default=None, metavar="N",
              help="Submit only N points of the grid, drawn with --seed.")
@click.option("--max-runs", type=click.IntRange(min=1), default=MAX_SWEEP_RUNS, show_default=True, metavar="N",
              help="Refuse a sweep that would queue more runs than this.")
@click.option("--group", default=None,
              help="The group's name [default: --name, else RECIPE-<hash of the sweep>].")
@job_options
@queue_options(wait_help="Wait for every run of the group to end.")
def sweep(recipe: str, grids: tuple[str, ...], n_random: Optional[int], max_runs: int, group: Optional[str],
          as_json: bool, queue: str, priority: int, wait: bool, max_attempts: Optional[int], **opts: Any) -> None:
    """Submit a grid (or --random N points of it) of training runs as one named group."""
    run_sweep(recipe, grids, n_random, group, as_json, queue, priority, wait, max_attempts, opts, max_runs)


def run_sweep(recipe: str, grids: tuple[str, ...], n_random: Optional[int], group: Optional[str], as_json: bool,
              queue: str, priority: int, wait: bool, max_attempts: Optional[int], opts: dict[str, Any],
              max_runs: int = MAX_SWEEP_RUNS) -> None:
    from latentq.cli import common, render
    from latentq.data_checks import check_job
    from latentq.db import reads
    from latentq.db.tables import RunStatus
    from latentq.spec import NAME_PATTERN, build_spec, parse_sets
    from latentq.worker.broker import ping_broker

    axes = parse_grid(grids)
    base_params = parse_sets(opts["sets"])
    clash = sorted(set(axes) & set(base_params))
    if clash:
        raise click.UsageError(f"{clash[0]} is both on the grid and in --set; keep one")
    check_sweep_size(axes, n_random, max_runs)  # before a point is built
    points = sweep_points(axes, n_random, opts["seed"])
    definition = json.dumps({"recipe": recipe, "axes": axes, "random": n_random, "params": base_params,
                             **{k: opts[k] for k in ("dataset", "epochs", "batch_size", "seed")}}, sort_keys=True)
    digest = hashlib.sha256(definition.encode()).hexdigest()[:8]
    group = group or opts["name"] or f"{recipe}-{digest}"
    import re

    if not re.fullmatch(NAME_PATTERN, group) or len(group) > 56:
        raise click.UsageError(f"--group {group!r}: letters, digits, '_', '.', '-' (at most 56), starting with a "
                               "letter or digit")
    specs = []
    for i, point in enumerate(points):  # validate every run before anything is created
        fields = {k: opts[k] for k in SPEC_FIELDS}
        params = dict(base_params)
        for key, value in point.items():
            if key in SPEC_FIELDS:
                fields[key] = value
            else:
                params[key] = value
        key = f"sweep:{group}:" + hashlib.sha256(  # the same sweep (and --idempotency-key) gives the same keys
            json.dumps([definition, point, opts["idempotency_key"]], sort_keys=True).encode()).hexdigest()[:16]
        specs.append(build_spec(kind="train", recipe=recipe, params=params, name=f"{group}-{i + 1:02d}",
                                idempotency_key=key, queue=queue, priority=priority, **fields))
        check_job(specs[-1])
    settings = common.settings()
    if not as_json:
        common.where(settings, broker=True)
    ping_broker()  # before the first of many runs
    store = common.store(settings)
    from latentq.worker import jobs

    # One transaction for the whole group, then the messages (a broker refusal: the outbox sends it).
    made = jobs.submit_group(store, settings, specs, max_attempts=max_attempts, group=group)
    ids = [run_id for run_id, _ in made]
    new = sum(created for _, created in made)
    if not as_json:
        render.info(f"group {group}: {len(ids)} runs ({new} new, {len(ids) - new} already submitted)")
    statuses = reads.statuses(store, ids)
    if wait:
        while any(s["status"] not in RunStatus.TERMINAL for s in statuses):
            time.sleep(0.5)
            statuses = reads.statuses(store, ids)
    point_of = dict(zip(ids, points))
    statuses = [{**st, "point": point_of.get(st["id"], {})} for st in statuses]  # each run's grid values
    result = {"group": group, "created": new, "runs": statuses}

    def human() -> None:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        table = Table(box=None, header_style="bold", pad_edge=False)
        for column in ("id", "status", *axes, "name"):
            table.add_column(escape(column), no_wrap=True)
        for st in statuses:
            table.add_row(st["id"], str(st["status"]), *(escape(str(st["point"].get(a, ""))) for a in axes),
                          escape(st.get("name") or ""))
        Console(highlight=False).print(table, crop=False)
        click.echo(f"group {group}: `latentq list --group {group}`, `latentq compare --group {group}`")

    render.out(as_json, result, human)
    if wait and any(s["status"] != RunStatus.SUCCEEDED for s in statuses):
        sys.exit(1)


# ---- export ----------------------------------------------------------------------------------


@click.command()
@click.argument("run_id", callback=resolve_run_id)
@click.option("--format", "fmt", type=click.Choice(["keras", "saved_model"]), default="keras", show_default=True,
              help="keras: .keras files for keras.models.load_model; saved_model: TensorFlow SavedModels.")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to write [default: ./latentq-export-<id>].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
def export(run_id: str, fmt: str, output: Optional[Path], as_json: bool) -> None:
    """Write a trained run's generator or decoder, and encoder, as models that load without latentq."""
    from latentq.cli import common, render
    from latentq.errors import StateError
    from latentq.runtime import artifacts

    settings = common.settings()
    store = common.store(settings)
    run = store.get(run_id)
    files = artifacts.run_files(settings, run_id)
    if run.kind != "train" or not files.exists("model.keras"):
        raise StateError(f"run {run_id} has no trained model ({run.kind} run, {run.status}); "
                         "export a succeeded training run")
    from dataclasses import asdict

    from latentq.models.export import export_model

    with files.local_path("model.keras") as model_path:
        done = export_model(model_path, (output or Path(f"latentq-export-{run_id}")).resolve(), fmt)

    def human() -> None:
        for part in done:
            how = ("loads with plain Keras, no latentq" if part.standalone
                   else f"needs `import latentq.models` first: latentq layers {', '.join(part.needs)}")
            if part.format == "saved_model":
                how = "tf.saved_model.load(path) or keras.layers.TFSMLayer(path, call_endpoint='serve'), no latentq"
            click.echo(f"{part.part:<9} {part.path}  in {part.input_shape} -> out {part.output_shape}")
            click.echo(f"          {how}")
        if any(not p.standalone for p in done):
            click.echo("(custom layers keep a .keras part tied to latentq; `--format saved_model` has none)")

    render.out(as_json, [asdict(d) for d in done], human)
