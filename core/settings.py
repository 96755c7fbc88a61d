"""Settings from environment variables, each with a working default."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


@dataclass(frozen=True)
class Settings:
    home: Path
    db_url: str
    broker_url: str
    heartbeat_seconds: float
    heartbeat_timeout: float
    max_attempts: int
    visibility_timeout: float
    resend_after: float

    @property
    def artifact_root(self) -> Path:
        return self.home / "runs"

    def run_dir(self, run_id: str) -> Path:
        return self.artifact_root / run_id


def load_settings() -> Settings:
    home = Path(os.environ.get("LATENTQ_HOME") or Path.home() / ".latentq").expanduser().resolve()
    db_url = os.environ.get("LATENTQ_DB_URL") or f"sqlite:///{home / 'latentq.db'}"
    return Settings(
        home=home,
        db_url=db_url,
        broker_url=os.environ.get("LATENTQ_BROKER_URL") or "redis://localhost:6379/0",
        heartbeat_seconds=float(os.environ.get("LATENTQ_HEARTBEAT_SECONDS", "2")),
        heartbeat_timeout=float(os.environ.get("LATENTQ_HEARTBEAT_TIMEOUT", "120")),
        max_attempts=int(os.environ.get("LATENTQ_MAX_ATTEMPTS", "3")),
        # Longer than any checkpoint interval or heartbeat timeout: recovery is the reaper's job
        # (database leases), never Redis redelivering an unacked message.
        visibility_timeout=float(os.environ.get("LATENTQ_VISIBILITY_TIMEOUT", str(12 * 3600))),
        # A queued run unclaimed this long whose message the broker does not hold is sent again.
        resend_after=float(os.environ.get("LATENTQ_RESEND_AFTER", "120")),
    )


def mask_url(url: str) -> str:
    """The URL with any password replaced by ***, safe to print or log."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, parts.fragment))
