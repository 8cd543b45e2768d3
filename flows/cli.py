"""The `newsarchive` command line.

Every command has --help with an example. Errors are one clear line (site,
URL or setting, and the fix) on stderr and exit code 2, not a traceback: every
project error derives from newsarchive.errors.NewsarchiveError, and the command
group catches that root once (NewsarchiveGroup). Anything else is a bug and
keeps its traceback.
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from pathlib import Path

import click

from crawl.config import load_config
from flows.cli_archive import CommandError
from newsarchive import __version__
from newsarchive.errors import EXIT_ERROR, NewsarchiveError
from storage.lake import ENV_ARCHIVE, Archive
from storage.sql import FORMATS, connect_user, format_result, print_results, run_sql, shell

#: Fixed port of the replay web `serve --replay` starts or reuses (deployments remember its URL).
REPLAY_PORT = 8765

DEMO_QUERY = ("SELECT site, count(*) AS articles, min(published_at) AS oldest, "
              "max(published_at) AS newest FROM articles GROUP BY site ORDER BY site")


def fail(message: str) -> None:
    raise CommandError(message)


class OneLineError(click.ClickException):
    """A project error as click shows it: `Error: <message>` on stderr, exit code 2."""
    exit_code = EXIT_ERROR

    def __init__(self, message: str):
        super().__init__(" ".join(message.split()))   # one line whatever the message held


class NewsarchiveGroup(click.Group):
    """The one place where project errors become `Error: <one line>` and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except NewsarchiveError as e:
            raise OneLineError(str(e) or type(e).__name__) from None


class DelaySeconds(click.ParamType):
    """A politeness delay: a finite number of seconds within 0..MAX_DELAY_S (``inf`` hung the crawl)."""
    name = "SECONDS"

    def convert(self, value, param, ctx):
        from crawl.config import MAX_DELAY_S
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds, e.g. --delay 0.5", param, ctx)
        if not 0 <= seconds <= MAX_DELAY_S:   # also false for nan
            self.fail(f"{value!r} must be a finite number of seconds within 0..{MAX_DELAY_S:g}, "
                      f"e.g. --delay 0.5", param, ctx)
        return seconds


class Ctx:
    def __init__(self, archive: str, config: str | None):
        self.archive = Archive(archive)
        self.config_path = config

    def config(self):
        return load_config(self.config_path)


@click.group(cls=NewsarchiveGroup,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--archive", envvar=ENV_ARCHIVE, default="./archive", show_default=True,
              type=click.Path(file_okay=False), help=f"Archive directory (env {ENV_ARCHIVE}).")
@click.option("--config", "config", envvar="NEWSARCHIVE_CONFIG", default=None,
              type=click.Path(dir_okay=False),
              help="Site config TOML (env NEWSARCHIVE_CONFIG; default: the embedded sites.toml).")
@click.version_option(__version__, prog_name="newsarchive")
@click.pass_context
def cli(ctx: click.Context, archive: str, config: str | None) -> None:
    """Scheduled scraping and archival of news sites.

    \b
    Example (everything local, against the built-in replay web):
      newsarchive run --replay
      newsarchive sql "SELECT site, count(*) FROM articles GROUP BY site"
    """
    ctx.obj = Ctx(archive, config)


@cli.command()
@click.pass_obj
def sites(obj: Ctx) -> None:
    """List the configured sites.

    \b
    Example:
      newsarchive sites
      newsarchive --config my-sites.toml sites
    """
    cfg = obj.config()
    rows = [(s.name, ", ".join(s.domains), s.extractor, s.schedule, s.timezone,
             s.politeness.concurrency_per_host, s.politeness.delay_s,
             len(s.sitemaps), len(s.feeds), len(s.start_pages)) for s in cfg.sites.values()]
    cols = ["site", "domains", "extractor", "schedule", "timezone", "concurrency", "delay_s",
            "sitemaps", "feeds", "start_pages"]
    click.echo(f"config: {cfg.source}")
    click.echo(format_result(cols, rows, "table"))


def _start_replay(seed: int, articles: int, host: str = "127.0.0.1", port: int = 0):
    """The replay web on host:port (0: any free port), or one line saying the port is taken."""
    from replay import Corpus, build_app
    from replay.server import LoopbackServer
    try:
        srv = LoopbackServer(build_app(Corpus(seed=seed, per_site=articles)), host=host, port=port).start()
    except OSError as e:
        fail(f"cannot listen on {host}:{port} ({e.strerror or e}); stop what uses it or choose another --port")
    click.echo(f"replay web: {srv.url} (seed {seed}, {articles} articles per site)", err=True)
    return srv


