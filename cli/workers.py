"""`latentq worker` (one worker, or one per GPU under a supervisor) and `latentq workers`."""

from __future__ import annotations

import os
import sys
from typing import Optional

import click


def celery_argv(queues: str, node: str, loglevel: str) -> list[str]:
    # The threads pool with one thread: the job's task waits on its training process while the
    # consumer (main thread) keeps answering remote control and sending heartbeats.
    return [sys.executable, "-m", "celery", "-A", "latentq.worker.app", "worker", "--pool=threads",
            "--concurrency=1", "-Q", queues, "--hostname", node, "--loglevel", loglevel,
            "--without-gossip", "--without-mingle"]


@click.command()
@click.option("--queues", "--queue", "-Q", "queues", default="latentq", show_default=True,
              help="Comma-separated queues to consume.")
@click.option("--gpu", default=None, help="GPU index for this worker (sets CUDA_VISIBLE_DEVICES).")
@click.option("--gpus", default=None, metavar="all|0,1,3",
              help="Supervise one worker per GPU (`all`: the GPUs nvidia-smi lists); restarts a dead one.")
@click.option("--loglevel", default="INFO", show_default=True)
@click.option("--hostname", default=None, help="Celery node name (default latentq-<gpuN|cpu>-<pid>@<host>).")
@click.option("--dry-run", is_flag=True, help="Print the worker(s) it would start, with their environment.")
def worker(queues: str, gpu: Optional[str], gpus: Optional[str], loglevel: str, hostname: Optional[str],
           dry_run: bool) -> None:
    """Start a worker: one job at a time, each trained in a process of its own."""
    from latentq.cli import common, render

    if gpus is not None:
        if gpu is not None or hostname is not None:
            raise click.UsageError("--gpus starts one worker per GPU: give it without --gpu or --hostname")
        from latentq.worker.supervisor import parse_gpus, plan, supervise

        children = plan(parse_gpus(gpus), queues, loglevel)
        if dry_run:
            for child in children:
                click.echo(child.describe())
            return
        common.where(common.settings(), broker=True, artifacts=True)
        sys.exit(supervise(children, render.info))
    node = hostname or f"latentq-{'gpu' + gpu if gpu is not None else 'cpu'}-{os.getpid()}@%h"
    argv = celery_argv(queues, node, loglevel)
    if dry_run:
        env = f"CUDA_VISIBLE_DEVICES={gpu} TF_FORCE_GPU_ALLOW_GROWTH=true " if gpu is not None else ""
        click.echo(f"{'gpu ' + gpu if gpu is not None else 'cpu'}: {env}{' '.join(argv)}")
        return
    common.where(common.settings(), broker=True, artifacts=True)
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
        os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    os.execv(sys.executable, argv)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
def workers(as_json: bool) -> None:
    """List live workers (queues, GPU, the run each trains, jobs done) and queue depths."""
    from latentq.cli import common, render
    from latentq.worker.live import snapshot

    settings = common.settings()
    data = snapshot(settings, common.store(settings))  # Unavailable: the broker does not answer

    def human() -> None:  # plain lines: names and run ids are what people copy, never cut them
        for w in data["workers"]:
            training = ", ".join(f"{r['id']} {r['recipe']} epoch {r['epoch']}/{r['epochs']}" for r in w["runs"])
            click.echo(f"{w['name']}  gpu {w['gpu'] or '-'}  queues {','.join(w['queues'])}  "
                       f"{'training ' + training if training else 'idle'}  jobs done {w['jobs_done']}  "
                       f"up since {w['started_at'].replace('T', ' ')[:19]}")
        if not data["workers"]:
            click.echo("no live workers (start one with `latentq worker`)")
        click.echo("queues: " + ", ".join(f"{q} {n} waiting" for q, n in data["queues"].items()))

    render.out(as_json, data, human)
