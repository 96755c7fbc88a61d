"""Printing: JSON for machines, rich tables and progress for people (progress on stderr)."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Callable, Optional

import click


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def info(message: str) -> None:
    """A line for people, on stderr, so stdout stays clean for --json."""
    click.echo(message, err=True)


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def status_table(statuses: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for col in ("id", "status", "recipe", "epoch", "loss", "val_loss", "created"):
        table.add_column(col, no_wrap=True)  # ids are what people copy: never cut them
    table.add_column("dataset", overflow="ellipsis")
    table.add_column("note", overflow="fold")
    for s in statuses:
        m = s["metrics"]
        table.add_row(s["id"], s["status"], s["recipe"], f"{s['epoch']}/{s['epochs']}",
                      _fmt(m.get("loss", m.get("g_loss"))), _fmt(m.get("val_loss")),
                      (s["created_at"] or "")[5:16].replace("T", " "), s["dataset"], note(s))
    _console().print(table)


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
    if status["status"] == "failed" and status.get("error"):
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
                  events: Optional[list[dict[str, Any]]] = None) -> None:
    from rich.table import Table

    console = _console()
    head = Table(box=None, show_header=False)
    head.add_column(style="bold")
    head.add_column()
    for key in ("id", "kind", "name", "status", "recipe", "dataset", "parent", "epoch", "attempts", "worker",
                "created_at", "started_at", "finished_at", "queue_seconds", "resumed_from_epoch", "error",
                "waiting_reason", "sent_at", "host", "pid", "checkpoint_epoch"):
        value = status.get(key)
        if key == "epoch":
            value = f"{status['epoch']}/{status['epochs']}"
        if value is not None:
            head.add_row(key, _fmt(value))
    console.print(head)
    if spec is not None:
        console.print("[bold]spec[/bold]", json.dumps(spec, sort_keys=True))
    if status["metrics"]:
        metrics = Table(title="latest metrics", box=None, title_justify="left")
        metrics.add_column("name")
        metrics.add_column("value", justify="right")
        for name, value in sorted(status["metrics"].items()):
            metrics.add_row(name, _fmt(value))
        console.print(metrics)
    if status["artifacts"]:
        arts = Table(title="artifacts", box=None, title_justify="left")
        arts.add_column("kind")
        arts.add_column("path")
        for art in status["artifacts"]:
            arts.add_row(art["kind"], art["path"])
        console.print(arts)
    for event in events or []:
        console.print(f"[dim]{event['at']}[/dim] {event['level']}: {event['message'].splitlines()[-1]}")


def final_line(status: dict[str, Any]) -> str:
    m = status["metrics"]
    shown = ", ".join(f"{k}={_fmt(m[k])}" for k in ("val_loss", "val_mse", "fcd", "class_coverage") if k in m)
    tail = f": {status['error']}" if status.get("error") else ""
    return f"run {status['id']} {status['status']}{tail}" + (f" ({shown})" if shown else "")


def follow(get_status: Callable[[], dict[str, Any]], until_done: bool = True, interval: float = 0.5,
           stop: Optional[Callable[[], bool]] = None) -> dict[str, Any]:
    """A live progress bar (epoch, loss, ETA) on stderr until the run ends (or stop() is true)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    terminal = {"succeeded", "failed", "cancelled"}
    status = get_status()
    columns = [TextColumn("{task.description}"), BarColumn(), TextColumn("epoch {task.completed:.0f}/{task.total:.0f}"),
               TextColumn("{task.fields[metrics]}"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn()]
    with Progress(*columns, console=_console(stderr=True), transient=False) as progress:
        task = progress.add_task(f"{status['id']} {status['status']}", total=max(1, status["epochs"]), metrics="")
        said = None
        while True:
            said = say_waiting(status, said, progress.console.print)
            m = status["metrics"]
            shown = " ".join(f"{k}={_fmt(m[k])}" for k in ("loss", "val_loss", "d_loss", "g_loss") if k in m)
            progress.update(task, completed=status["epoch"], description=f"{status['id']} {status['status']}",
                            metrics=shown)
            if status["status"] in terminal or (stop is not None and stop()):
                break
            time.sleep(interval)
            status = get_status()
    return status


def exit_code(status: dict[str, Any]) -> int:
    return 0 if status["status"] == "succeeded" else 1


def out(stream_json: bool, data: Any, human: Callable[[], None]) -> None:
    if stream_json:
        print_json(data)
    else:
        human()
    sys.stdout.flush()
