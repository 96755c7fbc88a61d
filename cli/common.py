"""What every command module shares: settings, the store, the where-line, the job options, the
foreground runner, and what `submit`-like commands print. Subcommand modules import this, never
cli/main.py; main's group loads them lazily (LazyGroup), so `latentq status` imports only what
it runs."""

from __future__ import annotations

import functools
import gc
import importlib
import os
import socket
import sys
import threading
from typing import Any, Optional

import click

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


class FiniteFloatRange(click.FloatRange):
    """A FloatRange that refuses nan and inf (every comparison with nan is False: click's range
    check lets it through)."""

    def convert(self, value, param, ctx):
        import math

        number = super().convert(value, param, ctx)
        if number is not None and not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number; expected {self._describe_range()}", param, ctx)
        return number


def job_options(func):
    for option in reversed(JOB_OPTIONS):
        func = option(func)
    return func


def queue_options(wait_help: str):
    """The options `submit` and `sweep` add to the job options."""
    options = [
        click.option("--queue", "-q", default="latentq", show_default=True,
                     help="Celery queue (workers listen with -Q)."),
        click.option("--priority", type=click.IntRange(0, 9), default=5, show_default=True, help="9 runs first."),
        click.option("--wait", is_flag=True, help=wait_help),
        click.option("--max-attempts", type=click.IntRange(1, 100), default=None,
                     help="Attempts before a run whose worker keeps dying is failed "
                          "[default: LATENTQ_MAX_ATTEMPTS or 3]."),
    ]

    def decorate(func):
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


# Set by the `latentq` entry point (cli.main.main), never when tests run the CLI in their own process.
ENTRY_POINT = {"fast_exit": False}


def quick(command: click.Command) -> click.Command:
    """Mark a read-only command that answers in a fraction of a second (`status`, `show`, `list`).

    The entry point runs every command with the cyclic garbage collector off until the command
    is resolved (LazyGroup.resolve_command); a quick command keeps it off for its whole run, since
    collections while SQLAlchemy's import builds its objects free nothing and cost the command
    about a tenth of its time. Its process then ends with os._exit once its output is flushed,
    skipping the interpreter's teardown of every module (another ~0.05 s): it starts no threads,
    and what it writes to the database (failing a dead `latentq run`) is committed by then."""
    callback = command.callback

    @functools.wraps(callback)
    def run_then_exit(*args: Any, **kwargs: Any) -> Any:
        result = callback(*args, **kwargs)
        if ENTRY_POINT["fast_exit"]:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        return result

    command.callback = run_then_exit
    command.quick = True  # type: ignore[attr-defined]
    return command


