"""Printing: JSON for machines, rich tables and progress for people (progress on stderr)."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Callable, Optional

import click

from latentq.formatting import age, fmt


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def info(message: str) -> None:
    """A line for people, on stderr, so stdout stays clean for --json."""
    click.echo(message, err=True)


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def progress_console():
    """The console for live progress on stderr, deciding *now*, in the calling thread, whether
    stderr is a terminal. Decided later, in the thread that follows a foreground run, it can
    find file descriptor 2 pointed at /dev/null by the quiet TensorFlow import
    (latentq.models) and stay a plain, silent stream for the whole run."""
    from rich.console import Console

    tty = sys.stderr.isatty()
    return Console(stderr=True, highlight=False, force_terminal=tty, force_interactive=tty)


def status_table(statuses: list[dict[str, Any]], wide: bool = False) -> None:
    """The runs table, plain aligned columns (`list` answers in a fraction of a second: drawing
    50 rows through rich cost it a sixth of that). Ids and the other short columns are never cut;
    name, group and dataset (a path, maybe) share the last column with the waiting note, and wrap
    onto more lines rather than lose characters, or, with wide, stay on one line however long."""
    import shutil
    import textwrap

    width = shutil.get_terminal_size((80, 24)).columns
    columns = ["id", "status", "recipe", "epoch"] + (["loss"] if width >= 110 else []) + ["val_loss", "age"]
    notes = [note(s) for s in statuses]
    folded = ["name [group] dataset"] + (["note"] if any(notes) else [])
    rows = []
    for s, why in zip(statuses, notes):
        m = s["metrics"]
        cells = {"id": s["id"], "status": str(s["status"]), "recipe": s["recipe"],
                 "epoch": f"{s['epoch']}/{s['epochs']}", "loss": fmt(m.get("loss", m.get("g_loss"))),
                 "val_loss": fmt(m.get("val_loss")), "age": age(s["created_at"])}
        group = f" [{s['group']}]" if s.get("group") else ""
        rows.append([cells[c] for c in columns] + [f"{s.get('name') or '-'}{group} {s['dataset']}"]
                    + ([why or ""] if any(notes) else []))
    header = columns + folded
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    if not wide:  # the folded columns share what the short ones leave of the terminal, 16 at least each
        left = width - sum(w + 2 for w in widths[:len(columns)])
        natural = widths[len(columns):]
        share = max(left - 2 * (len(natural) - 1), 16 * len(natural))
        widths[len(columns):] = [max(16, min(w, share * w // max(sum(natural), 1))) for w in natural]

    def lines(cells: list[str]) -> list[str]:
        parts = [[cell] if k < len(columns) or wide else
                 (textwrap.wrap(cell, widths[k], break_on_hyphens=False) or [""]) for k, cell in enumerate(cells)]
        return ["  ".join((part[n] if n < len(part) else "").ljust(widths[k]) for k, part in enumerate(parts)).rstrip()
                for n in range(max(len(part) for part in parts))]

    for line in lines(header):
        click.echo(click.style(line, bold=True))
    for row in rows:
        for line in lines(row):
            click.echo(line)


def status_line(status: dict[str, Any]) -> str:
    """One line: id, status, recipe on dataset, epoch, attempts, the key numbers."""
    m = status["metrics"]
    shown = " ".join(f"{k}={fmt(m[k])}" for k in ("loss", "val_loss", "fcd") if k in m)
    name = f" ({status['name']})" if status.get("name") else ""
    tail = f": {status['error']}" if status.get("error") else ""
    waits = f"; {note(status)}" if status.get("waiting_reason") else ""
    return (f"{status['id']}{name} {status['status']}{tail} {status['recipe']} on {status['dataset']} "
            f"epoch {status['epoch']}/{status['epochs']} attempts {status['attempts']}"
            + (f" {shown}" if shown else "") + waits)


def final_lines(status: dict[str, Any]) -> None:
    """The final line, and for a generation job where its pictures are."""
    click.echo(final_line(status))
    if status.get("kind") == "generate":
        for art in status["artifacts"]:
            if art["path"].lower().endswith(".png"):
                click.echo(f"  {art['kind']}: {art['path']}")


def recipe_details(recipe: dict[str, Any]) -> None:
    click.echo(f"family: {recipe['family']}   default dataset: {recipe['default_dataset']}   "
               f"generation jobs: {', '.join(recipe.get('can') or []) or 'none'}")
    click.echo(f"example: latentq run {recipe['name']} --dataset {recipe['default_dataset']} --epochs 5"
               + (f" --set {recipe['params'][0]['name']}={recipe['params'][0]['default']}" if recipe["params"] else ""))


def duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"


def note(status: dict[str, Any]) -> str:
    """Why a run is where it is: how long a queued run has waited and why, a failed run's error."""
    if status.get("waiting_reason"):
        return f"queued {duration(status['waiting_seconds'] or 0)}: {status['waiting_reason']}"
    from latentq.db.tables import RunStatus

    if status["status"] == RunStatus.FAILED and status.get("error"):
        return status["error"].splitlines()[0]
    return ""


def say_waiting(status: dict[str, Any], said: Optional[str], say: Callable[[str], None],
                after_seconds: float = 5.0) -> Optional[str]:
    """Say (once per reason) why a run is still queued, once it has waited `after_seconds`.
    Returns the reason said last, to pass back next time."""
    reason = status.get("waiting_reason")
    if reason and reason != said and (status.get("waiting_seconds") or 0) >= after_seconds:
        say(f"run {status['id']} {note(status)}")
        return reason
    return said


