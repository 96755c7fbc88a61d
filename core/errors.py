"""Errors a user can cause and fix: each becomes one line at the CLI boundary."""


class UserError(Exception):
    """A bad input or an impossible request: the message is what the user sees."""


class NotFound(UserError):
    """A run id (or other named thing) that does not exist."""


class Unavailable(UserError):
    """The broker or the database cannot be reached."""


class StateError(UserError):
    """A request the target's current state does not allow (cancel a finished run...)."""


def clip(value: object, limit: int = 80) -> str:
    """repr(value), cut to about `limit` characters: a long input is named, never echoed whole."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(str(value))} characters)"
