"""Where a GAN recipe's training time goes, op by op: TensorFlow's profiler over one epoch of
latentq's compiled train step (after a warm-up epoch), summed by op type, and cProfile's view of
the same epoch from Python (how much of it is spent outside TensorFlow's executor).

    python bench/profile_step.py                                  # dcgan, filters=32, codings=30
    python bench/profile_step.py --recipe gan --set codings=30
    python bench/profile_step.py --recipe dcgan --set filters=64 -b 64

Reads the profiler's XSpace protobuf directly (no TensorBoard plugin needed). Op times are the
TensorFlow ops' own spans on the host threads, so with intra-op threads they overlap: shares are of
the summed op time; "busy / wall" says how many cores the ops kept busy on average."""

from __future__ import annotations

import argparse
import cProfile
import collections
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Op types counted as a network's arithmetic (convolutions and matrix products, forward and back;
# oneDNN's kernels are named _MklNative...Conv2D..., _MklMatMul...).
ARITHMETIC = ("Conv", "MatMul")


def op_times(logdir: Path) -> tuple[collections.Counter, int]:
    """Summed duration (ps) per TensorFlow op type on the host plane, and the op-event count."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    totals: collections.Counter = collections.Counter()
    count = 0
    for path in logdir.rglob("*.xplane.pb"):
        space = xplane_pb2.XSpace()
        space.ParseFromString(path.read_bytes())
        for plane in space.planes:
            if not plane.name.startswith("/host:CPU"):
                continue
            names = {key: meta.name for key, meta in plane.event_metadata.items()}
            for line in plane.lines:
                for event in line.events:
                    name = names.get(event.metadata_id, "")
                    # TensorFlow ops are traced as "node_name:OpType"; other spans (function calls,
                    # executor bookkeeping) nest around them and are not counted.
                    op_type = name.rsplit(":", 1)[-1].strip()
                    if ":" not in name or "::" in name or op_type.startswith("__"):
                        continue
                    totals[op_type] += event.duration_ps
                    count += 1
    return totals, count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", choices=["gan", "dcgan"], default="dcgan")
    parser.add_argument("-b", "--batch-size", type=int, default=32)
    parser.add_argument("--samples", type=int, default=1600, help="training images in the profiled epoch")
    parser.add_argument("--set", dest="sets", action="append", default=None, metavar="KEY=VALUE")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    sets = args.sets if args.sets is not None else (["filters=32", "codings=30"] if args.recipe == "dcgan" else [])

    import keras
    import tensorflow as tf

    import latentq.models  # noqa: F401
    from latentq.datasets import load
    from latentq.models.gan import builders as gan_builders
    from latentq.models.gan.model import compile_gan
    from latentq.recipes.gans import DCGANParams, DenseGANParams
    from latentq.spec import parse_sets

    params = (DCGANParams if args.recipe == "dcgan" else DenseGANParams)(**parse_sets(sets))
    build = gan_builders.build_dcgan if args.recipe == "dcgan" else gan_builders.build_dense_gan
    data = load("mnist-5k", 0)
    x = data.x_train[: args.samples]
    keras.utils.set_random_seed(0)
    model = compile_gan(build(params, data.sample_shape, 0), params)
    model.fit(x, epochs=1, batch_size=args.batch_size, verbose=0)  # warm-up: tracing

    logdir = Path(tempfile.mkdtemp(prefix="lq-profile-"))
    tf.profiler.experimental.start(str(logdir))
    start = time.perf_counter()
    model.fit(x, epochs=1, batch_size=args.batch_size, verbose=0)
    wall = time.perf_counter() - start
    tf.profiler.experimental.stop()

    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.runcall(model.fit, x, epochs=1, batch_size=args.batch_size, verbose=0)
    python_wall = time.perf_counter() - start
    stats = pstats.Stats(profiler)
    executor = sum(row[3] for key, row in stats.stats.items() if key[2] in ("TFE_Py_Execute", "<built-in method tensorflow.python._pywrap_tfe.TFE_Py_Execute>")
                   or "TFE_Py_Execute" in key[2])

    totals, count = op_times(logdir)
    busy = sum(totals.values()) / 1e12
    steps = -(-len(x) // args.batch_size)
    print(f"# {args.recipe} {' '.join(sets)}, batch {args.batch_size}, {len(x)} images ({steps} steps), "
          f"{os.cpu_count()} cpus, TensorFlow {tf.__version__}, intra-op threads "
          f"{tf.config.threading.get_intra_op_parallelism_threads() or 'default'}")
    print(f"profiled epoch: {wall:.2f} s wall, {wall / steps * 1000:.1f} ms per step, {len(x) / wall:.0f} samples/s; "
          f"{count} op events, summed op time {busy:.2f} s (busy / wall {busy / wall:.2f} cores)")
    print(f"{'op type':28s} {'seconds':>8s} {'share':>6s}")
    for name, ps in totals.most_common(args.top):
        print(f"{name:28s} {ps / 1e12:8.3f} {ps / 1e12 / busy:6.1%}")
    arithmetic = sum(ps for name, ps in totals.items() if any(word in name for word in ARITHMETIC)) / 1e12
    print(f"convolutions and matrix products (forward and backward): {arithmetic / busy:.1%} of the op time")
    print(f"cProfile, the same epoch again: {python_wall:.2f} s wall, {executor:.2f} s inside TensorFlow's "
          f"executor call ({executor / python_wall:.1%}); the rest is Python (Keras's fit loop, callbacks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
