"""A run's end-of-run t-SNE (latentq.models.codings) when two training processes share the cores:
OpenMP's idle threads spinning (the default) against sleeping (OMP_WAIT_POLICY=PASSIVE, what a
worker gives its training processes).

    python bench/tsne_threads.py [--points 360] [--dims 8]

Prints the seconds of one t-SNE alone and of two at once (two processes), for each policy."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

ONE = """
import sys, time, numpy as np
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_limits
from latentq.models.codings import TSNE_ITERATIONS, TSNE_THREADS
points, dims = int(sys.argv[1]), int(sys.argv[2])
z = np.random.default_rng(0).normal(size=(points, dims))
TSNE(n_components=2, perplexity=5, max_iter=250).fit_transform(z[:30])  # imports, OpenMP's start
with threadpool_limits(TSNE_THREADS):
    start = time.perf_counter()
    TSNE(n_components=2, perplexity=30, init="pca", learning_rate="auto", max_iter=TSNE_ITERATIONS,
         random_state=0).fit_transform(z)
print(f"{time.perf_counter() - start:.2f}")
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=360, help="digits' validation split: 360")
    parser.add_argument("--dims", type=int, default=8)
    args = parser.parse_args()
    argv = [sys.executable, "-c", ONE, str(args.points), str(args.dims)]
    print(f"# t-SNE of {args.points} x {args.dims}; {os.cpu_count()} cpus")
    for policy in ("ACTIVE", "PASSIVE"):
        env = {**os.environ, "OMP_WAIT_POLICY": policy}
        alone = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout.strip()
        pair = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
        together = [p.communicate()[0].strip() for p in pair]
        print(f"OMP_WAIT_POLICY={policy:<8} alone {alone} s, two at once {' and '.join(together)} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
