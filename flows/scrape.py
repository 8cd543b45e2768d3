"""The scheduled scrape flow: discover, fetch politely, archive raw, extract, store.

Orchestration only. What to crawl is planned in crawl/plan.py, the run's lifecycle (open,
recover, stage, WARC, commit one snapshot, indexes, search) is crawl/lifecycle.py, and the
crawl itself crawl/pipeline.py; Prefect adds one task per site discovery and one per batch of
pages (never one per page), the run log, the summary artifact and the final state.
"""
from __future__ import annotations

import asyncio
import contextvars
from collections import Counter
from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import acreate_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed, Failed
from prefect.utilities.annotations import quote

from crawl.health import markdown as health_markdown
from crawl.lifecycle import RunResult
from crawl.pipeline import SiteRun, crawl_batch, discover_urls, finish_site, load_known
from crawl.plan import Outcome, ScrapeOptions, ScrapePlan, plan_scrape
from storage.lake import Archive
from storage.runlock import RunLock

from .head_start import HEAD_START, OpenCrawl, open_crawl
from .progress import report
from .report import markdown_table
from .runlog import crawl_logs_to_run_log
from .secrets import ENV_SECRET_BLOCK, load_secret_env

BATCH_SIZE = 200
#: Where `newsarchive browse` serves by default: run reports link to the run's page there.
BROWSE_URL = "http://127.0.0.1:8766"


# Tasks get the SiteRun wrapped in prefect's ``quote``: otherwise Prefect walks every
# parameter recursively before each task run (dependency tracking), and a SiteRun holds the
# crawl state and the dedup indexes; when the state was the whole archive's, each batch's
# cost grew with the archive (the top frame of a py-spy profile of a 20,000-article backfill).
@task(name="discover", cache_policy=NO_CACHE, task_run_name="discover-{site}")
async def discover_task(site: str, run: SiteRun, max_urls: int | None, crawl: OpenCrawl) -> list[str]:
    early = await crawl.found(site)   # a `run`'s head start began discovery before the flow run
    if early is not None:
        return early
    found = await discover_urls(run, max_urls=max_urls)
    return [d.url for d in found]


@task(name="crawl-batch", cache_policy=NO_CACHE, task_run_name="crawl-{site}-{batch_no}")
async def crawl_batch_task(site: str, run: SiteRun, urls: list[str], batch_no: int) -> dict[str, int]:
    return dict(await crawl_batch(run, urls, batch_no))


async def crawl_site(crawl: OpenCrawl, run: SiteRun, batch_size: int, skip_known: bool = False) -> Counter:
    urls = await discover_task(run.site.name, quote(run), crawl.max_urls, quote(crawl))
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


async def crawl_sites(crawl: OpenCrawl, batch_size: int, skip_known: bool) -> tuple[list[SiteRun], list[Counter]]:
    """Every site of the plan at once, through the crawl's one polite fetcher (closed when done)."""
    try:
        results = await asyncio.gather(*(crawl_site(crawl, r, batch_size, skip_known) for r in crawl.site_runs))
    finally:
        await crawl.close_fetcher()
    return crawl.site_runs, list(results)


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
    """Crawl the given sites (default: all configured) once into the archive, as one snapshot.

    ``since``/``until`` restrict discovery to a publication window (backfill
    chunks); ``skip_known`` skips URLs the archive already holds;
    ``sitemaps_only`` ignores feeds and start pages (they list today's news,
    not the window's). ``replay_url`` (or $NEWSARCHIVE_REPLAY_URL on the worker)
    crawls a replay web instead of the live sites, with no politeness delay.
    """
    from prefect.runtime import flow_run
    fr_id = str(flow_run.id) if flow_run.id else None
    loaded = await load_secret_env()   # a shared archive's credentials, if the deployment names a block
    if loaded:
        get_run_logger().info("credentials from Prefect Secret block $%s: %s", ENV_SECRET_BLOCK, ", ".join(loaded))
    head = HEAD_START.get()   # set by `newsarchive run` for this call only (flows/head_start.py)
    HEAD_START.set(None)
    if head is not None:
        plan, arch = head.plan, head.run.archive
        head.run.flow_run_id = fr_id   # opened before the flow run existed: the run row links it
    else:
        plan = plan_scrape(ScrapeOptions(sites, config_path, replay_url, delay_s, since, until, sitemaps_only))
        arch = Archive(archive)
    # The run lock is held for the whole run: a backfill waiting on it tells a dead worker from a slow one.
    with RunLock(arch, fr_id), crawl_logs_to_run_log(early=head.early_logs if head else None):
        crawl = head or await open_crawl(plan, arch, flow_label=flow_label, flow_run_id=fr_id,
                                         max_urls=max_articles)
        async with crawl:
            runs, results = await crawl_sites(crawl, batch_size, skip_known)
            outcome = Outcome.of(plan, runs, results)
            committed = crawl.run.commit_snapshot(outcome.stats, outcome.status)
            # The search refresh (an fts build, 1-2 s per 6,000 new articles) runs while the dedup
            # indexes are saved and the reports are published; it has a lock of its own.
            # run_in_executor starts its thread now (a to_thread task would wait for the loop).
            search = asyncio.get_running_loop().run_in_executor(None, contextvars.copy_context().run,
                                                                crawl.run.update_search)
            try:
                crawl.run.save_indexes()   # under the run lock: the next run loads them at its start
            except BaseException:
                await asyncio.gather(search, return_exceptions=True)
                raise
    return await publish(plan, runs, outcome, committed, arch, search, crawl.run.timings)


