"""`latentq search RECIPE`, `latentq search --resume GROUP` and `latentq search show GROUP`."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from typing import Any, Optional

import click

from latentq.cli.common import job_options, queue_options


@click.command()
@click.argument("recipe", required=False)
@click.argument("show_group", required=False, metavar="")
@click.option("--param", "param_texts", multiple=True, metavar="NAME=KIND:RANGE",
              help="A searched parameter (repeatable): int:2..64[:log], float:1e-4..1e-2[:log] or choice:a,b; "
                   "a recipe parameter or dataset, epochs, batch_size, seed.")
@click.option("--objective", default="val_loss", show_default=True, help="The recorded metric to optimise.")
@click.option("--maximize", is_flag=True, help="Maximise the objective [default: minimise].")
@click.option("--trials", type=int, default=20, show_default=True, help="Trials in all (1 to 10,000).")
@click.option("--parallel", type=int, default=4, show_default=True, help="Trials in flight at once.")
@click.option("--sampler", "sampler_name", type=click.Choice(["tpe", "random", "cmaes"]), default="tpe",
              show_default=True, help="How Optuna proposes the next trial (cmaes: numeric spaces only).")
@click.option("--prune", type=click.Choice(["asha", "median", "none"]), default="asha", show_default=True,
              help="Stop losing trials after an epoch: successive halving (ASHA), the median rule, or never.")
@click.option("--group", default=None, help="The search's name [default: --name, else RECIPE-search-<hash>].")
@click.option("--resume", "resume_group", default=None, metavar="GROUP",
              help="Continue the search GROUP (its definition is in the database): tell it what finished, go on.")
@click.option("--poll", type=click.FloatRange(0.05, 60), default=1.0, show_default=True, hidden=True)
@job_options
@queue_options(wait_help="No effect: the driver always follows the search to its end (Ctrl-C leaves its "
                         "queued trials running; `--resume GROUP` goes on).")
def search(recipe: Optional[str], show_group: Optional[str], param_texts: tuple[str, ...], objective: str,
           maximize: bool, trials: int, parallel: int, sampler_name: str, prune: str, group: Optional[str],
           resume_group: Optional[str], poll: float, as_json: bool, queue: str, priority: int, wait: bool,
           max_attempts: Optional[int], **opts: Any) -> None:
    """Search a recipe's parameters with Optuna, each trial a queued run; losing trials pruned per epoch.

    `latentq search show GROUP` prints a search's best trial, its pruning and its budget."""
    from latentq.cli import common, render
    from latentq.spec import NAME_PATTERN, parse_sets
    from latentq.worker import search as searching

    if recipe == "show":
        if not show_group:
            raise click.UsageError("latentq search show GROUP")
        show(show_group, as_json)
        return
    if show_group:
        raise click.UsageError(f"unexpected argument {show_group!r}")
    settings = common.settings()
    if resume_group:
        if recipe or param_texts:
            raise click.UsageError("--resume GROUP continues a search as it was defined: give no RECIPE or --param")
        store = common.store(settings)
        definition = searching.resume(settings, resume_group)
        group = resume_group
    else:
        if not recipe:
            raise click.UsageError("name a RECIPE to search (or --resume GROUP, or `search show GROUP`)")
        if opts["idempotency_key"]:
            raise click.UsageError("--idempotency-key: a search's trials carry their own (search:GROUP:N)")
        fields = {k: opts[k] for k in ("dataset", "epochs", "batch_size", "seed")}
        definition = searching.define(recipe, param_texts, parse_sets(opts["sets"]), fields, objective=objective,
                                      maximize=maximize, trials=trials, parallel=parallel, prune=prune,
                                      sampler_name=sampler_name, queue=queue, priority=priority,
                                      max_attempts=max_attempts)
        digest = hashlib.sha256(json.dumps(definition.to_json(), sort_keys=True).encode()).hexdigest()[:8]
        group = group or opts["name"] or f"{recipe}-search-{digest}"
        if not re.fullmatch(NAME_PATTERN, group) or len(group) > 56:
            raise click.UsageError(f"--group {group!r}: letters, digits, '_', '.', '-' (at most 56), starting with "
                                   "a letter or digit")
        from latentq.worker.broker import ping_broker

        ping_broker()  # before the study exists
        store = common.store(settings)
        searching.create(store, settings, group, definition)
    if not as_json:
        common.where(settings, broker=True)
        render.info(f"search {group}: {definition.trials} trials of {definition.recipe}, {definition.parallel} at "
                    f"a time, {'maximise' if definition.maximize else 'minimise'} {definition.objective}, "
                    f"sampler {definition.sampler}, prune {definition.prune}; Ctrl-C leaves queued trials running "
                    f"(`latentq search --resume {group}`)")
    result = searching.drive(store, settings, group, definition, poll=poll,
                             say=(lambda line: None) if as_json else render.info)
    render.out(as_json, result, lambda: print_summary(result, store))
    if not result["best"]:
        sys.exit(1)


def show(group: str, as_json: bool) -> None:
    from latentq.cli import common, render
    from latentq.worker import search as searching

    settings = common.settings()
    store = common.store(settings)
    result = searching.summary(store, group, settings, picture=True)
    render.out(as_json, result, lambda: print_summary(result, store))


def print_summary(result: dict[str, Any], store) -> None:
    from rich.table import Table

    from latentq.cli import render

    counts = result["counts"]
    done = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    click.echo(f"search {result['group']}: {result['recipe']}, {result['direction']} {result['objective']}, "
               f"sampler {result['sampler']}, prune {result['prune']}; {len(result['trials'])} of "
               f"{result['trials_planned']} trials: {done or 'none yet'}")
    click.echo(f"space: {'  '.join(result['space'])}")
    best = result["best"]
    if best:
        params = " ".join(f"{k}={_fmt(v)}" for k, v in best["params"].items())
        click.echo(f"best: trial {best['trial']} (run {best['run']}) {result['objective']} {best['value']:.5g}: {params}")
    else:
        click.echo("best: none (no trial has completed)")
    pruned = result["pruned_at"]
    click.echo("pruned: " + (", ".join(f"{n} at epoch {e}" for e, n in pruned.items()) if pruned else "none"))
    if result["epochs_unpruned"]:
        click.echo(f"budget: {result['epochs_trained']} epochs trained of {result['epochs_unpruned']} for the same "
                   f"trials run to their end ({100 * result['budget_share']:.0f} %)")
    if result.get("picture") and best:
        click.echo(f"picture: {store.artifact_root / best['run'] / result['picture']}")
    table = Table(box=None, header_style="bold")
    for col in ("trial", "run", "state", "epochs", result["objective"], "params"):
        table.add_column(col, overflow="fold")
    for row in result["trials"]:
        mark = " *" if best and row["trial"] == best["trial"] else ""
        table.add_row(f"{row['trial']}{mark}", row["run"] or "-", row["state"] + (
            f" @{row['pruned_at']}" if row["pruned_at"] else ""),
                      f"{row['epochs_trained']}/{row['epochs'] or '?'}", _fmt(row["value"]),
                      " ".join(f"{k}={_fmt(v)}" for k, v in row["params"].items()))
    render._console().print(table)
    click.echo(f"group {result['group']}: `latentq compare --group {result['group']}`, "
               f"`latentq list --group {result['group']}`")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
