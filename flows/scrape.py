"""The scheduled scrape flow: discover, fetch politely, archive raw, extract, store.

Orchestration only. The work is plain Python in crawl/, extractors/, dedup/ and
storage/; Prefect adds one task per site discovery and one per batch of pages
(never one per page), the run log and the summary artifact. The whole run is
committed to the archive in one transaction: one DuckLake snapshot per run.
"""
from __future__ import annotations

import asyncio
import dataclasses
import os
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import duckdb
from prefect import flow, get_run_logger, task
from prefect.artifacts import acreate_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed, Failed
from prefect.utilities.annotations import quote

import extractors
from crawl.config import Config, ConfigError, load_config
from crawl.fetch import Fetcher
from crawl.hostgate import HostGate
from crawl.health import check as check_health
from crawl.health import markdown as health_markdown
from crawl.pipeline import SiteRun, crawl_batch, discover_urls, finish_site, load_known
from crawl.warc import WarcWriter
from dedup.state import DedupState
from storage.commit import commit_staging, recover
from storage.lake import Archive
from storage.runlock import RunLock
from storage.search import SearchError, refresh_index
from storage.staging import Staging
from storage.state import CrawlState, archive_state_loader

from .progress import report
from .runlog import crawl_logs_to_run_log
from .report import markdown_table, text_table

VERSION = "0.1.0"
BATCH_SIZE = 200
#: A replay web shared by several workers (`--replay-url`, or this variable on each worker).
ENV_REPLAY_URL = "NEWSARCHIVE_REPLAY_URL"


# Tasks get the SiteRun wrapped in prefect's ``quote``: otherwise Prefect walks every
# parameter recursively before each task run (dependency tracking), and a SiteRun holds the
# crawl state and the dedup indexes; when the state was the whole archive's, each batch's
# cost grew with the archive (the top frame of a py-spy profile of a 20,000-article backfill).
@task(name="discover", cache_policy=NO_CACHE, task_run_name="discover-{site}")
async def discover_task(site: str, run: SiteRun, max_urls: int | None) -> list[str]:
    found = await discover_urls(run, max_urls=max_urls)
    return [d.url for d in found]


@task(name="crawl-batch", cache_policy=NO_CACHE, task_run_name="crawl-{site}-{batch_no}")
async def crawl_batch_task(site: str, run: SiteRun, urls: list[str], batch_no: int) -> dict[str, int]:
    return dict(await crawl_batch(run, urls, batch_no))


async def crawl_site(run: SiteRun, max_urls: int | None, batch_size: int, skip_known: bool = False) -> Counter:
    urls = await discover_task(run.site.name, quote(run), max_urls)
    await load_known(run, urls)
    if skip_known:
        # Backfill: URLs already archived (by any run, scheduled or backfill) are not refetched.
        known = run.state.fetched_hashes.keys() | run.state.hashes.keys()
        fresh = [u for u in urls if u not in known]
        run.counters["skipped:known"] += len(urls) - len(fresh)
        urls = fresh
    report("discovered", site=run.site.name, urls=len(urls))
    for n, start in enumerate(range(0, len(urls), batch_size)):
        done = await crawl_batch_task(run.site.name, quote(run), quote(urls[start:start + batch_size]), n)
        report("batch", site=run.site.name, pages=len(urls[start:start + batch_size]), counters=done)
    return finish_site(run)


def unreachable_sites(stats: dict[str, Counter]) -> list[str]:
    """Sites from which not one response came back (robots, listings, sitemaps and articles)."""
    reached = ("fetched", "not_modified", "discovery_fetched", "discovery_not_modified")
    return [site for site, c in stats.items() if not any(c.get(k) for k in reached)]


def replay_host_map(config: Config, replay_url: str | None) -> dict[str, str]:
    """Every configured domain mapped to the replay web, so archived URLs stay the real ones."""
    if not replay_url:
        return {}
    return {d: replay_url for s in config.sites.values() for d in s.domains}


def new_run_id() -> str:
    from prefect.runtime import flow_run
    rid = flow_run.id or uuid.uuid4().hex
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{str(rid)[:8]}"


