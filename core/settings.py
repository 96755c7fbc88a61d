"""Settings from environment variables, each with a working default."""

from __future__ import annotations

import errno
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, unquote_plus, urlsplit

from latentq.errors import UserError, clip


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


DB_SCHEMES = ("sqlite", "postgresql", "postgres", "postgresql+psycopg")
BROKER_SCHEMES = ("redis", "rediss", "redis+socket")
# Query keys whose values are secrets (password=, sslpassword=, token=, client_secret=, ...).
SECRET_KEY = re.compile(r"pass|pwd|secret|token|auth|key", re.IGNORECASE)
# Broker connections give up after this long (a TLS URL against a plain Redis must not hang).
BROKER_TIMEOUT_SECONDS = 5.0


def load_settings(check_home: bool = True) -> Settings:
    """The settings from the environment; a bad value is one UserError line naming its variable.
    check_home=False leaves LATENTQ_HOME as given (`latentq doctor` reports on it itself)."""
    raw_home = os.environ.get("LATENTQ_HOME")
    if raw_home is None:
        raw_home = str(Path.home() / ".latentq")
    elif check_home:
        _check_home_value(raw_home)
    raw_home = raw_home or str(Path.home() / ".latentq")
    home = _home(raw_home) if check_home else Path(raw_home).expanduser().absolute()
    db_url = os.environ.get("LATENTQ_DB_URL") or f"sqlite:///{home / 'latentq.db'}"
    broker_url = os.environ.get("LATENTQ_BROKER_URL") or "redis://localhost:6379/0"
    check_url("LATENTQ_DB_URL", db_url, DB_SCHEMES)
    check_url("LATENTQ_BROKER_URL", broker_url, BROKER_SCHEMES)
    _check_not_in_memory(db_url)
    heartbeat_seconds = _number("LATENTQ_HEARTBEAT_SECONDS", 2.0, low=0.01, high=3600)
    heartbeat_timeout = _number("LATENTQ_HEARTBEAT_TIMEOUT", 120.0, low=0.1, high=MAX_SECONDS)
    if heartbeat_timeout < MIN_BEATS_PER_TIMEOUT * heartbeat_seconds:
        # A lease that expires between two beats re-queues every healthy run.
        raise UserError(f"LATENTQ_HEARTBEAT_TIMEOUT={heartbeat_timeout:g} must be at least {MIN_BEATS_PER_TIMEOUT} "
                        f"heartbeats long (LATENTQ_HEARTBEAT_SECONDS={heartbeat_seconds:g}): "
                        f"set it to {MIN_BEATS_PER_TIMEOUT * heartbeat_seconds:g} or more")
    return Settings(
        home=home,
        db_url=db_url,
        broker_url=broker_url,
        heartbeat_seconds=heartbeat_seconds,
        heartbeat_timeout=heartbeat_timeout,
        max_attempts=int(_number("LATENTQ_MAX_ATTEMPTS", 3, low=1, high=MAX_ATTEMPTS, integer=True)),
        # Longer than any checkpoint interval or heartbeat timeout: recovery is the reaper's job
        # (database leases), never Redis redelivering an unacked message.
        visibility_timeout=_number("LATENTQ_VISIBILITY_TIMEOUT", float(12 * 3600), low=1, high=MAX_SECONDS),
        # A queued run unclaimed this long whose message the broker does not hold is sent again.
        resend_after=_number("LATENTQ_RESEND_AFTER", 120.0, low=0.1, high=MAX_SECONDS),
    )


# A lease must survive a few missed beats (a slow write, a GC pause) before a run is re-queued.
MIN_BEATS_PER_TIMEOUT = 3
# Upper bounds: a value past them is a typo, and past the database's integer or Python's
# timedelta it would fail far from where it was set.
MAX_SECONDS = 365 * 24 * 3600.0
MAX_ATTEMPTS = 100  # as submit --max-attempts


def _check_home_value(raw: str) -> None:
    """LATENTQ_HOME set but empty or relative: one line (a relative home moves with the current
    folder, so two commands would see two stores)."""
    if not raw.strip():
        raise UserError("LATENTQ_HOME is set but empty; set it to an absolute folder, or unset it for ~/.latentq")
    if not Path(raw).expanduser().is_absolute():
        raise UserError(f"LATENTQ_HOME={clip(raw)} is a relative path; set it to an absolute folder "
                        f"(for example {clip(str(Path(raw).absolute()))})")


def _check_not_in_memory(db_url: str) -> None:
    """An in-memory SQLite database is private to each process: a worker would never see a run."""
    lowered = db_url.lower()
    if lowered.startswith("sqlite") and (":memory:" in lowered or "mode=memory" in lowered
                                         or lowered.rstrip("/") in ("sqlite:", "sqlite+pysqlite:")):
        raise UserError("LATENTQ_DB_URL: an in-memory SQLite database is private to one process; "
                        "use a file (sqlite:////path/latentq.db) or PostgreSQL")


# TensorFlow's C++ logging (grappler's "remapper failed: INVALID_ARGUMENT" in every GAN run,
# oneDNN and CUDA notes) is not latentq's: a training process keeps only TensorFlow's fatal lines
# unless LATENTQ_TF_LOG=verbose asks for all of it. Python warnings and exceptions are unaffected.
QUIET_TF_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR"}


