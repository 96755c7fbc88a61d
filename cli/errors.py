"""The click boundary: domain errors become one line on stderr, never a traceback."""

from __future__ import annotations

import sys

import click


MAX_MESSAGE = 1000  # characters: an error names what was wrong, it never echoes a huge input whole


def _one_line(message: str) -> str:
    line = " ".join(str(message).split())
    if len(line) > MAX_MESSAGE:
        line = f"{line[:MAX_MESSAGE]}... (cut)"
    return _scrub(line)


def _scrub(line: str) -> str:
    """No password of the configured URLs in any message (a driver error may quote its URL)."""
    import os

    from latentq.settings import scrub

    urls = [os.environ.get(name) for name in ("LATENTQ_DB_URL", "LATENTQ_BROKER_URL")]
    return scrub(line, *[u for u in urls if u])


def run_cli(group: click.Group, args: list[str] | None = None) -> None:
    """Run the CLI; always ends with SystemExit carrying the exit code."""
    from latentq.errors import NotFound, StateError, Unavailable, UserError

    try:
        group.main(args=args, prog_name="latentq", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        click.echo(f"Error: {_one_line(exc.format_message())}{hint}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        click.echo(f"Error: {_one_line(exc.format_message())}", err=True)
        sys.exit(exc.exit_code)
    except (NotFound, StateError, Unavailable) as exc:
        click.echo(f"Error: {_one_line(str(exc))}", err=True)
        sys.exit(1)
    except UserError as exc:
        click.echo(f"Error: {_one_line(str(exc))}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except OSError as exc:  # a path the system refuses (under /proc, read-only, full): the path and why
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"Error: {_one_line(where + (exc.strerror or str(exc)))}", err=True)
        sys.exit(1)
    except Exception as exc:
        if _is_database_error(exc):
            import os

            from latentq.settings import mask_url

            reason = _one_line(str(getattr(exc, "orig", exc))).split(" (Background")[0]
            url = os.environ.get("LATENTQ_DB_URL") or "the default SQLite database"
            click.echo(f"Error: database {mask_url(url)} failed: {reason}", err=True)
            sys.exit(1)
        raise
    sys.exit(0)


def _is_database_error(exc: Exception) -> bool:
    module = type(exc).__module__
    return module.startswith("sqlalchemy")
