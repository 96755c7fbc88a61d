"""Does a worker creep in memory over many jobs? Resident memory of the whole worker process tree.

    python bench/worker_memory.py [--jobs 20] [--recipe linear-ae] [--epochs 1]

Starts a real `latentq worker` (own LATENTQ_HOME, SQLite, the Redis of LATENTQ_BROKER_URL or
redis://127.0.0.1:6379/13, flushed), submits the jobs one after another and, after each one
ends (its training process gone), sums VmRSS over the worker and all its descendants (Linux
/proc); also the largest tree seen while the job ran (sampled every 0.3 s). Prints one row per job
and the growth from job 5 to the last (the target: within 10 %)."""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:
            pass
    return found


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def tree_rss_mib(pid: int) -> tuple[float, int]:
    pids = descendants(pid)
    return sum(rss_kib(p) for p in pids) / 1024, len(pids)


def cli(env, *args):
    out = subprocess.run([sys.executable, "-m", "latentq.cli.main", *args], capture_output=True, text=True, env=env)
    if out.returncode:
        sys.exit(out.stderr)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--recipe", default="linear-ae")
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    broker = os.environ.get("LATENTQ_BROKER_URL", "redis://127.0.0.1:6379/13")
    import redis

    redis.Redis.from_url(broker).flushdb()
    home = tempfile.mkdtemp(prefix="lq-mem-")
    env = {**os.environ, "LATENTQ_HOME": home, "LATENTQ_BROKER_URL": broker}
    env.pop("LATENTQ_DB_URL", None)
    log = open(Path(home) / "worker.log", "wb")
    worker = subprocess.Popen([sys.executable, "-m", "latentq.cli.main", "worker", "--hostname", "membench@%h"],
                              env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    rows = []
    try:
        while b" ready." not in (Path(home) / "worker.log").read_bytes():
            time.sleep(0.2)
        idle, _ = tree_rss_mib(worker.pid)
        for job in range(1, args.jobs + 1):
            run_id = cli(env, "submit", args.recipe, "--epochs", str(args.epochs), "--json")["id"]
            peak = 0.0
            while cli(env, "status", run_id, "--json")["status"] not in ("succeeded", "failed", "cancelled"):
                peak = max(peak, tree_rss_mib(worker.pid)[0])
                time.sleep(0.3)
            deadline = time.monotonic() + 120  # the training process exits after its run's row says it ended
            while len(descendants(worker.pid)) > 1 and time.monotonic() < deadline:
                time.sleep(0.2)
            mib, n = tree_rss_mib(worker.pid)
            rows.append((job, mib, n))
            print(f"job {job:>3}: worker tree after {mib:8.1f} MiB in {n} process(es); "
                  f"while training, up to {peak:8.1f} MiB", flush=True)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=120)
    print(f"\n{args.jobs} x {args.recipe} ({args.epochs} epoch(s)); idle worker before the first job: {idle:.1f} MiB")
    if len(rows) >= 5:
        fifth, last = rows[4][1], rows[-1][1]
        print(f"after job 5: {fifth:.1f} MiB, after job {rows[-1][0]}: {last:.1f} MiB, "
              f"growth {100 * (last - fifth) / fifth:+.1f} %")


if __name__ == "__main__":
    main()
