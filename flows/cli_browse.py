"""`newsarchive browse` (read-only web view of the archive) and `newsarchive report` (standalone HTML).

Standalone click commands registered on the main group in flows/cli.py; they take the archive
and config from the group's context object (``Ctx``). Errors are one line naming the setting
and the fix.
"""
from __future__ import annotations

import errno
import socket
from datetime import date
from pathlib import Path

import click

from storage.lake import ArchiveError


def _ctx():
    return click.get_current_context().obj


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a busy port is one clear line (and --port 0 works)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise click.ClickException(f"--port {port}: already in use on {host}; pick another, "
                                       f"e.g. --port {port + 1}, or --port 0 for any free one") from None
        raise click.ClickException(f"--host {host} --port {port}: cannot listen there ({e.strerror}); "
                                   f"use --host 127.0.0.1") from None
    sock.listen(128)
    return sock


@click.command("browse")
@click.option("--port", type=click.IntRange(0, 65535), default=8766, show_default=True,
              help="TCP port (0: any free port; the URL is printed).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on. Only this machine by default; 0.0.0.0 shares the archive "
                   "with your network.")
@click.option("--at", "at", type=int, default=None, metavar="ID",
              help="Browse the archive as of this snapshot (see `newsarchive snapshots`).")
def browse(port: int, host: str, at: int | None) -> None:
    """Browse the archive in a web browser, read-only: charts, search, articles, stories, runs.

    Pages: overview (articles per day per site, fetch outcomes and extraction
    health per run), search, each article with its versions and word-level
    diffs, near-duplicates, story and the archived raw page, stories side by
    side, the BREAKING ticker as a timeline, and runs. Nothing is written to
    the archive. See docs/BROWSE.md.

    \b
    Example:
      newsarchive browse                      # then open http://127.0.0.1:8766/
      newsarchive browse --port 9000 --at 3   # as of snapshot 3
    """
    import uvicorn

    from web import create_app
    ctx = _ctx()
    try:
        app = create_app(ctx.archive, at=at, health=ctx.config().health)
    except ArchiveError as e:
        raise click.ClickException(str(e))
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    where = f"as of snapshot {at}" if at is not None else "latest snapshot"
    click.echo(f"browsing {ctx.archive.location} ({where}, read-only) at http://{shown}:{bound}/ ; Ctrl-C stops",
               err=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    click.echo("browse stopped", err=True)


@click.command("report")
@click.option("--since", default=None, metavar="DATE",
              help="Only articles published and runs started on or after this day (YYYY-MM-DD, UTC).")
@click.option("--out", "out", default="newsarchive-report.html", show_default=True, metavar="FILE.html",
              type=click.Path(dir_okay=False), help="Where to write the report.")
def report(since: str | None, out: str) -> None:
    """Write the overview (charts and recent runs) as one standalone HTML file, CSS inlined.

    The file needs no server and loads nothing from the web: mail it, attach it
    to a ticket, open it anywhere.

    \b
    Example:
      newsarchive report --out archive-report.html
      newsarchive report --since 2026-11-01 --out november.html
    """
    from web import render_report
    try:
        day = date.fromisoformat(since) if since else None
    except ValueError:
        raise click.ClickException(f"--since {since!r}: not a date; use YYYY-MM-DD, e.g. --since 2026-11-01")
    try:
        html = render_report(_ctx().archive, since=day)
    except ArchiveError as e:
        raise click.ClickException(str(e))
    path = Path(out)
    try:
        path.write_text(html, encoding="utf-8")
    except OSError as e:
        raise click.ClickException(f"--out {out}: cannot write ({e.strerror}); choose a writable path")
    click.echo(f"wrote {path} ({len(html.encode()) // 1024} KiB)")


COMMANDS = [browse, report]
