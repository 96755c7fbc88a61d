"""`latentq doctor [--json]`: is this setup able to run jobs? One line per problem, saying what to do."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from typing import Any, Optional

import click

MIN_FREE_GB = 1.0
TF_PROBE = """
import json, os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf, keras
print(json.dumps({"tensorflow": tf.__version__, "keras": keras.__version__,
                  "gpus": [d.name for d in tf.config.list_physical_devices("GPU")]}))
"""


def _check(name: str, ok: bool, detail: str, fix: Optional[str] = None) -> dict[str, Any]:
    return {"name": name, "ok": ok, "detail": detail, "fix": None if ok else fix}


def check_broker(settings) -> dict[str, Any]:
    from latentq.settings import mask_url
    from latentq.worker.broker import ping_broker

    try:
        ping_broker()
    except Exception as exc:
        return _check("broker", False, str(exc),
                      "start Redis, or point LATENTQ_BROKER_URL at it (redis://host:6379/0)")
    return _check("broker", True, f"{mask_url(settings.broker_url)} answers")


def check_database(settings) -> dict[str, Any]:
    """Reachable and at the migration head (read only: doctor migrates nothing)."""
    from latentq.db.engine import current_revision, head_revision, make_engine, normalise_url
    from latentq.settings import mask_url

    where = mask_url(normalise_url(settings.db_url))
    head = head_revision()
    engine = None
    try:
        engine = make_engine(settings.db_url)
        with engine.connect() as conn:
            current = current_revision(conn)
    except Exception as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return _check("database", False, f"cannot reach {where}: {reason}",
                      "start the database, or point LATENTQ_DB_URL (or LATENTQ_HOME) at a reachable one")
    finally:
        if engine is not None:
            engine.dispose()
    if current is None:
        return _check("database", True, f"{where} reachable, empty: latentq creates its tables at first use")
    if current != head:
        return _check("database", False, f"{where} is at migration {current or 'none'}, the code expects {head}",
                      "run any latentq command against it (e.g. `latentq list`): it migrates to the head")
    return _check("database", True, f"{where} at migration head {head}")


def check_artifacts(settings) -> dict[str, Any]:
    root = settings.artifact_root
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".doctor-{uuid.uuid4().hex[:8]}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        return _check("artifacts", False, f"{root} is not writable: {exc.strerror or exc}",
                      "fix the folder's permissions, or point LATENTQ_HOME at a writable folder")
    free_gb = shutil.disk_usage(root).free / 1e9
    if free_gb < MIN_FREE_GB:
        return _check("artifacts", False, f"{root} has {free_gb:.2f} GB free",
                      f"free space (at least {MIN_FREE_GB:g} GB) or point LATENTQ_HOME elsewhere")
    return _check("artifacts", True, f"{root} writable, {free_gb:.1f} GB free")


def start_tensorflow_probe() -> subprocess.Popen:
    """TensorFlow's import in a subprocess (the CLI itself never imports it), started first: it
    takes seconds, the other checks run meanwhile."""
    return subprocess.Popen([sys.executable, "-c", TF_PROBE], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def check_tensorflow(probe: Optional[subprocess.Popen] = None) -> dict[str, Any]:
    fix = "reinstall latentq (`pip install latentq`, `latentq[gpu]` on GPU boxes)"
    probe = probe or start_tensorflow_probe()
    try:
        stdout, stderr = probe.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        probe.kill()
        probe.communicate()
        return _check("tensorflow", False, "importing TensorFlow took over 300 s", fix)
    try:
        found = json.loads(stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        tail = stderr.strip().splitlines()[-1:] or ["no output"]
        return _check("tensorflow", False, f"importing TensorFlow failed: {tail[0]}", fix)
    gpus = ", ".join(found["gpus"]) or "none (training runs on the CPU)"
    return {**_check("tensorflow", True, f"TensorFlow {found['tensorflow']}, Keras {found['keras']}, GPUs: {gpus}"),
            **found}


def check_workers(settings, queues: tuple[str, ...]) -> dict[str, Any]:
    from latentq.worker.live import consumers, live_workers

    try:
        workers = live_workers(settings)
    except Exception as exc:
        return _check("workers", False, f"cannot ask workers: {exc}", "fix the broker first")
    wanted = sorted(set(queues) | {q for w in workers for q in w.get("queues", [])})
    per_queue = {q: consumers(workers, q) for q in wanted}
    detail = "; ".join(f"{q}: {len(names)} live worker(s)" for q, names in per_queue.items())
    idle = [q for q, names in per_queue.items() if not names]
    if idle:
        return {**_check("workers", False, detail, "start one with `latentq worker -Q " + ",".join(idle) + "`"),
                "per_queue": per_queue}
    return {**_check("workers", True, detail), "per_queue": per_queue}


@click.command()
@click.option("--queue", "-Q", "queues", multiple=True, default=("latentq",), show_default=True,
              help="A queue that must have a live worker (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
def doctor(queues: tuple[str, ...], as_json: bool) -> None:
    """Check the broker, database, artifact folder, TensorFlow and GPUs, and live workers."""
    from latentq.cli import render
    from latentq.settings import load_settings

    settings = load_settings(check_home=False)  # an unusable home is a finding here, not an error
    probe = start_tensorflow_probe()
    broker = check_broker(settings)
    checks = [broker, check_database(settings), check_artifacts(settings), check_tensorflow(probe)]
    if broker["ok"]:
        checks.append(check_workers(settings, queues))
    problems = [c for c in checks if not c["ok"]]

    def human() -> None:
        for c in checks:
            if c["ok"]:
                click.echo(f"ok       {c['name']}: {c['detail']}")
            else:
                click.echo(f"PROBLEM  {c['name']}: {c['detail']}: {c['fix']}")

    render.out(as_json, {"ok": not problems, "checks": checks}, human)
    sys.exit(1 if problems else 0)