class LazyGroup(click.Group):
    """A click group whose subcommands live in other modules, imported when one is asked for
    (`lazy`: command name -> "module:attribute")."""

    def __init__(self, *args: Any, lazy: Optional[dict[str, str]] = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> Optional[click.Command]:
        if name in self.lazy and name not in self.commands:
            module, _, attribute = self.lazy[name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy[name]} is not a click command")
            self.add_command(command, name)
        return super().get_command(ctx, name)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name, command, rest = super().resolve_command(ctx, args)
        if not getattr(command, "quick", False):
            gc.enable()  # see quick(): the entry point turned it off
        return name, command, rest


# ---- settings, store, where ------------------------------------------------------------------


def settings():
    from latentq.settings import load_settings

    return load_settings()


_OPENED: dict[tuple[str, str, str], Any] = {}  # (kind, db url, artifact root) -> Store or Reader


def store(current=None):
    """The run store of `current` settings (one per process), for commands that change runs. The
    first call also fails this host's `latentq run`s whose process died, with the way back."""
    from latentq.db.store import Store

    return _opened(Store, current)


def reader(current=None):
    """The read side of the run store (latentq.db.reads.Reader: no ORM import), for commands that
    only show runs; like store(), the first call fails this host's dead `latentq run`s."""
    from latentq.db.reads import Reader

    return _opened(Reader, current)


def _opened(kind, current):
    from latentq.worker.reaper import fail_dead_local_runs

    current = current or settings()
    key = (kind.__name__, current.db_url, str(current.artifact_root))
    if key not in _OPENED:
        _OPENED[key] = kind(current.db_url, current.artifact_root)
        fail_dead_local_runs(_OPENED[key])
    return _OPENED[key]


def where(current, broker: bool = False, artifacts: bool = False) -> None:
    """One stderr line: which home, database (and broker, artifact root) this command uses."""
    from latentq.cli import render
    from latentq.settings import mask_url

    line = f"latentq: home {current.home} | db {mask_url(current.db_url)}"
    if broker:
        line += f" | broker {mask_url(current.broker_url)}"
    if artifacts:
        line += f" | artifact root {current.artifact_root}"
    render.info(line)


# ---- jobs --------------------------------------------------------------------------------------


def train_spec(recipe: str, queue: str = "latentq", priority: int = 5, **opts: Any):
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


def foreground(run_id: str, current, run_store, quiet: bool) -> dict[str, Any]:
    """The shared job function in this process, with a progress bar fed from the store."""
    from latentq.cli import render
    from latentq.worker import jobs

    run_store.mark_local(run_id, socket.gethostname(), os.getpid())  # this process owns its recovery
    if quiet:
        return jobs.execute_run(run_id, current)
    done = threading.Event()
    console = render.progress_console()  # here: the thread would decide while TensorFlow's import hides stderr
    from latentq.db import reads

    watcher = threading.Thread(target=lambda: render.follow(lambda: reads.progress(run_store, run_id),
                                                            stop=done.is_set, console=console), daemon=True)
    watcher.start()
    try:
        status = jobs.execute_run(run_id, current)
    finally:
        done.set()
        watcher.join(timeout=5)
    return status


def submit(spec, current, max_attempts: Optional[int] = None, group: Optional[str] = None,
           quiet: bool = False) -> dict[str, Any]:
    """The job service's submit, and a line when an idempotency key named an existing run. The
    status object's "created" says whether this call made the run."""
    from latentq.cli import render
    from latentq.worker import jobs

    done = jobs.submit(store(current), current, spec, max_attempts=max_attempts, group=group)
    run_id = done.status["id"]
    if not done.created and not spec.generate and group is None and not quiet:
        render.info(f"idempotency key {spec.idempotency_key!r} already names run {run_id}")
    if done.resent:
        render.info(f"run {run_id} was queued with no message in the broker: sent again")
    return {**done.status, "created": done.created}


def after_submit(status: dict[str, Any], as_json: bool, wait: bool, current) -> None:
    """Print the queued run (or, with --wait, follow it to its end and exit with its outcome)."""
    from latentq.cli import render

    status.pop("created", None)
    say_consumers(status, wait, current)
    if not wait:
        render.out(as_json, status, lambda: click.echo(f"run {status['id']} queued on {status['queue']}"))
        return
    from latentq.db import reads
    from latentq.db.tables import RunStatus

    run_store = store(current)
    if as_json:
        import time

        said = None
        while status["status"] not in RunStatus.TERMINAL:
            time.sleep(0.5)
            status = reads.progress(run_store, status["id"])
            said = render.say_waiting(status, said, render.info)
    else:
        status = render.follow(lambda: reads.progress(run_store, status["id"]))
    status = run_store.status(status["id"])
    render.out(as_json, status, lambda: render.final_lines(status))
    sys.exit(render.exit_code(status))


def say_consumers(status: dict, wait: bool, current) -> None:
    """After a submit: one warning line when no live worker consumes the run's queue (read from
    the workers' presence keys); with --wait, one line saying what it waits for. On stderr
    (stdout stays clean for --json)."""
    from latentq.cli import render
    from latentq.db.tables import RunStatus
    from latentq.worker.live import consumers, live_workers

    if status["status"] != RunStatus.QUEUED:
        return
    queue = status["queue"]
    try:
        names = consumers(live_workers(current), queue)
    except Exception:  # the broker took the message a moment ago; looking for workers is best effort
        names = None
    if names == []:
        render.info(f"warning: no live worker consumes queue {queue!r}: the run waits until one starts "
                    f"(`latentq worker -Q {queue}`)")
    if wait:
        who = "" if names is None else f" ({len(names)} live worker(s) consume it)"
        render.info(f"waiting for run {status['id']} on queue {queue!r}{who}; Ctrl-C stops waiting, not the run")
