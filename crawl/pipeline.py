"""One site's crawl as plain async Python: discover, fetch a batch, extract, stage rows.

Each extracted page goes through the article steps of crawl/steps.py (the same ones
re-extraction runs); a batch is staged atomically.

The Prefect flow (flows/scrape.py) wraps these calls in tasks, one per site
discovery and one per batch of pages; everything here runs and is tested
without Prefect.
"""
from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable

from dedup.state import DedupState
from dedup.urls import SiteRules, canonicalize, rules_for
from extractors import Article, Extractor
from storage.staging import Staging
from storage.state import CrawlState

from .config import HealthSettings, SiteConfig
from .discovery import DiscoveredUrl, discover
from .extraction import EXTRACT_BUDGET_S, apply_parsed, extract_page_off_loop, in_thread, parse_page, unusable_page
from .fetch import Fetcher, FetchResult
from .health import SiteHealth
from .parsejob import JobSpec, extract_in_pool, job_spec, parse_job
from .parsepool import ParsePool, PoolJob, shared_pool
from .steps import PREPARE_STEPS, STORE_STEPS, Page, TickerSighting, note_ticker, run_steps

log = logging.getLogger("newsarchive.crawl")


@dataclass
class SiteRun:
    """Everything one site's crawl in one run needs; counters are the run stats."""
    site: SiteConfig
    run_id: str
    fetcher: Fetcher
    extractor: Extractor
    staging: Staging
    state: CrawlState
    counters: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    example_failures: dict[str, list[str]] = field(default_factory=dict)
    error_counts: Counter = field(default_factory=Counter)
    health_settings: HealthSettings = field(default_factory=HealthSettings)
    health: SiteHealth | None = None
    since: datetime | None = None     # discovery window (lookback / backfill)
    until: datetime | None = None
    paginate: bool = False        # backfill: also walk the site's archive_pages back in time
    # BREAKING items seen this run, by normalised text
    ticker: dict[str, TickerSighting] = field(default_factory=dict)
    dedup: DedupState | None = None   # near-duplicate, story and boilerplate indexes (shared by sites)
    url_rules: SiteRules | None = None
    # urls -> their CrawlState from the archive; None: ``state`` already covers every URL.
    state_loader: Callable[[list[str]], CrawlState] | None = None
    extract_budget_s: float = EXTRACT_BUDGET_S   # per page, see crawl/extraction.py

    def __post_init__(self) -> None:
        if self.health is None:
            self.health = SiteHealth(self.site.name, self.extractor.name)
        if self.url_rules is None:
            self.url_rules = dataclasses.replace(rules_for(self.site.name), force_https=self.site.force_https)

    def note_error(self, kind: str, message: str) -> None:
        self.errors.append(message)
        self.error_counts[kind] += 1
        examples = self.example_failures.setdefault(kind, [])
        if len(examples) < 3:
            examples.append(message)


async def load_known(run: SiteRun, urls: list[str]) -> None:
    """Load what the archive knows of these URLs (validators, content hashes) into the run's state,
    in a worker thread (the other sites of the run go on fetching meanwhile)."""
    missing = [u for u in urls if not run.state.covers(u)]
    if run.state_loader is None or not missing:
        return
    part = await asyncio.to_thread(run.state_loader, missing)
    run.state.merge(part)
    if run.fetcher is not None:
        run.fetcher.validators.update(part.validators)


def fetch_row(run: SiteRun, kind: str, r: FetchResult, chash: str | None = None) -> dict[str, Any]:
    return {
        "run_id": run.run_id, "site": run.site.name, "kind": kind, "url": r.url,
        "final_url": r.final_url, "outcome": r.outcome, "status": r.status,
        "error_kind": r.error_kind, "error": r.error, "etag": r.etag,
        "last_modified": r.last_modified, "content_hash": chash, "fetched_at": r.fetched_at,
        "elapsed_ms": r.elapsed_ms, "bytes": len(r.content or b""), "attempts": r.attempts,
        "warc_file": r.warc.filename if r.warc else None,
        "warc_offset": r.warc.offset if r.warc else None,
        "warc_length": r.warc.length if r.warc else None,
    }



async def discover_urls(run: SiteRun, *, max_urls: int | None = None) -> list[DiscoveredUrl]:
    result = await discover(run.site, run.fetcher, run.extractor, since=run.since, until=run.until,
                            max_urls=max_urls or run.site.max_articles, paginate=run.paginate)
    rows = []
    for page in result.pages:
        kind = _discovery_kind(run.site, page.url)
        rows.append(fetch_row(run, kind, page))
        run.counters[f"discovery_{page.outcome}"] += 1
        if kind == "page" and page.outcome == "fetched" and page.text:
            # Home and section pages carry the BREAKING ticker too, fetched fresh every run.
            try:   # off the event loop and within the page budget, like article pages
                listing = await asyncio.wait_for(in_thread(run.extractor.parse, page.text, page.final_url),
                                                 run.extract_budget_s)
                note_ticker(run, listing.ticker, page)
            except Exception:  # a listing page the extractor cannot read (or in time) costs only its ticker
                run.counters["ticker_page_unreadable"] += 1
    run.staging.append("fetch_log", f"{run.site.name}-discovery", rows)
    for message in result.errors:
        run.note_error("discovery", message)
    run.counters["discovery_errors"] += len(result.errors)
    # Tracking parameters, AMP and mobile variants of one article are fetched once.
    unique: dict[str, DiscoveredUrl] = {}
    for d in result.urls:
        canonical = canonicalize(d.url, site_rules=run.url_rules)
        if canonical not in unique:
            unique[canonical] = DiscoveredUrl(canonical, d.source, d.lastmod, d.title)
    run.counters["url_variants_merged"] += len(result.urls) - len(unique)
    run.counters["discovered"] += len(unique)
    return list(unique.values())


