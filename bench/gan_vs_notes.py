"""(b) `latentq run gan` vs the notes' two-train_on_batch loop: samples per second a user gets.

    python bench/gan_vs_notes.py [--epochs 15] [--batch-size 32] [--repeats 3]

Alternating fresh processes, best of --repeats each. latentq's figure is the run's
end_to_end_samples_per_second (training samples over wall_seconds, all monitoring on); the
notes' is its whole loop's. Target: >= 3x."""

import argparse

from comparing import latentq_run, machine, parts, plain


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    notes, runs = [], []
    for i in range(args.repeats):
        _, result = plain("plain_gan_notes.py", args.epochs, args.batch_size)
        notes.append(result["samples_per_second"])
        _, m = latentq_run("gan", args.epochs, args.batch_size, [])
        runs.append(m)
        print(f"round {i}: notes {notes[-1]:.0f}/s; latentq {m['end_to_end_samples_per_second']:.0f}/s end to end, "
              f"{m['samples_per_second']:.0f}/s in the steps: {parts(m)}", flush=True)
    best = max(runs, key=lambda m: m["end_to_end_samples_per_second"])
    print(f"# dense gan, mnist-5k, {args.epochs} epochs, batch {args.batch_size}, best of {args.repeats}; {machine()}")
    print(f"latentq end to end / notes loop: {best['end_to_end_samples_per_second'] / max(notes):5.2f}x  (target >= 3x)")
    print(f"latentq steps alone / notes loop: {best['samples_per_second'] / max(notes):5.2f}x")


if __name__ == "__main__":
    main()
