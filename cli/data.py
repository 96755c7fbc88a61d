"""`latentq data prepare`: a folder of images made into a prepared dataset (latentq.prepared)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Optional

import click

from latentq.errors import UserError


def _size(resolution: Optional[int], size: Optional[str]) -> Optional[tuple[int, int]]:
    if resolution is not None and size is not None:
        raise click.UsageError("give --resolution or --size, not both")
    if resolution is not None:
        return (resolution, resolution)
    if size is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*[x×X]\s*(\d+)\s*", size)
    if not match:
        raise click.UsageError(f"--size {size!r}: expected WIDTHxHEIGHT, e.g. 64x48")
    return (int(match.group(1)), int(match.group(2)))


@click.group()
def data() -> None:
    """Prepare image folders once, then train on them as data:NAME."""


@data.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("name")
@click.option("--resolution", type=int, help="square side in pixels (4..4096); default: the images' own size")
@click.option("--size", "size_text", help="WIDTHxHEIGHT instead of a square, e.g. 64x48")
@click.option("--transform", default="center-crop", show_default=True,
              help="how an image of another aspect ratio fits: center-crop | pad | stretch")
@click.option("--channels", help="rgb | grey: every image converted (default: rgb if any image is in colour)")
@click.option("--labels", default="auto", show_default=True,
              help="auto: one class per top-level sub-folder; none: unlabelled")
@click.option("--max-images", type=int, help="at most this many images (in sorted order)")
@click.option("--skip-bad", is_flag=True, help="skip unreadable or corrupt files (listed in the manifest)")
@click.option("--workers", type=int, help="decoding processes (default: one per CPU)")
@click.option("--replace", is_flag=True, help="replace a dataset of this name prepared from something else")
@click.option("--json", "as_json", is_flag=True, help="print the manifest as JSON")
def prepare(source: Path, name: str, resolution: Optional[int], size_text: Optional[str], transform: str,
            channels: Optional[str], labels: str, max_images: Optional[int], skip_bad: bool,
            workers: Optional[int], replace: bool, as_json: bool) -> None:
    """Decode, resize and store a folder of images as uint8 pixels with a manifest."""
    from latentq import prepared
    from latentq.settings import load_settings

    if workers is not None and workers < 1:
        raise click.UsageError("--workers must be at least 1")
    options = prepared.Options(size=_size(resolution, size_text), transform=transform, channels=channels,
                               labels=labels, max_images=max_images, skip_bad=skip_bad)
    options.check()
    prepared.check_name(name)
    settings = load_settings()
    with _progress(as_json) as progress:
        result = prepared.prepare(source, name, settings.home, options, workers=workers, progress=progress,
                                  replace=replace)
    m = result.manifest
    if as_json:
        click.echo(json.dumps({**m.to_json(), "path": str(result.path), "created": result.created}, indent=2))
        return
    h, w, c = m.shape
    if not result.created:
        click.echo(f"data:{name} is already prepared from {m.source} with these options ({m.count} images, "
                   f"{w}x{h}x{c}): nothing to do")
        return
    rate = m.count / result.seconds if result.seconds else 0
    classes = f", {len(m.classes)} classes" if m.classes else ", unlabelled"
    click.echo(f"data:{name}: {m.count} images, {w}x{h} {m.channels}{classes}, {prepared._human(m.pixel_bytes)} "
               f"at {result.path} ({result.seconds:.1f} s, {rate:.0f} images/s)")
    if m.skipped:
        click.echo(f"skipped {len(m.skipped)} unreadable file(s): "
                   + ", ".join(s["file"] for s in m.skipped[:5]) + (" ..." if len(m.skipped) > 5 else ""))
    click.echo(f"train on it: latentq run dcgan --dataset data:{name}")


class _progress:
    """A rich progress bar on stderr (images/s, ETA) while the images are decoded."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar = None
        self.task = None

    def __enter__(self):
        if self.quiet:
            return None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("preparing"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[rate]} images/s"), TimeRemainingColumn(),
                            console=Console(stderr=True), transient=True)
        self.bar.__enter__()
        self.task = self.bar.add_task("prepare", total=None, rate="-")
        return self.update

    def update(self, done: int, total: int) -> None:
        task = self.bar.tasks[0]
        speed = task.speed
        self.bar.update(self.task, completed=done, total=total, rate=f"{speed:.0f}" if speed else "-")

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def prepared_rows() -> list[dict]:
    """The prepared datasets for `latentq datasets`."""
    from latentq import prepared
    from latentq.settings import load_settings

    try:
        return prepared.listing(prepared.root_of(load_settings().home))
    except UserError:
        return []
