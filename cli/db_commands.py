"""`latentq db current | upgrade | history`: Alembic for operators, on the configured database,
with the migrations shipped inside the package (latentq/db/migrations)."""

from __future__ import annotations

import click


def _config(connection=None):
    from alembic.config import Config

    from latentq.db.engine import MIGRATIONS

    config = Config(stdout=click.get_text_stream("stdout"))
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection  # db/migrations/env.py runs on it
    return config


def _engine():
    from latentq.cli import common
    from latentq.db.engine import make_engine, normalise_url

    settings = common.settings()
    common.where(settings)
    return make_engine(normalise_url(settings.db_url))


@click.group()
def db() -> None:
    """The run store's schema (Alembic): current revision, upgrade, history."""


@db.command()
def current() -> None:
    """Print the database's revision (and whether it is the newest)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    engine = _engine()
    try:
        with engine.connect() as conn:
            revision = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    state = "(head)" if revision == head else f"(behind: head is {head}; run `latentq db upgrade`)"
    click.echo(f"{revision or 'empty (no schema yet)'} {state}")


@db.command()
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from alembic import command
    from alembic.util import CommandError

    from latentq.errors import UserError

    engine = _engine()
    try:
        with engine.begin() as conn:
            command.upgrade(_config(conn), revision)
    except CommandError as exc:
        raise UserError(f"db upgrade {revision}: {exc}") from None
    finally:
        engine.dispose()
    click.echo(f"database at {revision}")


@db.command()
@click.option("--verbose", "-v", is_flag=True, help="Show each revision's details.")
def history(verbose: bool) -> None:
    """List the shipped migrations, newest first (reads no database)."""
    from alembic import command

    command.history(_config(), verbose=verbose)

