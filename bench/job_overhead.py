"""(a) Does the job system cost the user time? `latentq run stacked-ae` vs the notes' plain Keras script.

    python bench/job_overhead.py [--epochs 10] [--batch-size 32] [--repeats 3]

Alternating fresh processes, best of --repeats each. Target: the run's wall_seconds (claim to
finish, all monitoring on) <= 1.05x the plain script's whole `fit`."""

import argparse

from comparing import latentq_run, machine, parts, plain


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    runs, plains = [], []
    for i in range(args.repeats):
        process, result = plain("plain_stacked_ae.py", args.epochs, args.batch_size)
        plains.append((result["train_seconds"], process))
        process, m = latentq_run("stacked-ae", args.epochs, args.batch_size, [])
        runs.append((m["wall_seconds"], process, m))
        print(f"round {i}: plain fit {plains[-1][0]:.2f}s (process {plains[-1][1]:.2f}s); latentq wall "
              f"{m['wall_seconds']:.2f}s (process {process:.2f}s): {parts(m)}", flush=True)
    fit, fit_process = min(plains)
    wall, process, m = min(runs, key=lambda r: r[0])
    steps = m["compile_seconds"] + m["train_seconds"] + m["validation_seconds"]
    print(f"# stacked-ae, mnist-5k, {args.epochs} epochs, batch {args.batch_size}, best of {args.repeats}; "
          f"{machine()}")
    print(f"latentq wall_seconds / plain fit:            {wall / fit:5.2f}x  (target <= 1.05x)")
    print(f"latentq wall minus setup / plain fit:        {(wall - m['setup_seconds']) / fit:5.2f}x")
    print(f"latentq compile+steps+validation / plain fit: {steps / fit:5.2f}x")
    print(f"latentq process / plain process:             {process / fit_process:5.2f}x")


if __name__ == "__main__":
    main()