def _discovery_kind(site: SiteConfig, url: str) -> str:
    if url in site.sitemaps or "sitemap" in url:
        return "sitemap"
    if url in site.feeds:
        return "feed"
    return "page"


def extract_page(run: SiteRun, r: FetchResult) -> Article | None:
    """Site extractor first; the generic fallback when it fails or finds no body. In this thread
    (re-extraction from WARC files); the crawl uses ``extract_page_off_loop``."""
    return apply_parsed(run, r, parse_page(run.extractor, r.text or "", r.final_url))






def finish_site(run: SiteRun) -> Counter:
    """Stage what is per run rather than per batch (ticker sightings) and the final counters."""
    rows = [{"run_id": run.run_id, "site": run.site.name, "key": key, "text": t.text, "first_seen": t.first_seen,
             "last_seen": t.last_seen, "times_seen": t.times_seen, "first_url": t.first_url}
            for key, t in run.ticker.items()]
    run.staging.append("breaking_sightings", run.site.name, rows)
    run.counters["ticker_items"] = len(rows)
    run.counters["stored"] = run.counters["new"] + run.counters["changed"]
    run.counters.update(run.health.counters())
    return run.counters



# Pages parsed ahead in the pool while the batch goes on fetching; their results are taken in
# fetch order (so every step runs in the same order as without the pool).
PARSE_AHEAD = 64


@dataclass
class _Fetched:
    """A fetched page waiting for its extraction: in a pool worker (``job``) or, when its turn
    comes, in a thread of this process (``here``)."""
    r: FetchResult
    job: PoolJob | None = None
    here: bool = False

    def ready(self) -> bool:
        return self.job is None or self.job.future.done()


async def crawl_batch(run: SiteRun, urls: Iterable[str], batch_no: int) -> Counter:
    """Fetch, extract and stage one batch of article URLs. Returns this batch's counters."""
    before = run.counters.copy()
    fetch_rows: list[dict[str, Any]] = []
    pages: list[Page] = []
    spec = job_spec(run)
    pool = shared_pool() if spec is not None else None
    ahead: collections.deque[_Fetched] = collections.deque()

    async def settle(item: _Fetched) -> None:
        page = await _extracted(run, item)
        if page is not None:
            run_steps(run, page, PREPARE_STEPS)
            pages.append(page)
        fetch_rows.append(fetch_row(run, "article", item.r, page.content_hash if page else None))

    try:
        async for r in run.fetcher.fetch_many(list(urls)):
            ahead.append(_start_extract(run, r, spec, pool))
            while ahead and (len(ahead) > PARSE_AHEAD or ahead[0].ready()):
                await settle(ahead[0])
                ahead.popleft()       # only once settled: a cancelled wait leaves it to abandon below
        while ahead:
            await settle(ahead[0])
            ahead.popleft()
    finally:
        if ahead and pool is not None:    # cancelled (or failed) mid-batch: nobody takes these results
            pool.abandon([item.job for item in ahead if item.job is not None])
    # Pages whose canonical URL is not the discovered one: their state, in one lookup per batch.
    await load_known(run, [p.article.url for p in pages if not run.state.covers(p.article.url)])
    article_rows = [p.row for p in pages if run_steps(run, p, STORE_STEPS).row is not None]
    part = f"{run.site.name}-{batch_no:05d}"
    # One atomic batch: a page's fetch-log row (its validators) never lands without its article row.
    run.staging.append_batch(part, {"fetch_log": fetch_rows, "article_versions": article_rows})
    return run.counters - before


def _start_extract(run: SiteRun, r: FetchResult, spec: JobSpec | None, pool: ParsePool | None) -> _Fetched:
    """Count the fetch's outcome; a usable page goes to a parse worker (or is marked to be parsed
    here, when there is no pool or the run's extractor cannot go to one)."""
    run.counters[r.outcome] += 1
    if r.outcome in ("failed", "skipped"):
        run.counters[f"{r.outcome}:{r.error_kind}"] += 1
        if r.outcome == "failed":
            run.note_error(r.error_kind or "failed", r.error or f"{r.url} failed")
        return _Fetched(r)
    if r.outcome != "fetched":
        return _Fetched(r)
    # not_html / empty: counted, never stored. Whether the body is text at all, a worker finds out
    # as it decodes the page (the crawl process then never decodes it).
    if unusable_page(run, r, check_text=pool is None) is not None:
        return _Fetched(r)
    job = (pool.submit_soon(parse_job, spec, r.content, r.headers.get("content-type"), r.final_url)
           if pool is not None else None)
    if job is not None:
        job.spec_code = spec.code
    return _Fetched(r, job, here=job is None)


async def _extracted(run: SiteRun, item: _Fetched) -> Page | None:
    """The page's extracted article (with its parse-time facts), or None."""
    if item.job is not None:
        art, facts = await extract_in_pool(run, item.r, item.job)
    elif item.here:
        art, facts = await extract_page_off_loop(run, item.r), None
    else:
        return None
    if art is None:
        return None
    return Page(item.r, art, facts=facts, pristine_body=art.body)
