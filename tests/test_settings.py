"""Settings: every password masked in every URL form; a wrong TLS setting fails in seconds."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import assume, given, settings as hsettings, strategies as st

from support import REDIS_HOST, REDIS_PORT, cli
from latentq.settings import mask_url, scrub

# Passwords as people paste them: any printable character, unencoded @ # / ? : & included.
PASSWORDS = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=4, max_size=24)
SCHEMES = st.sampled_from(["redis", "rediss", "postgresql", "postgresql+psycopg", "redis+socket"])
USERS = st.sampled_from(["", "bob", "svc.user"])
SECRET_KEYS = st.sampled_from(["password", "sslpassword", "PASSWORD", "client_secret", "token", "passwd",
                               "auth_token"])


def _forms(scheme: str, user: str, password: str, key: str) -> list[str]:
    host = "db.example:5432/store"
    # In a query, "&name=" starts the next parameter for every parser: there & must be encoded.
    in_query = password.replace("&", "%26")
    return [
        f"{scheme}://{user}:{password}@{host}",  # unencoded, as pasted
        f"{scheme}://{user}:{quote(password, safe='')}@{host}",  # percent-encoded
        f"{scheme}://{user}@{host}?{key}={in_query}",  # a query parameter, otherwise unencoded
        f"{scheme}://{host}?sslmode=require&{key}={quote(password, safe='')}&connect_timeout=5",
        f"{scheme}:///tmp/redis.sock?db=0&{key}={in_query}",
        f"{scheme}://{user}:{password}@{host}?{key}={in_query}#frag",
        f"{scheme}://{user}:{password}@[::1]:99999/0",  # a port out of range must not crash it
    ]


@hsettings(max_examples=300, deadline=None)
@given(scheme=SCHEMES, user=USERS, password=PASSWORDS, key=SECRET_KEYS)
def test_no_generated_password_ever_appears_in_a_masked_url(scheme, user, password, key):
    template = "".join(_forms(scheme, user, "", key))
    assume(all(form not in template for form in (password, quote(password, safe=""), password.replace("&", "%26"))))
    for url in _forms(scheme, user, password, key):
        masked = mask_url(url)
        for form in {password, quote(password, safe=""), password.replace("&", "%26")}:
            assert form not in masked, (url, masked)
        assert "***" in masked
        assert scrub(f"connection to {url} failed", url).count(password) == 0


def test_masking_keeps_what_is_not_secret():
    assert mask_url("redis://:hunter2@broker:6379/0") == "redis://:***@broker:6379/0"
    assert mask_url("postgresql://bob@db/x?password=hunter2&sslmode=require") == \
        "postgresql://bob@db/x?password=***&sslmode=require"
    assert mask_url("redis+socket:///tmp/r.sock?password=hunter2") == "redis+socket:///tmp/r.sock?password=***"
    assert mask_url("sqlite:////tmp/latentq.db") == "sqlite:////tmp/latentq.db"
    assert mask_url("redis://localhost:6379/0") == "redis://localhost:6379/0"


def test_a_tls_url_against_a_plain_redis_fails_in_seconds_with_one_line(lq_home):
    url = f"rediss://:hunter2@{REDIS_HOST}:{REDIS_PORT}/0?ssl_cert_reqs=none"
    result = cli("submit", "linear-ae", "--epochs", "1", env={"LATENTQ_BROKER_URL": url}, timeout=60)
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "cannot reach the broker" in lines[0] and "TLS" in lines[0], result.stderr
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("value", ["sqlite:////tmp/x.db", "postgresql://u:pw@h:5432/db"])
def test_good_db_urls_load(monkeypatch, tmp_path, value):
    from latentq.settings import load_settings

    monkeypatch.setenv("LATENTQ_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LATENTQ_DB_URL", value)
    assert load_settings().db_url == value
    assert (tmp_path / "home").is_dir()
