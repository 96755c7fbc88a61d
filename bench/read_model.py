"""How long listing and showing runs take as runs and epochs grow (latentq.db.reads).

    python bench/read_model.py                       # 50 runs of 2,000 epochs, 5 metrics each, SQLite
    python bench/read_model.py --runs 500 --epochs 100 --db-url postgresql+psycopg://127.0.0.1/test

Fills a fresh store with bulk-inserted rows (no training), then times, best of --repeat:
`latentq list`'s read (the status objects of the newest --limit runs), the runs page's read (one
page of rows), one run's status object, the progress read that `run`/`watch` make twice a second,
and, for comparison, the same listing read the old way: every metric row of each run, run by run.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import timedelta
from pathlib import Path

NAMES = ("loss", "val_loss", "kl", "reconstruction", "fcd")


def fill(store, runs: int, epochs: int) -> list[str]:
    from sqlalchemy import insert

    from latentq.db.schema import Metric, Run, RunStatus, utcnow

    now = utcnow()
    ids = [f"bench{i:07d}" for i in range(runs)]
    spec = json.dumps({"kind": "train", "recipe": "vae", "dataset": "digits", "epochs": epochs})
    with store.session() as s, s.begin():
        s.execute(insert(Run), [{"id": r, "kind": "train", "recipe": "vae", "dataset": "digits", "spec": spec,
                                 "queue": "latentq", "status": RunStatus.SUCCEEDED, "attempts": 1, "max_attempts": 3,
                                 "created_at": now - timedelta(seconds=i), "epoch": epochs, "epochs": epochs,
                                 "cancel_requested": False} for i, r in enumerate(ids)])
        for r in ids:
            s.execute(insert(Metric), [{"run_id": r, "step": e, "name": n, "value": 1.0 / e, "recorded_at": now}
                                       for e in range(1, epochs + 1) for n in NAMES])
    return ids


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def old_listing(store, limit: int) -> list[dict]:
    """Listing as it was: each run's status object read every metric row of the run."""
    out = []
    for run in store.list_runs(limit=limit):
        latest = {}
        for m in store.metrics(run.id):
            latest[m.name] = m.value
        out.append({"id": run.id, "metrics": latest, "artifacts": store.artifacts(run.id)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=50, help="runs listed (latentq list --limit)")
    parser.add_argument("--db-url", default=None, help="an empty database [default: SQLite in a temp folder]")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from latentq.db import reads
    from latentq.db.store import Store

    folder = Path(tempfile.mkdtemp(prefix="lq-bench-reads-"))
    store = Store(args.db_url or f"sqlite:///{folder / 'lq.db'}", folder / "runs")
    start = time.perf_counter()
    ids = fill(store, args.runs, args.epochs)
    print(f"{args.runs} runs x {args.epochs} epochs x {len(NAMES)} metrics inserted in "
          f"{time.perf_counter() - start:.1f}s ({store.db_url.split(':')[0]})")
    rows = [
        (f"list --limit {args.limit} (status objects)", lambda: reads.list_statuses(store, limit=args.limit)),
        ("runs page (100 rows)", lambda: reads.runs_page(store)),
        ("one status object", lambda: store.status(ids[0])),
        ("progress read", lambda: reads.progress(store, ids[0])),
        (f"old list --limit {args.limit} (every metric row)", lambda: old_listing(store, args.limit)),
    ]
    for label, fn in rows:
        print(f"  {label:<45} {best(fn, args.repeat) * 1000:9.1f} ms")


if __name__ == "__main__":
    main()
