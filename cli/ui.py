"""`latentq ui` (the read-only pages) and `latentq report` (one run's page as one HTML file)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Optional

import click

from latentq.cli.ids import resolve_run_id

LOOPBACK_NAMES = ("localhost", "ip6-localhost")


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8377, show_default=True)
@click.option("--allow-remote", is_flag=True, help="Allow a non-loopback --host (the pages have no login).")
def ui(host: str, port: int, allow_remote: bool) -> None:
    """Serve read-only pages of runs, curves and pictures (offline, this machine only by default)."""
    import uvicorn

    from latentq.cli import common, render
    from latentq.web.app import create_app

    if not is_loopback(host) and not allow_remote:
        raise click.UsageError(f"--host {host}: pages would be reachable from other machines and have no login; "
                               "add --allow-remote to do that anyway, or use --host 127.0.0.1")
    if not is_loopback(host):
        render.info(f"warning: serving on {host} with --allow-remote: anyone who can reach port {port} "
                    "sees every run and file under the artifact root; there is no login")
    settings = common.settings()
    sock = listen_socket(host, port)  # a busy port: one Error line, before anything else is printed
    try:
        common.where(settings)
        # Without --allow-remote, only requests naming this address: no DNS rebinding onto loopback.
        app = create_app(settings, allowed_hosts=None if allow_remote else {*LOOPBACK_NAMES, "127.0.0.1", "::1",
                                                                             host.strip("[]").lower()})
        shown = f"[{host}]" if ":" in host else host
        render.info(f"latentq ui: http://{shown}:{port}/  (Ctrl+C stops it)")
        uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).run(sockets=[sock])
    finally:
        sock.close()


def listen_socket(host: str, port: int):
    """A socket bound to host:port (uvicorn serves on it: no window for another process to take
    the port); a port in use or not ours to take is one ClickException line."""
    import errno
    import socket

    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as exc:
        raise click.UsageError(f"--host {host}: not an address this machine can listen on ({exc.strerror})")
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a restart within TIME_WAIT works
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise click.ClickException(f"port {port} on {host} is already in use (another `latentq ui`?); "
                                       f"choose another with --port, for example --port {port + 1}") from None
        raise click.ClickException(f"cannot listen on {host}:{port} ({exc.strerror}); "
                                   "choose another with --port or --host") from None
    sock.set_inheritable(True)
    return sock


@click.command()
@click.argument("run_id", callback=resolve_run_id)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The HTML file to write [default: ./latentq-report-<id>.html].")
def report(run_id: str, output: Optional[Path]) -> None:
    """Write a run's page as one self-contained HTML file (images inline, no network); print its path."""
    from latentq.cli import common
    from latentq.web.report import write_report

    store = common.store()
    path = write_report(store, run_id, (output or Path(f"latentq-report-{run_id}.html")).resolve())
    click.echo(str(path))