@cli.command()
@click.option("--site", "sites_", multiple=True, metavar="NAME", help="Site to crawl (repeatable; default: all).")
@click.option("--replay", is_flag=True, help="Start the replay web in-process and crawl it instead of the live sites.")
@click.option("--replay-articles", default=150, show_default=True, help="Replay corpus size per site.")
@click.option("--replay-seed", default=1, show_default=True, help="Replay corpus seed.")
@click.option("--replay-url", default=None, metavar="URL",
              help="Crawl a replay web already running at URL (e.g. one shared by several workers).")
@click.option("--delay", type=DelaySeconds(), default=None,
              help="Override every site's politeness delay in seconds (default with --replay: 0).")
@click.option("--max-articles", type=int, default=None, help="Fetch at most N articles per site.")
@click.option("--batch-size", type=click.IntRange(min=1), default=200, show_default=True,
              help="Pages per task; each finished batch is staged (on disk, or in the bucket of a shared archive).")
@click.option("--query", "demo_query", default=DEMO_QUERY, show_default="a count by site",
              help="SQL to print after the run ('' for none).")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@click.pass_obj
def run(obj: Ctx, sites_, replay, replay_articles, replay_seed, replay_url, delay, max_articles, batch_size,
        demo_query, progress) -> None:
    """Run the scrape flow once, then print a per-site summary and a query.

    \b
    Examples:
      newsarchive run --replay                 # both sites, local replay web
      newsarchive run --site reuters --max-articles 50
    """
    cfg = obj.config()
    for name in sites_:
        if name not in cfg.sites:
            fail(f"no site named {name!r} in {cfg.source}; configured: {', '.join(sorted(cfg.sites))} "
                 f"(see `newsarchive sites`)")
    from collections import Counter

    from flows.local_server import begin_run_server
    from flows.progress import set_reporter

    obj.archive.check_can_write()   # a read-only or damaged archive stops here, before any crawl
    # Without PREFECT_API_URL the flow run needs a local Prefect server: started now, in the
    # background, and waited for only after the crawl's head start (_scrape_with_head_start).
    server = None if os.environ.get("PREFECT_API_URL") else begin_run_server()
    srv = None
    try:
        srv = _start_replay(replay_seed, replay_articles) if replay and not replay_url else None
        if (replay or replay_url) and delay is None:
            delay = 0.0
        params = dict(sites=list(sites_) or None, archive=obj.archive.location, config_path=obj.config_path,
                      replay_url=srv.url if srv else replay_url, delay_s=delay, max_articles=max_articles,
                      batch_size=batch_size)
        result = asyncio.run(_scrape_with_head_start(server, params, progress))
    finally:
        set_reporter(None)
        if srv:
            srv.stop()
        if server:
            _drain_prefect()
            server.stop()
    from flows.report import text_table
    stats = {k: Counter(v) for k, v in result["stats"].items()}
    click.echo(f"\nrun {result['run_id']} -> snapshot {result['snapshot']} in {result['archive']}")
    click.echo(text_table(stats))
    if result["error_count"]:
        click.echo(f"{result['error_count']} error(s); first: {result['errors'][0]}")
    for alarm in result.get("drift", []):
        shares = ", ".join(f"{k} {v:.0%}" for k, v in alarm["shares"].items())
        example = next(iter(alarm["examples"][alarm["failing"][0]]), "")
        click.echo(f"DRIFT {alarm['site']}: extractor {alarm['extractor']!r} health {shares} "
                   f"(failing: {', '.join(alarm['failing'])}); e.g. {example}. Pages fell back to the "
                   f"generic extractor; raw pages are in the WARC archive for re-extraction.")
    if demo_query:
        click.echo(f"\n{demo_query}")
        _run_user_sql(obj.archive, demo_query, "table", write=False, at=None)


