"""How long everyday CLI commands take, each as a fresh process, against a store of 500 runs.

    flock /tmp/bench.lock python bench/cli_latency.py [--runs 500] [--repeats 7] [--doctor-repeats 3]

A private LATENTQ_HOME (SQLite) gets --runs runs bulk inserted (with 10 epochs x 3 metrics rows
each); `submit` goes to real Redis (LATENTQ_BROKER_URL, default redis://127.0.0.1:6379/0) on a
queue no worker consumes, whose messages are deleted at the end. Prints the median and the
fastest of --repeats runs of each command, with the targets."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

TARGETS = {"--help": 0.15, "status": 0.3, "show": 0.3, "list": 0.3, "list-done": 0.3, "submit": None,
           "workers": 1.5, "doctor": 5.0}


def fill(home: Path, n: int) -> str:
    """Create the store (migrations) and bulk insert n runs with metrics; return one run id."""
    os.environ["LATENTQ_HOME"] = str(home)
    from sqlalchemy import insert

    from latentq.db.schema import Metric, Run
    from latentq.db.store import Store
    from latentq.settings import load_settings

    settings = load_settings()
    store = Store(settings.db_url, settings.artifact_root)
    now = datetime.utcnow()
    statuses = ("succeeded", "failed", "cancelled", "queued", "succeeded")
    runs, metrics = [], []
    for i in range(n):
        run_id = uuid.uuid4().hex[:12]
        spec = {"kind": "train", "recipe": "linear-ae", "dataset": "digits", "epochs": 10, "batch_size": 32,
                "seed": i, "params": {"codings": 2}, "queue": "latentq", "priority": 5,
                "idempotency_key": None, "name": f"bench-{i}", "parent": None, "generate": None}
        status = statuses[i % len(statuses)]
        created = now - timedelta(minutes=n - i)
        runs.append({"id": run_id, "kind": "train", "recipe": "linear-ae", "dataset": "digits",
                     "name": f"bench-{i}", "spec": json.dumps(spec, sort_keys=True), "queue": "latentq",
                     "status": status, "attempts": 1, "max_attempts": 3, "created_at": created,
                     "queued_at": created, "sent_at": created, "sends": 1, "epoch": 10, "epochs": 10,
                     "cancel_requested": False,
                     "finished_at": None if status == "queued" else created + timedelta(seconds=30)})
        for epoch in range(1, 11):
            for name in ("loss", "val_loss", "explained_variance"):
                metrics.append({"run_id": run_id, "step": epoch, "name": name, "value": 1.0 / epoch,
                                "recorded_at": created})
    with store.session() as s, s.begin():
        s.execute(insert(Run), runs)
        s.execute(insert(Metric), metrics)
    return runs[-1]["id"]


def timed(argv: list[str], env: dict[str, str], repeats: int) -> tuple[list[float], str]:
    times, failure = [], ""
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode not in (0, 1):  # doctor exits 1 when a check (no worker) fails
            failure = (done.stderr.strip().splitlines() or ["?"])[-1]
    return times, failure


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--doctor-repeats", type=int, default=3)
    args = parser.parse_args()
    latentq = str(Path(sys.executable).with_name("latentq"))
    queue = f"bench-latency-{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory(prefix="latentq-bench-") as tmp:
        home = Path(tmp)
        run_id = fill(home, args.runs)
        env = {**os.environ, "LATENTQ_HOME": str(home)}
        env.pop("LATENTQ_DB_URL", None)
        env.setdefault("LATENTQ_BROKER_URL", "redis://127.0.0.1:6379/0")
        commands = {
            "--help": ["--help"],
            "status": ["status", run_id],
            "show": ["show", run_id],
            "list": ["list"],  # a fifth of the runs are queued: their notes ask Redis for the live workers
            "list-done": ["list", "--status", "succeeded"],  # no queued run shown: no Redis
            "submit": ["submit", "linear-ae", "-d", "digits", "-e", "1", "-q", queue, "--json"],
            "workers": ["workers"],
            "doctor": ["doctor"],
        }
        results: dict[str, tuple[list[float], str]] = {label: ([], "") for label in commands}
        try:
            # Round robin (one run of each command in turn), so a slow moment of the machine is
            # shared by all commands rather than landing on one.
            for repeat in range(max(args.repeats, args.doctor_repeats)):
                for label, argv in commands.items():
                    if repeat < (args.doctor_repeats if label == "doctor" else args.repeats):
                        times, failure = timed([latentq, *argv], env, 1)
                        results[label] = (results[label][0] + times, results[label][1] or failure)
            rows = [(label, statistics.median(t), min(t), failure) for label, (t, failure) in results.items()]
        finally:
            import redis

            client = redis.Redis.from_url(env["LATENTQ_BROKER_URL"])
            for key in [queue.encode(), *client.scan_iter(match=f"{queue}:*")]:
                client.delete(key)
    print(f"# {args.runs} runs in the store, median / fastest of {args.repeats} ({args.doctor_repeats} for doctor); "
          f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"{'command':<10} {'median s':>9} {'min s':>7} {'target s':>9}")
    for label, median, fastest, failure in rows:
        target = TARGETS[label]
        print(f"{label:<10} {median:9.3f} {fastest:7.3f} {('<= %g' % target) if target else '-':>9}"
              + (f"  (failed: {failure})" if failure else ""))


if __name__ == "__main__":
    main()
