"""Passwords never reach an error line: every URL form (unencoded @ # / ? : in the password, secret
query keys, option strings that carry one) and the drivers' own error messages, which may quote a
piece of a password as a host name or a port."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import assume, given, settings as hsettings, strategies as st

from support import cli
from latentq.settings import MIN_PIECE, SECRET_DELIMITERS, mask_url, scrub

SPECIALS = "@#/?:"
# Passwords that hold at least one unencoded delimiter, as people paste them.
PASSWORDS = st.builds(lambda a, d, b: a + d + b,
                      st.text(st.characters(min_codepoint=48, max_codepoint=122), min_size=2, max_size=10),
                      st.sampled_from(list(SPECIALS)),
                      st.text(st.characters(min_codepoint=48, max_codepoint=122), min_size=2, max_size=10))
SCHEMES = st.sampled_from(["redis", "rediss", "postgresql", "postgresql+psycopg"])


def _urls(scheme: str, password: str) -> list[str]:
    host = "db.example:5432/store"
    return [
        f"{scheme}://bob:{password}@{host}",
        f"{scheme}://:{password}@{host}",
        f"{scheme}://bob@{host}?password={password}",
        f"{scheme}://bob@{host}?sslmode=require&options=-c password={password}",
        f"{scheme}://bob@{host}?options=-c%20password%3D{quote(password, safe='')}",
        f"{scheme}://bob@{host}?options=-c password={password}&connect_timeout=5",
    ]


def _driver_messages(password: str) -> list[str]:
    """What redis-py and psycopg say when a password's delimiter cut the URL in the wrong place."""
    pieces = [p for p in SECRET_DELIMITERS.split(password) if p]
    said = []
    for piece in pieces:
        said += [f"Error -2 connecting to {piece}:6379. Name or service not known.",
                 f"Port could not be cast to integer value as '{piece}'",
                 f"failed to resolve host '{piece}@db.example': [Errno -2] Name or service not known",
                 f'invalid integer value "{piece}" for connection option "port"']
    return said


@hsettings(max_examples=300, deadline=None)
@given(scheme=SCHEMES, password=PASSWORDS)
def test_no_password_or_piece_of_one_survives_masking(scheme, password):
    pieces = [p for p in SECRET_DELIMITERS.split(password) if len(p) >= MIN_PIECE]
    template = " ".join(_urls(scheme, "")) + " ".join(_driver_messages(""))
    assume(not any(piece in template for piece in pieces))
    for url in _urls(scheme, password):
        masked = mask_url(url)
        assert password not in masked, (url, masked)
        assert quote(password, safe="") not in masked, (url, masked)
        for message in [f"cannot reach {url}", *_driver_messages(password)]:
            line = scrub(message, url)
            assert password not in line, (url, line)
            for piece in pieces:
                assert piece not in line, (url, message, line)


def test_option_strings_and_keys_are_masked_and_the_rest_kept():
    assert mask_url("postgresql://u@h/db?options=-c password=hunter2&sslmode=require") == \
        "postgresql://u@h/db?options=-c password=***&sslmode=require"
    assert mask_url("postgresql://u@h/db?options=-c%20password%3Dhunter2") == \
        "postgresql://u@h/db?options=-c%20password%3D***"
    assert mask_url("postgresql://u@h/db?options=-c%20search_path%3Dx") == \
        "postgresql://u@h/db?options=-c%20search_path%3Dx"
    assert scrub("Error -2 connecting to pw:6379.", "redis://:secret@pw@broker:6379/0") == \
        "Error -2 connecting to ***:6379."


@pytest.mark.parametrize("url", ["redis://:s3cr@tpw@127.0.0.1:1/0", "redis://:ab/cdef@127.0.0.1:1/0",
                                 "redis://:pq#rstu@127.0.0.1:1/0"])
def test_the_real_redis_driver_errors_are_masked(url):
    import redis

    with pytest.raises(Exception) as caught:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    password = url.split("://:", 1)[1].rsplit("@", 1)[0]
    line = scrub(str(caught.value), url)
    for piece in [password, *(p for p in SECRET_DELIMITERS.split(password) if len(p) >= MIN_PIECE)]:
        assert piece not in line, (str(caught.value), line)


@pytest.mark.parametrize("password", ["s3cr@pwd", "ab/cdef", "pq#rstu", "x?y:zz"])
def test_every_error_line_of_the_cli_hides_the_broker_password(lq_home, password):
    url = f"redis://:{password}@127.0.0.1:1/0"
    result = cli("submit", "linear-ae", "--epochs", "1", env={"LATENTQ_BROKER_URL": url}, timeout=60)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    output = result.stdout + result.stderr
    for piece in [password, *(p for p in SECRET_DELIMITERS.split(password) if len(p) >= MIN_PIECE)]:
        assert piece not in output, output


@pytest.mark.parametrize("url", ["redis://:s3cr@tpw@127.0.0.1:1/0", "redis://:pq#rstu@127.0.0.1:1/0"])
def test_the_broker_and_database_errors_raised_in_process_are_masked_at_their_source(url, monkeypatch):
    """Worker logs and doctor do not pass through the CLI's error boundary: the message itself is clean."""
    from latentq.errors import Unavailable
    from latentq.worker.broker import present_workers

    password = url.split("://:", 1)[1].rsplit("@", 1)[0]
    pieces = [password, *(p for p in SECRET_DELIMITERS.split(password) if len(p) >= MIN_PIECE)]
    with pytest.raises(Unavailable) as caught:
        present_workers(url)
    assert not any(piece in str(caught.value) for piece in pieces), str(caught.value)
    db_url = f"postgresql://bob:{password}@127.0.0.1:1/db"
    from latentq.db.engine import dispose_all, session_factory

    try:
        with pytest.raises(Exception) as db_error:
            session_factory(db_url)
        assert not any(piece in str(db_error.value) for piece in pieces), str(db_error.value)
    finally:
        dispose_all()