async def _scrape_with_head_start(server, params: dict, progress: bool | None) -> dict:
    """The scrape flow, its crawl begun before the flow run exists (flows/head_start.py): the first
    request goes out while the Prefect server starts and Prefect is imported."""
    from crawl.plan import ScrapeOptions, plan_scrape
    from flows.head_start import HEAD_START, open_crawl
    from flows.runlog import EarlyLogs

    with EarlyLogs() as early:
        plan = plan_scrape(ScrapeOptions(params["sites"], params["config_path"], params["replay_url"],
                                         params["delay_s"]))
        head = await open_crawl(plan, Archive(params["archive"]), flow_label="scrape", flow_run_id=None,
                                max_urls=params["max_articles"], discover_now=True, early_logs=early)
        async with head:   # closed here when the flow never takes it over (no server)
            give_up = threading.Event()   # Ctrl-C meanwhile: the waiting thread stops at once
            try:
                await asyncio.to_thread(_prefect_ready, server, give_up)
            except asyncio.CancelledError:
                give_up.set()
                raise
            from flows.progress import set_reporter
            from flows.progress_bar import BackfillProgress
            from flows.scrape import scrape
            bar = BackfillProgress(None, enabled=sys.stderr.isatty() if progress is None else progress)
            set_reporter(bar.handle)
            token = HEAD_START.set(head)
            try:
                with bar:
                    return await scrape(**params)
            finally:
                HEAD_START.reset(token)


def _drain_prefect() -> None:
    """Send the run's queued log lines and events (its task runs) before its server stops."""
    if "prefect.logging.handlers" not in sys.modules:
        return   # Prefect was never imported: nothing queued
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    try:
        APILogWorker.instance().drain()
    except RuntimeError:   # the worker never started
        pass
    EventsWorker.drain_all()


def _prefect_ready(server, give_up: threading.Event) -> None:
    """Import Prefect and wait for the run's local server (None: PREFECT_API_URL was set); in a
    thread, while the head start's discovery goes on."""
    import flows.scrape  # noqa: F401  (Prefect's import: ~2.5 s of CPU)
    if server is not None:
        server.wait(give_up=give_up)


