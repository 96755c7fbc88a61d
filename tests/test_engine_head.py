"""The schema check at head reads no Alembic: its idea of the head must be Alembic's."""

from __future__ import annotations

import subprocess
import sys


def test_head_revision_read_from_the_files_is_alembics_head():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from latentq.db.engine import MIGRATIONS, head_revision

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert head_revision() == ScriptDirectory.from_config(config).get_current_head()


def test_a_store_at_head_opens_without_importing_alembic(lq_home, tmp_path):
    from latentq.db.engine import current_revision, head_revision, make_engine

    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    with engine.connect() as conn:
        assert current_revision(conn) is None  # empty: no alembic_version table yet
    engine.dispose()
    probe = ("import sys\nfrom latentq.db.store import Store\nfrom pathlib import Path\n"
             f"Store({url!r}, Path({str(tmp_path)!r}))\nprint('alembic' in sys.modules)\n")
    first = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert first.stdout.split()[-1] == "True"  # an empty database is migrated: Alembic is needed
    again = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert again.stdout.split()[-1] == "False"  # at head: one query, no Alembic
    engine = make_engine(url)
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
    engine.dispose()


def test_the_tables_match_what_the_migrations_build(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from latentq.db.engine import engine_for
    from latentq.db.tables import metadata

    with engine_for(f"sqlite:///{tmp_path / 'store.db'}").connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
