"""Optuna's studies (`latentq search`) in the run store's own database, through Optuna's RDB storage.

Optuna keeps its tables (studies, trials, trial_values, ...) beside latentq's; no name is shared
but `alembic_version`, which latentq's migrations own. So the storage is opened only after the
run store has migrated the database (session_factory, here), with Optuna's schema check off:
Optuna then finds that table filled and never stamps it, and `latentq db` keeps reading latentq's
revision. Optuna's own schema version is checked against its `version_info` table instead."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from latentq.db.engine import normalise_url, session_factory
from latentq.errors import UserError


@lru_cache(maxsize=4)
def storage(db_url: str):
    """The optuna.storages.RDBStorage of this database (one per process)."""
    import optuna
    from optuna.storages._rdb import models
    from sqlalchemy import text

    session_factory(db_url)  # latentq's schema first: its alembic_version, never Optuna's
    url = normalise_url(db_url)
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        kwargs = {"connect_args": {"timeout": 30}}  # several training processes report at once
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rdb = optuna.storages.RDBStorage(url, engine_kwargs=kwargs, skip_compatibility_check=True)
    with rdb.engine.connect() as conn:
        found = conn.execute(text("SELECT schema_version FROM version_info")).scalar()
    if found is not None and found != models.SCHEMA_VERSION:
        raise UserError(f"the database holds Optuna tables of schema {found}; Optuna {optuna.__version__} needs "
                        f"{models.SCHEMA_VERSION} (`optuna storage upgrade` cannot run here: latentq owns "
                        "alembic_version); use the Optuna version that made them")
    return rdb