async def publish(plan: ScrapePlan, runs: list[SiteRun], outcome: Outcome, done: RunResult, arch: Archive,
                  search: "asyncio.Future[str | None]", timings: dict[str, float]):
    """The run log, the summary artifact and the final Prefect state of a committed run
    (``search``: the search refresh under way, awaited last)."""
    logger = get_run_logger()
    # One line per site here; the whole counter table is the run's artifact (and what `run` prints).
    logger.info("run %s committed as snapshot %s: %s", done.run_id, done.snapshot, "; ".join(
        f"{site} " + ", ".join(f"{k} {c.get(k, 0)}" for k in ("fetched", "new", "changed", "unchanged", "failed"))
        for site, c in outcome.stats.items()))
    for r in runs:
        for kind, examples in r.example_failures.items():
            logger.warning("%s: %d error(s) of kind %s, e.g. %s", r.site.name, r.error_counts[kind], kind,
                           examples[0])
    threshold = plan.config.health.threshold
    for alarm in outcome.alarms:
        logger.error(alarm.message(threshold))
    drift_md = "\n\n" + health_markdown(outcome.alarms, plan.config.health) if outcome.alarms else ""
    await acreate_markdown_artifact(
        key="scrape-run-stats", description=f"Per-site counters of run {done.run_id}",
        markdown=f"# Scrape run `{done.run_id}` (snapshot {done.snapshot})\n\n"
                 f"{markdown_table(outcome.stats)}\n{drift_md}")
    await publish_report(arch, done.run_id)
    done.search = await search
    done.timings = dict(timings)
    if done.search is not None:
        logger.info("search index: %s", done.search)
    logger.info("phase timings (s): %s", ", ".join(f"{k} {v}" for k, v in done.timings.items()))
    report("timings", run_id=done.run_id, timings=done.timings)
    result = {"run_id": done.run_id, "snapshot": done.snapshot, "archive": arch.location,
              "stats": {k: dict(v) for k, v in outcome.stats.items()}, "errors": outcome.errors[:50],
              "error_count": len(outcome.errors), "timings": done.timings,
              "drift": [{"site": a.site, "extractor": a.extractor, "failing": a.failing,
                         "shares": a.shares, "examples": a.examples} for a in outcome.alarms]}
    if outcome.unreachable:
        message = outcome.unreachable_message(runs)
        logger.error(message)
        if outcome.all_unreachable:
            # The fetch log and WARC records of the failed attempts are committed; the run is not a success.
            return Failed(data=result, message=message)
    if outcome.alarms:
        # Completed (the data is stored) but visibly not healthy.
        return Completed(data=result, name="Drift", message="; ".join(a.message(threshold) for a in outcome.alarms))
    return result


async def publish_report(arch: Archive, run_id: str) -> None:
    """The run's report artifact: fetch outcomes and articles per day, with its page in `browse`."""
    from web import run_report_markdown
    try:
        markdown = await asyncio.to_thread(run_report_markdown, arch, run_id, browse_url=BROWSE_URL)
    except Exception as e:   # a report is presentation: it never fails a committed run
        get_run_logger().warning("run report not published: %s", e)
        return
    await acreate_markdown_artifact(key="scrape-run-report", markdown=markdown,
                                    description=f"Fetch outcomes and articles per day of run {run_id}")