@flow(name="scrape", log_prints=False)
async def scrape(
    sites: list[str] | None = None,
    archive: str | None = None,
    config_path: str | None = None,
    replay_url: str | None = None,
    delay_s: float | None = None,
    max_articles: int | None = None,
    batch_size: int = BATCH_SIZE,
    since: datetime | None = None,
    until: datetime | None = None,
    skip_known: bool = False,
    sitemaps_only: bool = False,
    flow_label: str = "scrape",
) -> dict[str, Any]:
    """Crawl the given sites (default: all configured) once into the archive.

    ``since``/``until`` restrict discovery to a publication window (backfill
    chunks); ``skip_known`` skips URLs the archive already holds;
    ``sitemaps_only`` ignores feeds and start pages (they list today's news,
    not the window's). ``replay_url`` (or $NEWSARCHIVE_REPLAY_URL on the worker)
    crawls a replay web instead of the live sites, with no politeness delay.
    """
    from prefect.runtime import flow_run
    arch = Archive(archive)
    # Held for the whole run: a backfill waiting on this run tells a dead worker from a slow one.
    with RunLock(arch.root, str(flow_run.id) if flow_run.id else None), crawl_logs_to_run_log():
        return await _scrape(arch, sites, config_path, replay_url, delay_s, max_articles, batch_size,
                             since, until, skip_known, sitemaps_only, flow_label)


