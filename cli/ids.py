"""Run ids on the command line: a unique prefix of an id names that run."""

from __future__ import annotations


def resolve_run_id(ctx, param, value):
    """click callback: the full id for a prefix (or each of several); ambiguous or unknown -> one line."""
    if value is None:
        return value
    from latentq.cli import common
    from latentq.db.reads import resolve

    runs = common.reader()
    if isinstance(value, (tuple, list)):
        return tuple(dict.fromkeys(resolve(runs, v) for v in value))
    return resolve(runs, value)