@cli.command()
@click.option("--site", required=True, metavar="NAME", help="Site to backfill.")
@click.option("--from", "date_from", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First day (YYYY-MM-DD, UTC).")
@click.option("--to", "date_to", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last day, inclusive.")
@click.option("--chunk-days", default=31, show_default=True, help="Days per chunk; each chunk is one flow run and one snapshot.")
@click.option("--replay", is_flag=True, help="Backfill from an in-process replay web.")
@click.option("--replay-articles", default=150, show_default=True, help="Replay corpus size per site.")
@click.option("--replay-url", default=None, metavar="URL",
              help="Crawl a replay web already running at URL (e.g. one shared by several workers).")
@click.option("--delay", type=DelaySeconds(), default=None, help="Override the site's politeness delay (s).")
@click.option("--batch-size", default=200, show_default=True, help="Pages per task; each finished batch is staged on disk.")
@click.option("--deployment", default=None, metavar="NAME",
              help="Run the chunks as flow runs of this deployment (e.g. scrape/scrape-reuters), shared by "
                   "every worker serving it (`newsarchive serve` on several machines with one archive).")
@click.option("--stale-after", type=click.FloatRange(min=1), default=180.0, show_default=True, metavar="S",
              help="With --deployment: a chunk run claimed by a worker that shows no sign of life for S "
                   "seconds is taken for dead (its worker died) and marked Crashed.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@click.pass_context
def backfill(ctx: click.Context, site, date_from, date_to, chunk_days, replay, replay_articles, replay_url, delay,
             batch_size, deployment, stale_after, progress) -> None:
    """Fill the archive backwards over a date range, chunk by chunk.

    Discovery reads the date-bucketed sitemaps of the range; URLs already in
    the archive are not refetched, so a backfill can be killed and rerun, and
    overlaps with scheduled runs store nothing twice.

    \b
    Examples:
      newsarchive backfill --site reuters --from 2022-03-01 --to 2022-03-31
      newsarchive backfill --site almayadeen --from 2020-01-01 --to 2021-12-31 --chunk-days 90 --replay
      newsarchive backfill --site reuters --from 2019-01-01 --to 2019-12-31 --deployment scrape/scrape-reuters

    With --deployment, the chunks run in the deployment's archive unless --archive is
    given; rerunning the same backfill reruns only the chunks that did not complete
    (cancelled, failed, or crashed with their worker).
    """
    obj: Ctx = ctx.obj
    cfg = obj.config()
    if site not in cfg.sites:
        fail(f"no site named {site!r} in {cfg.source}; configured: {', '.join(sorted(cfg.sites))}")
    from crawl.backfill import split_range
    chunks = split_range(date_from.date(), date_to.date(), chunk_days, site=site)
    from flows.backfill import backfill as backfill_flow
    from flows.progress import set_reporter
    from flows.progress_bar import BackfillProgress

    if deployment is None:   # (with --deployment, the workers write the archive, maybe elsewhere)
        obj.archive.check_can_write()   # a read-only or damaged archive stops here, before any chunk
    srv = _start_replay(1, replay_articles) if replay and not replay_url else None
    if (replay or replay_url) and delay is None:
        delay = 0.0
    # With --deployment the archive is the deployment's, unless --archive / $NEWSARCHIVE_ARCHIVE was given.
    explicit = ctx.parent.get_parameter_source("archive") != click.core.ParameterSource.DEFAULT
    archive = obj.archive.location if explicit or not deployment else None
    show = sys.stderr.isatty() if progress is None else progress
    bar = BackfillProgress(len(chunks), enabled=show)
    set_reporter(bar.handle)
    try:
        with bar:
            result = asyncio.run(backfill_flow(
                site=site, date_from=date_from.date(), date_to=date_to.date(), chunk_days=chunk_days,
                archive=archive, config_path=obj.config_path,
                replay_url=srv.url if srv else replay_url, delay_s=delay, batch_size=batch_size,
                deployment=deployment, stale_after_s=stale_after))
    finally:
        set_reporter(None)
        if srv:
            srv.stop()
    t = result["stats"]
    click.echo(f"backfill of {site}: {len(result['chunks'])} chunk(s); fetched {t.get('fetched', 0)}, "
               f"not modified {t.get('not_modified', 0)}, already archived {t.get('skipped:known', 0)}, "
               f"new {t.get('new', 0)}, changed {t.get('changed', 0)}, failed {t.get('failed', 0)}")


@cli.command()
@click.option("--site", "sites_", multiple=True, metavar="NAME", help="Site to re-extract (repeatable; default: all).")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Only pages fetched on or after this day (YYYY-MM-DD, UTC).")
@click.pass_obj
def reextract(obj: Ctx, sites_, since) -> None:
    """Re-run the current extractors over the raw WARC archive (no network).

    New article versions are written only where the extracted record changed,
    with the extractor version that made them; one snapshot for the whole run.
    After fixing an extractor (say, for a site's new markup), this recovers the
    pages archived while it was broken.

    \b
    Examples:
      newsarchive reextract --site almayadeen --since 2026-11-01
      newsarchive reextract
    """
    cfg = obj.config()
    for name in sites_:
        if name not in cfg.sites:
            fail(f"no site named {name!r} in {cfg.source}; configured: {', '.join(sorted(cfg.sites))}")
    if not obj.archive.exists():
        fail(f"no archive at {obj.archive.location}; nothing to re-extract (run `newsarchive run` first)")
    obj.archive.check_can_write()   # a read-only or damaged archive stops here, before the flow
    from collections import Counter

    from flows.reextract import reextract_flow
    from flows.report import text_table
    from datetime import timezone as _tz
    result = asyncio.run(reextract_flow(sites=list(sites_) or None,
                                        since=since.replace(tzinfo=_tz.utc) if since else None,
                                        archive=obj.archive.location, config_path=obj.config_path))
    click.echo(f"re-extraction {result['run_id']} -> snapshot {result['snapshot']}")
    click.echo(text_table({k: Counter(v) for k, v in result["stats"].items()}))


@cli.command()
@click.argument("sql", required=False)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--write", is_flag=True, help="Open the archive read-write (default: read-only).")
@click.option("--at", type=int, default=None, metavar="ID",
              help="Query the archive as of snapshot ID (see `newsarchive snapshots`).")
@click.pass_obj
def sql(obj: Ctx, sql: str | None, fmt: str, write: bool, at: int | None) -> None:
    """Query the archive with DuckDB SQL; without SQL, an interactive shell.

    Views: articles (latest version of each article, duplicates excluded),
    article_versions, duplicates, breaking, stories, fetch_log, runs, run_stats.

    Read-only unless --write; with --write only the lake's tables change.
    Never allowed: reading or writing files (COPY, read_csv('/path'), EXPORT),
    ATTACH/DETACH/USE, INSTALL/LOAD, SET/PRAGMA, CALL/CHECKPOINT and DuckLake
    maintenance functions (use `newsarchive compact`). A refused statement is
    one line saying what is allowed, exit code 2.

    Several statements separated by ';' are all checked before any runs, then
    run in order, and every result is shown (--format table; csv and json take
    one query).

    \b
    Examples:
      newsarchive sql "SELECT site, count(*) FROM articles GROUP BY site"
      newsarchive sql --format csv "SELECT url, title, published_at FROM articles" > articles.csv
      newsarchive sql --at 3 "SELECT count(*) FROM articles"   # as of snapshot 3
      newsarchive sql "SELECT count(*) FROM articles; SELECT count(*) FROM runs"
      newsarchive sql            # interactive: statements end with ';'
    """
    if at is not None and (write or sql is None):
        fail("--at needs a SQL argument and cannot be combined with --write (snapshots are read-only)")
    if sql is None:
        status = shell(obj.archive, write=write, fmt=fmt)
        if status:
            click.get_current_context().exit(status)
        return
    _run_user_sql(obj.archive, sql, fmt, write=write, at=at)


def _run_user_sql(archive: Archive, sql: str, fmt: str, *, write: bool, at: int | None) -> None:
    con = connect_user(archive, write=write, at=at)
    try:
        results = run_sql(con, sql, write=write, one_result=fmt != "table")
    finally:
        con.close()
    print_results(results, fmt, sys.stdout)


@cli.command()
@click.option("--site", "sites_", multiple=True, metavar="NAME", help="Site to schedule (default: all).")
@click.option("--replay", is_flag=True,
              help=f"Crawl the replay web on 127.0.0.1:{REPLAY_PORT} (started here unless one already answers "
                   f"there) instead of the live sites.")
@click.option("--replay-url", default=None, metavar="URL", help="Crawl the replay web at URL (shared by workers).")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Most flow runs this process runs at once (default: one per served site).")
@click.pass_obj
def serve(obj: Ctx, sites_, replay: bool, replay_url: str | None, limit: int | None) -> None:
    """Serve one scrape deployment per site on its schedule, until Ctrl-C (Prefect serve).

    Without PREFECT_API_URL a local Prefect server is started (or reused) with its
    scheduler on and its history under PREFECT_HOME; its UI is at the printed
    address. Several `serve` processes (workers) can serve the same sites against
    one server and one archive: each scheduled run goes to one of them, per-host
    politeness holds across all of them, and stopping one never pauses the others.

    \b
    Examples:
      newsarchive serve --replay              # demo: local server + replay web
      newsarchive serve --site reuters --limit 2
    """
    cfg = obj.config()
    for name in sites_:
        if name not in cfg.sites:
            fail(f"no site named {name!r} in {cfg.source}; configured: {', '.join(sorted(cfg.sites))}")
    names = list(sites_) or sorted(cfg.sites)
    from prefect import serve as prefect_serve
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.deployments import build_deployments, deployment_name, registered
    from flows.local_server import ensure_local_server

    server = None
    if not os.environ.get("PREFECT_API_URL"):
        server = ensure_local_server()
        click.echo(f"Prefect server: {server.api_url} (UI: {server.api_url.removesuffix('/api')}; "
                   f"log: {server.log})", err=True)
    srv, url = _replay_url(replay, replay_url)
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url} if server else {}):
            taken = {n: pool for n, pool in asyncio.run(registered([deployment_name(n) for n in names])).items()
                     if pool is not None}
            if taken:
                name, pool = next(iter(taken.items()))
                fail(f"deployment scrape/{name} is registered for work pool {pool!r} (newsarchive deploy); "
                     f"run workers with `prefect worker start --pool {pool}` instead of serve, or delete it "
                     f"first (`prefect deployment delete scrape/{name}`)")
            deployments = build_deployments(cfg, archive=obj.archive.location, config_path=obj.config_path,
                                            sites=names, replay_url=url)
            for d in deployments:
                click.echo(f"deployment scrape/{d.name}: {_describe(d)}", err=True)
            # pause_on_shutdown=False: several processes serve the same deployments; one stopping
            # must not pause the schedules the others run.
            prefect_serve(*deployments, limit=limit or len(deployments), pause_on_shutdown=False)
    except KeyboardInterrupt:
        click.echo("serve stopped", err=True)
    finally:
        if srv:
            srv.stop()
        if server:
            server.stop()


def _describe(d) -> str:
    sched = d.schedules[0].schedule
    return f"cron {sched.cron!r} UTC" if getattr(sched, "cron", None) else f"every {sched.interval}"


def _replay_url(replay: bool, replay_url: str | None):
    """(server we started or None, URL) for --replay / --replay-url."""
    if replay_url:
        return None, replay_url.rstrip("/")
    if not replay:
        return None, None
    import httpx
    fixed = f"http://127.0.0.1:{REPLAY_PORT}"
    try:
        if httpx.get(f"{fixed}/__replay__/stats", timeout=2.0).status_code == 200:
            click.echo(f"replay web: reusing {fixed}", err=True)
            return None, fixed
    except httpx.HTTPError:
        pass
    srv = _start_replay(1, 150, port=REPLAY_PORT)
    return srv, srv.url


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True)
@click.option("--seed", default=1, show_default=True, help="Corpus seed.")
@click.option("--articles", default=150, show_default=True, help="Articles per site (10..100000).")
def replay(host: str, port: int, seed: int, articles: int) -> None:
    """Start the replay web alone (serves both sites by Host header) until Ctrl-C.

    \b
    Example:
      newsarchive replay --port 8765 &
      curl -H 'Host: english.almayadeen.net' http://127.0.0.1:8765/sitemaps/all.xml
    """
    if host not in ("127.0.0.1", "localhost", "::1"):
        fail(f"--host {host!r}: the replay web serves loopback only; use 127.0.0.1")
    srv = _start_replay(seed, articles, host=host, port=port)
    click.echo(f"replay web on {srv.url}; Ctrl-C stops it")
    try:
        while True:
            import time
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--url", required=True, help="The page's URL (chooses the site extractor).")
@click.option("--extractor", "name", default=None, help="Force an extractor, e.g. 'generic'.")
@click.pass_obj
def extract(obj: Ctx, file: str, url: str, name: str | None) -> None:
    """Extract one saved HTML page (.html or .html.gz) and print the record as JSON.

    \b
    Example:
      newsarchive extract page.html --url https://www.reuters.com/world/...
    """
    import extractors
    from crawl.fetch import decode_body, looks_like_text
    from extractors.limits import BadEncoding, PageTooLarge, decompress
    max_bytes = obj.config().fetch.max_bytes
    size = Path(file).stat().st_size
    if size > max_bytes:
        fail(f"{file}: {size} bytes exceeds fetch.max_bytes={max_bytes}; not extracted (raise "
             f"fetch.max_bytes in the config if the page is legitimately that large)")
    data = Path(file).read_bytes()
    if data[:2] == b"\x1f\x8b":
        # Capped like the fetcher's bodies: a gzip bomb stops at fetch.max_bytes, never in memory.
        try:
            data = decompress(data, max_bytes, "gzip")
        except PageTooLarge as e:
            fail(f"{file}: {e} (fetch.max_bytes); not extracted, as the fetcher would refuse it: raise "
                 f"fetch.max_bytes in the config if the page is legitimately that large")
        except BadEncoding as e:
            fail(f"{file}: not a valid .gz file ({e}); save or download the page again")
    if not data.strip():
        fail(f"{file}: empty page (no bytes but whitespace); nothing to extract: save the page again "
             f"(a crawl counts such a page as 'empty' and fetches it again next run)")
    # Decoded as the crawl decodes a page (charset from BOM, <meta>, UTF-8 validity, sniffing; the
    # BOM dropped), and refused where the crawl refuses one: bytes that are not text at all.
    text = decode_body(data, "text/html")[1]
    if not looks_like_text(text):
        fail(f"{file}: not an HTML page (binary or undecodable bytes); nothing to extract: save the page "
             f"again (a crawl counts such a page as 'not_html' and fetches it again next run)")
    art = extractors.extract(text, url, extractor=name)
    click.echo(json.dumps(art.to_dict(), ensure_ascii=False, indent=2))


from flows.cli_archive import COMMANDS as ARCHIVE_COMMANDS  # noqa: E402  (snapshots, export, compact, search)
from flows.cli_deploy import COMMANDS as DEPLOY_COMMANDS  # noqa: E402  (deploy)

for _command in ARCHIVE_COMMANDS + DEPLOY_COMMANDS:
    cli.add_command(_command)
from flows.cli_browse import COMMANDS as BROWSE_COMMANDS  # noqa: E402  (browse, report)
for _command in BROWSE_COMMANDS:
    cli.add_command(_command)


def main() -> None:
    # No telemetry from the local Prefect server: this machine is offline by design.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    cli(prog_name="newsarchive")


if __name__ == "__main__":
    main()