def status_detail(status: dict[str, Any], spec: Optional[dict[str, Any]] = None,
                  events: Optional[list[dict[str, Any]]] = None,
                  history: Optional[dict[str, list[list[float]]]] = None) -> None:
    from rich.table import Table

    console = _console()
    head = Table(box=None, show_header=False)
    head.add_column(style="bold")
    head.add_column()
    for key in ("id", "kind", "name", "group", "status", "recipe", "dataset", "parent", "epoch", "attempts", "worker",
                "created_at", "started_at", "finished_at", "queue_seconds", "resumed_from_epoch", "error",
                "waiting_reason", "sent_at", "host", "pid", "checkpoint_epoch"):
        value = status.get(key)
        if key == "epoch":
            value = f"{status['epoch']}/{status['epochs']}"
        if value is not None:
            head.add_row(key, fmt(value))
    console.print(head)
    if spec is not None:
        console.print("[bold]spec[/bold]", json.dumps(spec, sort_keys=True))
    if status["metrics"]:
        metrics = Table(title="latest metrics", box=None, title_justify="left")
        metrics.add_column("name")
        metrics.add_column("value", justify="right")
        for name, value in sorted(status["metrics"].items()):
            metrics.add_row(name, fmt(value))
        console.print(metrics)
    if history:
        per_epoch = Table(title="per epoch (epoch 1, 2, ...)", box=None, title_justify="left")
        per_epoch.add_column("name", no_wrap=True)
        per_epoch.add_column("values", overflow="fold")
        for name in sorted(history):
            points = history[name]
            first = int(points[0][0])
            shown = " ".join(fmt(v) for _, v in points)
            per_epoch.add_row(name, shown if first == 1 and len(points) == points[-1][0]
                              else " ".join(f"{int(e)}:{fmt(v)}" for e, v in points))
        console.print(per_epoch)
    if status["artifacts"]:
        arts = Table(title="artifacts", box=None, title_justify="left")
        arts.add_column("kind", no_wrap=True)
        arts.add_column("path", overflow="fold")  # paths wrap, never cut
        for art in status["artifacts"]:
            arts.add_row(art["kind"], art["path"])
        console.print(arts)
        if any(a["kind"] == "model" for a in status["artifacts"]):
            console.print("[dim]model.keras: `import latentq.models` before keras.models.load_model (latentq's "
                          f"layers); `latentq export {status['id']}` writes parts that load without latentq[/dim]")
    for event in events or []:
        console.print(f"[dim]{event['at']}[/dim] {event['level']}: {event['message'].splitlines()[-1]}")


def final_line(status: dict[str, Any]) -> str:
    m = status["metrics"]
    shown = ", ".join(f"{k}={fmt(m[k])}" for k in ("val_loss", "val_mse", "fcd", "class_coverage") if k in m)
    tail = f": {status['error']}" if status.get("error") else ""
    return f"run {status['id']} {status['status']}{tail}" + (f" ({shown})" if shown else "")


def follow(get_progress: Callable[[], dict[str, Any]], until_done: bool = True, interval: float = 0.5,
           stop: Optional[Callable[[], bool]] = None, console=None) -> dict[str, Any]:
    """A live progress bar (epoch, batch of the epoch or end-of-run phase, samples/s, loss, ETA:
    latentq.cli.progress) on stderr until the run ends (or stop() is true).
    `get_progress` returns the store's small progress read (latentq.db.reads.progress), not the
    whole status object: it is called twice a second. Returns the last progress read. From
    another thread, pass a `progress_console()` made in the main thread."""
    from rich.progress import BarColumn, Progress, TextColumn

    from latentq.cli.progress import Pace
    from latentq.db.tables import RunStatus

    status = get_progress()
    pace = Pace()
    # Position, clock and ETA are Pace's: rich's own would stop the clock once the bar is full
    # (the end-of-run phase) and show -:--:-- whenever two reads saw the same epoch.
    columns = [TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[position]}"),
               TextColumn("{task.fields[metrics]}"), TextColumn("{task.fields[clock]}"), TextColumn("{task.fields[eta]}")]
    with Progress(*columns, console=console or progress_console(), transient=False) as progress:
        task = progress.add_task(f"{status['id']} {status['status']}", total=max(1, status["epochs"]), metrics="",
                                 position="", clock="", eta="")
        said = None
        while True:
            said = say_waiting(status, said, progress.console.print)
            m = status["metrics"]
            shown = " ".join(f"{k}={fmt(m[k])}" for k in ("loss", "val_loss", "d_loss", "g_loss") if k in m)
            pace.update(status)
            progress.update(task, completed=pace.done, description=f"{status['id']} {status['status']}",
                            metrics=shown, position=pace.position(), clock=pace.elapsed(), eta=pace.eta())
            if status["status"] in RunStatus.TERMINAL or (stop is not None and stop()):
                break
            time.sleep(interval)
            status = get_progress()
    return status


def exit_code(status: dict[str, Any]) -> int:
    from latentq.db.tables import RunStatus

    return 0 if status["status"] == RunStatus.SUCCEEDED else 1


def out(stream_json: bool, data: Any, human: Callable[[], None]) -> None:
    if stream_json:
        print_json(data)
    else:
        human()
    sys.stdout.flush()
