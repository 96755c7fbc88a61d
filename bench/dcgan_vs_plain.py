"""(c) `latentq run dcgan --set filters=F` vs a plain keras-io style DCGAN (`train_step` + fit)
and vs the notes' two-train_on_batch loop, same networks.

    python bench/dcgan_vs_plain.py [--epochs 5] [--filters 32] [--batch-size 32] [--repeats 3]

Alternating fresh processes, best of --repeats each; samples per second over latentq's
wall_seconds and over each plain script's whole fit / loop. Targets: >= 1.5x keras-io, >= 2x notes."""

import argparse

from comparing import latentq_run, machine, parts, plain


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--filters", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    keras_io, notes, runs = [], [], []
    for i in range(args.repeats):
        _, result = plain("plain_dcgan_keras.py", args.epochs, args.batch_size, args.filters)
        keras_io.append(result["samples_per_second"])
        _, result = plain("plain_gan_notes.py", args.epochs, args.batch_size, "--dcgan", "--filters", args.filters)
        notes.append(result["samples_per_second"])
        _, m = latentq_run("dcgan", args.epochs, args.batch_size, [f"filters={args.filters}", "codings=30"])
        runs.append(m)
        print(f"round {i}: keras-io {keras_io[-1]:.0f}/s, notes {notes[-1]:.0f}/s, latentq "
              f"{m['end_to_end_samples_per_second']:.0f}/s end to end ({m['samples_per_second']:.0f}/s steps): "
              f"{parts(m)}", flush=True)
    best = max(runs, key=lambda m: m["end_to_end_samples_per_second"])
    e2e = best["end_to_end_samples_per_second"]
    print(f"# dcgan filters={args.filters}, mnist-5k, {args.epochs} epochs, batch {args.batch_size}, "
          f"best of {args.repeats}; {machine()}")
    print(f"latentq end to end / keras-io fit: {e2e / max(keras_io):5.2f}x  (target >= 1.5x)")
    print(f"latentq end to end / notes loop:   {e2e / max(notes):5.2f}x  (target >= 2x)")
    print(f"latentq steps alone / keras-io fit: {best['samples_per_second'] / max(keras_io):5.2f}x")


if __name__ == "__main__":
    main()
