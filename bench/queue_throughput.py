"""Is the queue, or a job's fixed cost, ever the bottleneck? N tiny jobs (`linear-ae --epochs 1`)
through two warm workers.

    python bench/queue_throughput.py [--jobs 40] [--workers 2] [--dataset digits] [--paced] [--set codings=8]

Targets (40 jobs, 2 workers, all submitted at once): >= 30 jobs per minute, and a job's median
claim-to-finish at most 1.5 s above the run's own wall_seconds (what a worker adds to a job:
handing it to a training process, that process's start, its end).

Starts a private redis-server on a free port, a fresh LATENTQ_HOME (SQLite), `--workers`
`latentq worker` processes (warmed by one job each first), then submits the jobs the way
`latentq submit` does (row, then message) and waits for all of them. From the runs' own
created_at / started_at / finished_at it reports:

- jobs per minute (first submit to last finish);
- per job, claim-to-finish (finished_at - started_at) minus the run's own wall_seconds: median;
- submit-to-running latency (started_at - created_at), median and p95: with --paced, at most
  one job per worker is in flight, so this is the queue's pick-up latency; without, the jobs
  are submitted at once and the latency includes waiting behind other jobs;
- each training process's resident memory after its 10th job and after its last (with
  `--workers 1 --jobs 50`: whether a process that runs many jobs grows);
- the queue's share of the time per job: per worker, the gap between finishing one job and
  starting the next (message hand-over, claim) over the whole time per job (gap + job); with
  --paced, the latency over latency + job.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


# The worker's line after each job (latentq.worker.process): which process, its job count, its RSS.
DONE = re.compile(r"done in training process (\d+), job (\d+) of at most \d+, RSS (\d+) MiB")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--paced", action="store_true", help="keep at most one job per worker in flight")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="a linear-ae parameter, as `latentq submit --set` takes it")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="lq-queue-bench-"))
    port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.environ.update(LATENTQ_HOME=str(home), LATENTQ_BROKER_URL=f"redis://127.0.0.1:{port}/0")
    workers: list[subprocess.Popen] = []
    try:
        from latentq.db.store import Store
        from latentq.settings import load_settings
        from latentq.spec import build_spec
        from latentq.worker.app import enqueue, ping_broker

        deadline = time.monotonic() + 30
        while True:
            try:
                ping_broker(timeout=1)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        settings = load_settings()
        store = Store(settings.db_url, settings.artifact_root)
        logs = []
        for i in range(args.workers):
            log = home / f"worker-{i}.log"
            logs.append(log)
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "latentq.cli.main", "worker", "--loglevel", "INFO", "--hostname",
                 f"bench{i}@%h"], stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True))
        for log in logs:
            while b"ready." not in log.read_bytes():
                time.sleep(0.2)

        from latentq.spec import parse_sets

        params = parse_sets(tuple(args.sets))

        def submit() -> str:
            spec = build_spec(kind="train", recipe="linear-ae", dataset=args.dataset, epochs=1, batch_size=64,
                              seed=0, params=params)
            run_id, _ = store.create_run(spec.model_dump(mode="json"), max_attempts=settings.max_attempts)
            enqueue(run_id, spec.queue, spec.priority)
            return run_id

        def done(run_id: str) -> bool:
            return store.status(run_id)["status"] in ("succeeded", "failed", "cancelled")

        warm = [submit() for _ in range(args.workers * 2)]  # TensorFlow imported, the dataset cached
        while not all(done(r) for r in warm):
            time.sleep(0.2)

        ids: list[str] = []
        start = time.perf_counter()
        for _ in range(args.jobs):
            if args.paced:
                while sum(not done(r) for r in ids) >= args.workers:
                    time.sleep(0.01)
            ids.append(submit())
        while not all(done(r) for r in ids):
            time.sleep(0.2)
        elapsed = time.perf_counter() - start

        runs = [store.get(r) for r in ids]  # the rows: timestamps to the microsecond
        failed = [r.id for r in runs if r.status != "succeeded"]
        latency = [(r.started_at - r.created_at).total_seconds() for r in runs]
        by_worker: dict[str, list] = {}
        for r in runs:
            by_worker.setdefault(r.worker, []).append(r)
        gaps, per_job = [], []
        for worker_runs in by_worker.values():
            worker_runs.sort(key=lambda r: r.started_at)
            for a, b in zip(worker_runs, worker_runs[1:]):
                gap = (b.started_at - a.finished_at).total_seconds()
                job = (b.finished_at - b.started_at).total_seconds()
                if b.created_at <= a.finished_at:  # the next job was already waiting
                    gaps.append(gap)
                    per_job.append(gap + job)
        print(f"# {args.jobs} linear-ae --epochs 1 {' '.join('--set ' + a for a in args.sets)} jobs on {args.dataset}, {args.workers} warm workers, "
              f"{'paced' if args.paced else 'all submitted at once'}; {os.cpu_count()} cpus, "
              f"load {os.getloadavg()[0]:.1f}")
        print(f"jobs per minute:               {args.jobs / elapsed * 60:.1f}  ({elapsed:.1f} s, "
              f"{len(failed)} not succeeded; target >= 30)")
        claim_to_finish = [(r.finished_at - r.started_at).total_seconds() for r in runs]
        walls = [store.latest_metrics(r.id).get("wall_seconds", float("nan")) for r in runs]
        overhead = [c - w for c, w in zip(claim_to_finish, walls)]
        print(f"claim-to-finish:               median {statistics.median(claim_to_finish):.2f} s, "
              f"run's wall_seconds median {statistics.median(walls):.2f} s")
        parts = ("setup", "compile", "train", "validation", "eval", "picture", "checkpoint", "finish", "other")
        latest = [store.latest_metrics(r.id) for r in runs]
        print("run's own time by part, median: " + ", ".join(
            f"{part} {statistics.median(m.get(f'{part}_seconds', 0.0) for m in latest):.2f}" for part in parts))
        print(f"claim-to-finish - wall_seconds: median {statistics.median(overhead):.2f} s, "
              f"p95 {p95(overhead):.2f} s  (target <= 1.5 s)")
        print(f"submit-to-running latency:     median {statistics.median(latency) * 1000:.0f} ms, "
              f"p95 {p95(latency) * 1000:.0f} ms")
        if args.paced:  # each job found a free worker: the latency is the queue's whole share
            jobs = [(r.finished_at - r.started_at).total_seconds() for r in runs]
            print(f"queue's share of time per job: {sum(latency) / (sum(latency) + sum(jobs)) * 100:.1f} %  "
                  f"(median job {statistics.median(jobs):.2f} s)")
        elif gaps:
            print(f"hand-over gap between jobs:    median {statistics.median(gaps) * 1000:.0f} ms, "
                  f"p95 {p95(gaps) * 1000:.0f} ms")
            print(f"queue's share of time per job: {sum(gaps) / sum(per_job) * 100:.1f} %  "
                  f"(median job {statistics.median(j - g for j, g in zip(per_job, gaps)):.2f} s)")
        rss: dict[str, list[tuple[int, float]]] = {}  # training process -> (its job, RSS MiB after it)
        for log in logs:
            for pid, job, mib in DONE.findall(log.read_text(errors="replace")):
                rss.setdefault(pid, []).append((int(job), float(mib)))
        for pid, after in rss.items():
            if len(after) >= 10:
                print(f"training process {pid}: RSS after its job 10 {dict(after)[10]:.0f} MiB, after its job "
                      f"{after[-1][0]} {after[-1][1]:.0f} MiB")
        return 1 if failed else 0
    finally:
        for worker in workers:
            try:
                os.killpg(worker.pid, signal.SIGTERM)
                worker.wait(timeout=60)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(worker.pid, signal.SIGKILL)
        redis.terminate()
        redis.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