def tf_log_verbose() -> bool:
    return os.environ.get("LATENTQ_TF_LOG", "").strip().lower() == "verbose"


def tf_log_env() -> dict[str, str]:
    """The environment a training process gets for TensorFlow's own logging (before it imports TF)."""
    return {} if tf_log_verbose() else dict(QUIET_TF_ENV)


def _home(raw: str) -> Path:
    """LATENTQ_HOME, created if missing; an unusable one is one line."""
    home = Path(raw).expanduser()
    try:
        home = home.resolve()
        home.mkdir(parents=True, exist_ok=True)
        if not os.access(home, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "not writable")
    except (OSError, RuntimeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UserError(f"LATENTQ_HOME={clip(raw)} is not a usable folder ({reason}); "
                        f"set LATENTQ_HOME to a folder latentq can create and write") from None
    return home


def _number(name: str, default: float, low: float, high: float, integer: bool = False) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        raise UserError(f"{name} must be {kind} >= {low:g} and <= {high:g}; received {clip(raw)}")
    return value


def check_url(variable: str, url: str, schemes: tuple[str, ...]) -> None:
    """One UserError line for a URL latentq cannot use: malformed, a port out of range, another scheme."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port out of range or not a number)
    except ValueError as exc:
        raise UserError(f"{variable} is not a valid URL ({scrub(str(exc), url)}): {mask_url(url)}") from None
    if not parts.scheme or "://" not in url:
        raise UserError(f"{variable} is not a URL: expected scheme://... (not echoed: it may hold a password)")
    if parts.scheme.lower() not in schemes:
        raise UserError(f"{variable}: unsupported scheme {clip(parts.scheme)}; allowed: {', '.join(schemes)}")


def _secret_spans(url: str) -> list[tuple[int, int]]:
    """Where passwords may sit in `url`, read every way a parser might read it (an unencoded
    @, #, / or ? in a password included): masking too much is better than leaking."""
    spans = []
    scheme_end = url.find("://")
    rest_at = scheme_end + 3 if scheme_end >= 0 else 0
    last_at = url.rfind("@")
    colon = url.find(":", rest_at)
    if last_at > rest_at and 0 <= colon < last_at:
        spans.append((colon + 1, last_at))  # user:PASSWORD@host, up to the last @
    first_at = url.find("@", rest_at)
    if first_at > rest_at and 0 <= colon < first_at:
        spans.append((colon + 1, first_at))
    query = url.find("?", rest_at)
    if query >= 0:
        # Every ?, & or ; may start a parameter (a password may hold one): look at each.
        # A secret value runs to the next "&name=" (an unencoded & alone stays inside it).
        for match in re.finditer(r"(?=[?&;]([^=&;?#]*)=((?:[^&]|&(?![A-Za-z_][\w.-]*=))*))", url[query:]):
            if SECRET_KEY.search(match.group(1)):
                spans.append((query + match.start(2), query + match.end(2)))
            else:
                # An option string carrying a secret (`options=-c password=...`, encoded or not):
                # everything after its first secret key is masked, to the end of the parameter.
                inner = SECRET_IN_VALUE.search(match.group(2))
                if inner:
                    spans.append((query + match.start(2) + inner.end(), query + match.end(2)))
    return [(a, b) for a, b in spans if b > a]


# A secret-named key inside a parameter's value, with its = (plain or %3D-encoded).
SECRET_IN_VALUE = re.compile(r"(?:pass|pwd|secret|token|auth|key)[\w.-]*\s*(?:=|%3D)", re.IGNORECASE)
# Where a driver may cut a password that holds them unencoded ("Error -2 connecting to pw:6379"
# quotes the part after an @ as a host name): each piece of a secret is masked on its own too.
SECRET_DELIMITERS = re.compile(r"[@#/?:&;=\s]+")
MIN_PIECE = 2


def mask_url(url: str) -> str:
    """The URL with every password (user-info, secret query parameters) replaced by ***, safe
    to print or log."""
    merged: list[list[int]] = []
    for start, end in sorted(_secret_spans(url)):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, pos = [], 0
    for start, end in merged:
        out += [url[pos:start], "***"]
        pos = end
    out.append(url[pos:])
    return "".join(out)


def scrub(text: str, *urls: str) -> str:
    """`text` with the secrets of `urls` masked wherever they appear: a driver's error may quote
    its URL, the password decoded, or a piece of a password that holds an unencoded @ / # ? :
    as a host name or path. The URLs themselves are masked first, then each secret (as written
    and decoded), then its pieces, longest first."""
    for url in urls:
        if url in text:
            text = text.replace(url, mask_url(url))
    secrets: set[str] = set()
    for url in urls:
        for start, end in _secret_spans(url):
            for secret in {url[start:end], unquote(url[start:end]), unquote_plus(url[start:end])}:
                secrets.add(secret)
                secrets.update(SECRET_DELIMITERS.split(secret))
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= MIN_PIECE and secret != "***":
            text = text.replace(secret, "***")
    return text
