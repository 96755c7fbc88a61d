"""One line for every bad input, and nothing created: paths the system refuses (under /proc, a
read-only mount), numbers out of range (nan, inf, 1e12, overflowing integers), settings that
break the system, and the pages' bad parameters and foreign Host headers. Runs, run folders and
broker messages are counted before and after."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from support import cli, fake_run

pytestmark = pytest.mark.cli


@pytest.fixture
def read_only_dir(tmp_path):
    """A read-only mount (root ignores a folder's permission bits, a ro mount it cannot)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a read-only tmpfs")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)


def _world(store, settings, broker: str) -> tuple:
    import redis

    client = redis.Redis.from_url(broker)
    messages = sum(client.llen(key) for key in client.scan_iter() if client.type(key) == b"list")
    folders = sorted(p.name for p in settings.artifact_root.iterdir()) if settings.artifact_root.is_dir() else []
    runs = sorted((r.id, r.status) for r in store.list_runs(limit=1000))
    events = sum(len(store.events(run_id)) for run_id, _ in runs)
    return runs, folders, messages, events


def _one_error_line(result: subprocess.CompletedProcess, needle: str, code: int | None = None) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode != 0 if code is None else result.returncode == code, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.stderr
    assert needle in lines[0], (needle, lines[0])
    return lines[0]


def test_every_bad_input_of_the_cli_is_one_line_and_creates_nothing(lq_home, store, settings, broker, tmp_path,
                                                                    read_only_dir):
    run_id = fake_run(store, settings, recipe="vae", name="done")
    before = _world(store, settings, broker)
    cases = [
        (["report", run_id, "-o", "/proc/latentq-report.html"], {}, "/proc/latentq-report.html"),
        (["report", run_id, "-o", "/proc/self/nothing/r.html"], {}, "No such file or directory"),
        (["report", run_id, "-o", str(read_only_dir / "r.html")], {}, "Read-only file system"),
        (["compare", run_id, "-o", "/proc/latentq-compare.png"], {}, "/proc/latentq-compare.png"),
        (["compare", run_id, "-o", str(read_only_dir / "c.png")], {}, "Read-only file system"),
        (["rm", "--older-than", "1e309"], {}, "--older-than"),
        (["rm", "--older-than", "nan"], {}, "not a finite number"),
        (["rm", "--older-than", "1e12"], {}, "--older-than"),
        (["rm", "--older-than", "-1"], {}, "--older-than"),
        (["generate", run_id, "--truncation", "nan"], {}, "not a finite number"),
        (["generate", run_id, "--truncation", "inf"], {}, "--truncation"),
        (["list"], {"LATENTQ_MAX_ATTEMPTS": "99999999999999999999"}, "LATENTQ_MAX_ATTEMPTS"),
        (["submit", "linear-ae"], {"LATENTQ_MAX_ATTEMPTS": "99999999999999999999"}, "LATENTQ_MAX_ATTEMPTS"),
        (["list"], {"LATENTQ_RESEND_AFTER": "1e400"}, "LATENTQ_RESEND_AFTER"),
        (["list"], {"LATENTQ_HEARTBEAT_SECONDS": "1e300"}, "LATENTQ_HEARTBEAT_SECONDS"),
        (["list"], {"LATENTQ_VISIBILITY_TIMEOUT": "-5"}, "LATENTQ_VISIBILITY_TIMEOUT"),
        (["submit", "linear-ae"], {"LATENTQ_HEARTBEAT_TIMEOUT": "1"}, "at least 3 heartbeats"),
        (["list"], {"LATENTQ_HEARTBEAT_TIMEOUT": "5", "LATENTQ_HEARTBEAT_SECONDS": "2"}, "at least 3 heartbeats"),
        (["submit", "linear-ae"], {"LATENTQ_DB_URL": "sqlite:///:memory:"}, "in-memory"),
        (["list"], {"LATENTQ_DB_URL": "sqlite://"}, "in-memory"),
        (["list"], {"LATENTQ_DB_URL": "sqlite:///file:x?mode=memory&uri=true"}, "in-memory"),
        (["submit", "linear-ae"], {"LATENTQ_HOME": ""}, "LATENTQ_HOME is set but empty"),
        (["list"], {"LATENTQ_HOME": "relative/home"}, "relative path"),
        (["sweep", "linear-ae", "--grid", "learning_rate=0.1,,0.2"], {}, "empty value"),
    ]
    for args, env, needle in cases:
        result = cli(*args, env=env, timeout=120)
        _one_error_line(result, needle)
    assert not (tmp_path / "relative").exists() and not Path("relative").exists()
    assert not list(read_only_dir.iterdir())
    assert _world(store, settings, broker) == before


def test_export_to_a_path_the_system_refuses_is_one_line(lq_home, train, read_only_dir):
    status = train("linear-ae", dataset="digits", epochs=1)
    assert status["status"] == "succeeded", status
    for target in ("/proc/latentq-export", str(read_only_dir / "export")):
        for fmt in ("keras", "saved_model"):
            result = cli("export", status["id"], "--format", fmt, "-o", target, timeout=180)
            _one_error_line(result, target, code=1)
    assert not list(read_only_dir.iterdir())


def test_the_pages_answer_bad_parameters_with_400_or_404(lq_home, store, settings):
    from starlette.testclient import TestClient

    from latentq.web.app import create_app

    run_id = fake_run(store, settings, recipe="vae", name="page")
    before = sorted((r.id, r.status) for r in store.list_runs(limit=100))
    client = TestClient(create_app(settings), raise_server_exceptions=False)
    expected = {
        "/?status=bogus": 400, "/runs.json?status=bogus": 400, "/?page=0": 400, "/?page=x": 400,
        "/?page=99999999999999999999999": 400, "/?recipe=%00": 400, "/?name=a%00b": 400,
        f"/compare?ids={run_id}&metric=%00": 400,
        f"/files/{run_id}/%00": 404, f"/files/{run_id}/images/%00.png": 404, f"/files/{run_id}/../../etc/passwd": 404,
        "/files/nosuchrun0/x.png": 404, "/run/nosuchrun0": 404, "/run/nosuchrun0.json": 404,
        "/run/nosuchrun0/log.txt": 404, "/run/%00": 404, "/compare?ids=nosuchrun0": 404,
    }
    for url, code in expected.items():
        response = client.get(url)
        assert response.status_code == code, (url, response.status_code, response.text[:300])
        assert "Traceback" not in response.text
    assert client.get(f"/run/{run_id}").status_code == 200
    assert sorted((r.id, r.status) for r in store.list_runs(limit=100)) == before


def test_the_pages_refuse_a_host_they_do_not_serve_unless_allow_remote(lq_home, settings):
    from starlette.testclient import TestClient

    from latentq.web.app import create_app

    guarded = TestClient(create_app(settings, allowed_hosts={"127.0.0.1", "localhost", "::1"}),
                         raise_server_exceptions=False)
    for host in ("evil.example", "evil.example:8377", "127.0.0.1.evil.example", "localhost.evil", ""):
        response = guarded.get("/runs.json", headers={"Host": host})
        assert response.status_code == 400 and "--allow-remote" in response.text, (host, response.text)
    for host in ("127.0.0.1:8377", "localhost", "LOCALHOST:1", "[::1]:8377"):
        assert guarded.get("/runs.json", headers={"Host": host}).status_code == 200, host
    anywhere = TestClient(create_app(settings), raise_server_exceptions=False)
    assert anywhere.get("/runs.json", headers={"Host": "evil.example"}).status_code == 200


def test_latentq_ui_refuses_a_foreign_host_header(lq_home):
    """The real `latentq ui` on a free port: a DNS-rebound name is refused, its own address served."""
    import socket
    import sys
    import urllib.error
    import urllib.request

    from support import free_port, wait_for

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "latentq.cli.main", "ui", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def answers() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        wait_for(answers, timeout=60, interval=0.2, what="latentq ui to listen")

        def get(host: str) -> int:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/runs.json", headers={"Host": host})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status
            except urllib.error.HTTPError as exc:
                return exc.code

        assert get("evil.example") == 400
        assert get(f"127.0.0.1:{port}") == 200 and get(f"localhost:{port}") == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_a_gan_takes_eval_samples_zero_and_skips_its_quality_evaluation(lq_home, store, train):
    status = train("gan", dataset="digits", epochs=1, batch_size=64, eval_samples=0, codings=8)
    assert status["status"] == "succeeded", status
    names = {m.name for m in store.metrics(status["id"])}
    assert "loss" in names or "g_loss" in names, names
    assert not names & {"fcd", "class_coverage", "precision", "recall", "fid"}, names


def test_the_losing_side_of_two_concurrent_retries_does_not_contradict_itself(lq_home, store, settings, broker):
    import sys

    from latentq.worker import jobs

    run_id = fake_run(store, settings, recipe="vae", status="failed")
    seen = store.get(run_id)
    assert store.requeue(run_id)  # the winner, between the loser's read and its write
    said = jobs._not_retried(store, seen, "only failed, cancelled or queued runs can be retried")
    assert "it was failed, it is now queued" in said and "is failed; only failed" not in said

    other = fake_run(store, settings, recipe="vae", status="failed")
    procs = [subprocess.Popen([sys.executable, "-m", "latentq.cli.main", "retry", other], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    assert sum("queued again" in out for _, out, _ in outputs) == 1, outputs
    for code, out, err in outputs:
        assert "Traceback" not in err and "is failed; only failed" not in err, outputs
        assert code == 0 or ("changed while retrying" in err and len(err.strip().splitlines()) == 1), outputs
    assert store.get(other).status == "queued"


@pytest.mark.parametrize("embedded", [True, False])
def test_the_disk_full_hint_names_the_retry_that_fits_the_run(store, settings, embedded):
    import errno
    import socket

    from latentq.runtime.job import execute_claimed
    from latentq.spec import build_spec
    from latentq.worker.jobs import claim_run

    spec = build_spec(kind="train", recipe="linear-ae", dataset="synthetic-3d", epochs=1, batch_size=64, seed=0,
                      params={}).model_dump(mode="json")
    run_id, _ = store.create_run(spec)
    if embedded:  # `latentq run`: this process runs it in the foreground
        assert store.mark_local(run_id, socket.gethostname(), os.getpid())
    owner = claim_run(run_id, settings)

    def train(ctx) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    status = execute_claimed(run_id, owner, settings, train, on_shutdown=lambda *args: None)
    assert status["status"] == "failed" and status["error"].startswith("disk full")
    assert status["error"].endswith(f"`latentq retry {run_id} --local`" if embedded else f"`latentq retry {run_id}`")
