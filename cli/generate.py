"""`latentq generate RUN_ID`: a generation job from a trained run (queued like training)."""

from __future__ import annotations

import sys
from typing import Optional

import click

from latentq.cli.common import FiniteFloatRange
from latentq.cli.ids import resolve_run_id


@click.command()
@click.argument("run_id", callback=resolve_run_id)
@click.option("--n", "n", type=click.IntRange(1, 1024), default=16, show_default=True,
              help="Samples in the grid (random codings), or images to reconstruct.")
@click.option("--interpolate", is_flag=True, help="Semantic interpolation: a 3x4 grid of codings resized to 5x7, "
                                                  "and a straight line between two encoded images.")
@click.option("--reconstruct", is_flag=True, help="Reconstructions of held-out images (autoencoders, VAEs).")
@click.option("--truncation", "truncation", type=FiniteFloatRange(0, 1.5), default=None, metavar="PSI",
              help="StyleGAN: the truncation trick, w = w_avg + PSI (w - w_avg) (0: the average image).")
@click.option("--style-mix", "style_mix", is_flag=True,
              help="StyleGAN: a grid whose rows take the coarse styles of one set of codings, the columns the fine "
                   "styles of another.")
@click.option("--crossover", type=click.IntRange(1, 64), default=None, metavar="L",
              help="With --style-mix: the first synthesis layer taking the fine styles (default: half of them).")
@click.option("--fid", is_flag=True, help="Also an Inception-v3 FID (where its ImageNet weights can be had).")
@click.option("--seed", type=int, default=0, show_default=True, help="The same seed gives the same pictures.")
@click.option("--queue", "-q", default=None, help="Celery queue; default: the trained run's.")
@click.option("--priority", type=click.IntRange(0, 9), default=5, show_default=True, help="9 runs first.")
@click.option("--wait", is_flag=True, help="Wait for the job to end, showing progress.")
@click.option("--local", is_flag=True, help="Run it here in the foreground, like `latentq run` (no broker).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
def generate(run_id: str, n: int, interpolate: bool, reconstruct: bool, truncation: Optional[float], style_mix: bool,
             crossover: Optional[int], fid: bool, seed: int, queue: Optional[str], priority: int, wait: bool,
             local: bool, as_json: bool) -> None:
    """Generate samples, interpolations or reconstructions from a trained run."""
    from latentq.cli import common, render
    from latentq.spec import GenerateOptions, build_spec, check_generate_parent

    settings = common.settings()
    store = common.store(settings)
    if crossover is not None and not style_mix:
        raise click.BadParameter("--crossover applies to --style-mix only", param_hint="'--crossover'")
    options = GenerateOptions(n=n, interpolate=interpolate, reconstruct=reconstruct, truncation=truncation,
                              style_mix=style_mix, crossover=crossover, fid=fid)
    parent = check_generate_parent(store, run_id, options)
    spec = build_spec(kind="generate", recipe=parent.recipe, dataset=parent.dataset, epochs=1, seed=seed,
                      parent=run_id, generate=options, queue=queue or parent.queue, priority=priority)
    if not as_json:
        common.where(settings, broker=not local)
    if not local:
        common.after_submit(common.submit(spec, settings), as_json, wait, settings)
        return
    new_id, _ = store.create_run(spec.model_dump(mode="json"), max_attempts=settings.max_attempts)
    status = common.foreground(new_id, settings, store, quiet=as_json)
    render.out(as_json, status, lambda: render.final_lines(status))
    sys.exit(render.exit_code(status))