async def _scrape(arch: Archive, sites, config_path, replay_url, delay_s, max_articles, batch_size,
                  since, until, skip_known, sitemaps_only, flow_label):
    logger = get_run_logger()
    config = load_config(config_path)
    replay_url = replay_url or os.environ.get(ENV_REPLAY_URL) or None
    if replay_url and delay_s is None:
        delay_s = 0.0
    if delay_s is not None:
        config = config.with_politeness(delay_s=delay_s)
    names = sites or sorted(config.sites)
    selected = [config.site(n) for n in names]
    if sitemaps_only:
        for s in selected:
            if not (s.sitemaps or s.archive_pages):
                raise ConfigError(f"{config.source}: [sites.{s.name}] has no sitemaps and no archive_pages; a "
                                  f"backfill discovers old articles through date-bucketed sitemaps and paginated "
                                  f"archive listings: add the site's sitemap index or archive_pages")
        selected = [dataclasses.replace(s, start_pages=(), feeds=()) for s in selected]

    # Wall time of each phase, logged at the end: per-run cost must stay flat as the archive grows.
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[phase] = round(now - clock, 3)
        clock = now

    arch.init()
    run_id = new_run_id()
    started = datetime.now(timezone.utc)
    con = arch.connect()
    try:
        recovered = recover(arch, con)
        if recovered:
            logger.warning("committed %d staged run(s) left by a crashed process: %s",
                           len(recovered), ", ".join(recovered))
    finally:
        con.close()
    lap("open")
    # The state of the URLs to fetch is loaded after discovery (crawl_site), not the whole archive's.
    state, state_loader = CrawlState(loaded=set()), archive_state_loader(arch, names)

    window_since = since
    if window_since is None and selected and all(s.lookback_days for s in selected):
        window_since = started - timedelta(days=max(s.lookback_days for s in selected))
    # A windowed run (backfill chunk, lookback) loads only the story months around its window.
    dedup = DedupState.load(arch.root / "index", since=window_since, until=until)
    lap("load_dedup")
    staging = Staging(arch.staging_dir, run_id).hold()
    staging.write_meta({"run_id": run_id, "flow_run_id": None, "flow_name": flow_label,
                        "sites": names, "started_at": started, "newsarchive_version": VERSION})
    warc = WarcWriter(arch.warc_dir, prefix=f"newsarchive-{run_id}")
    try:
        async with Fetcher(config, host_map=replay_host_map(config, replay_url), warc=warc,
                           validators=state.validators,
                           host_gate=HostGate(arch.root / "locks" / "hosts")) as fetcher:
            runs = [SiteRun(site=s, run_id=run_id, fetcher=fetcher,
                            extractor=extractors.registry.get(s.extractor),
                            staging=staging, state=state, health_settings=config.health, dedup=dedup,
                            since=since or (started - timedelta(days=s.lookback_days) if s.lookback_days else None),
                            until=until, paginate=sitemaps_only, state_loader=state_loader)
                    for s in selected]
            results = await asyncio.gather(*(crawl_site(r, max_articles, batch_size, skip_known) for r in runs))
    except BaseException:
        # Staged batches stay on disk; releasing the lock lets the next run commit them.
        staging.release()
        raise
    finally:
        warc.close()
    lap("crawl")

    stats = {r.site.name: c for r, c in zip(runs, results)}
    errors = [e for r in runs for e in r.errors]
    alarms = [a for a in (check_health(r.health, config.health) for r in runs) if a]
    unreachable = unreachable_sites(stats)
    all_unreachable = bool(unreachable) and len(unreachable) == len(stats)
    from prefect.runtime import flow_run
    run_row = {"run_id": run_id, "flow_run_id": str(flow_run.id) if flow_run.id else None,
               "flow_name": flow_label, "sites": names, "started_at": started,
               "finished_at": datetime.now(timezone.utc),
               "status": ("unreachable" if all_unreachable else "drift" if alarms
                          else "completed_with_errors" if errors else "completed"),
               "newsarchive_version": VERSION}
    con = arch.connect()
    try:
        snapshot = commit_staging(con, staging, run_row, stats)
    finally:
        staging.release()   # committed (directory gone) or not: then the next run recovers it
        con.close()
    lap("commit")
    dedup.save()   # after the commit: the indexes never get ahead of the lake
    lap("save_dedup")
    try:
        logger.info("search index: %s", refresh_index(arch))
    except (SearchError, OSError, duckdb.Error) as e:   # the archive is committed; the derived index catches up next time
        logger.warning("search index not refreshed: %s; run `newsarchive search --refresh`", e)
    lap("search_refresh")
    logger.info("phase timings (s): %s", ", ".join(f"{k} {v}" for k, v in timings.items()))
    report("timings", run_id=run_id, timings=timings)

    table = text_table(stats)
    logger.info("run %s committed as snapshot %s\n%s", run_id, snapshot, table)
    for r in runs:
        for kind, examples in r.example_failures.items():
            logger.warning("%s: %d error(s) of kind %s, e.g. %s", r.site.name,
                           r.error_counts[kind], kind, examples[0])
    drift_md = ""
    for alarm in alarms:
        logger.error(alarm.message(config.health.threshold))
    if alarms:
        drift_md = "\n\n" + health_markdown(alarms, config.health)
    await acreate_markdown_artifact(
        key="scrape-run-stats",
        markdown=f"# Scrape run `{run_id}` (snapshot {snapshot})\n\n{markdown_table(stats)}\n{drift_md}",
        description=f"Per-site counters of run {run_id}",
    )
    result = {"run_id": run_id, "snapshot": snapshot, "archive": str(arch.root),
              "stats": {k: dict(v) for k, v in stats.items()}, "errors": errors[:50],
              "error_count": len(errors), "timings": timings,
              "drift": [{"site": a.site, "extractor": a.extractor, "failing": a.failing,
                         "shares": a.shares, "examples": a.examples} for a in alarms]}
    if unreachable:
        reasons = "; ".join(f"{r.site.name}: {r.errors[0] if r.errors else 'no response'}"
                            for r in runs if r.site.name in unreachable)
        message = (f"nothing could be fetched from {', '.join(unreachable)} ({reasons}); check the network, "
                   f"the site's domains in the config, or --replay-url / ${ENV_REPLAY_URL}")
        logger.error(message)
        if all_unreachable:
            # The fetch log and WARC records of the failed attempts are committed; the run is not a success.
            return Failed(data=result, message=message)
    if alarms:
        # Flag the run in its Prefect state: completed (the data is stored) but visibly not healthy.
        return Completed(data=result, name="Drift",
                         message="; ".join(a.message(config.health.threshold) for a in alarms))
    return result
