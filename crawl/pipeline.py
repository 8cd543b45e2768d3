"""One site's crawl as plain async Python: discover, fetch a batch, extract, stage rows.

The Prefect flow (flows/scrape.py) wraps these calls in tasks, one per site
discovery and one per batch of pages; everything here runs and is tested
without Prefect.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from dedup import content_hash
from dedup.state import DedupState
from dedup.stories import StoryDoc
from dedup.ticker import normalize_ticker
from dedup.urls import SiteRules, canonicalize, rules_for
from extractors import GENERIC, Article, Extractor
from storage.staging import Staging
from storage.state import CrawlState

from .config import HealthSettings, SiteConfig
from .discovery import DiscoveredUrl, discover
from .extraction import HTML_TYPES  # noqa: F401  (moved there; still importable from here)
from .extraction import EXTRACT_BUDGET_S, apply_parsed, extract_page_off_loop, in_thread, parse_page, unusable_page
from .fetch import Fetcher, FetchResult
from .health import SiteHealth

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
    since: object = None          # datetime | None: discovery window (lookback / backfill)
    until: object = None
    paginate: bool = False        # backfill: also walk the site's archive_pages back in time
    # BREAKING items seen this run: key -> [text, first_seen, last_seen, times_seen, first_url]
    ticker: dict[str, list] = field(default_factory=dict)
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


def article_row(run: SiteRun, art: Article, r: FetchResult, chash: str) -> dict[str, Any]:
    d = art.to_dict()
    d.update({
        "site": run.site.name, "version": 0, "content_hash": chash, "fetched_url": r.final_url,
        "seen_at": r.fetched_at, "run_id": run.run_id,
        "warc_file": r.warc.filename if r.warc else None,
        "warc_offset": r.warc.offset if r.warc else None,
        "warc_length": r.warc.length if r.warc else None,
    })
    d["images"] = [{"url": i["url"], "caption": i["caption"]} for i in d["images"]]
    return d


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


def note_ticker(run: SiteRun, items: Iterable[str], r: FetchResult) -> None:
    """Keep the page's BREAKING items apart (counted per distinct normalised item)."""
    for text in items:
        key = normalize_ticker(text)
        if not key:
            continue
        seen = run.ticker.get(key)
        if seen is None:
            run.ticker[key] = [text, r.fetched_at, r.fetched_at, 1, r.final_url]
        else:
            seen[1] = min(seen[1], r.fetched_at)
            seen[2] = max(seen[2], r.fetched_at)
            seen[3] += 1


def strip_ticker_lines(run: SiteRun, art: Article) -> None:
    """No BREAKING item of the site ever stays in an article body."""
    if run.ticker and art.body:
        paragraphs = art.body.split("\n\n")
        kept = [p for p in paragraphs if normalize_ticker(p) not in run.ticker]
        if len(kept) != len(paragraphs):
            run.counters["ticker_lines_removed"] += len(paragraphs) - len(kept)
            art.body = "\n\n".join(kept)
            art.quality.append("ticker_lines_removed")


def strip_boilerplate(run: SiteRun, art: Article) -> None:
    """For pages read by the generic extractor, drop paragraphs learned as the site's boilerplate
    (blocks repeating across many recent pages of the site)."""
    if run.dedup is None or not art.body or run.extractor is not GENERIC:
        return
    paragraphs = art.body.split("\n\n")
    run.dedup.boilerplate.observe(run.site.name, paragraphs, page_id=art.url)
    kept = run.dedup.boilerplate.strip(run.site.name, paragraphs)
    if len(kept) != len(paragraphs):
        run.counters["boilerplate_removed"] += len(paragraphs) - len(kept)
        art.body = "\n\n".join(kept)
        art.quality.append("boilerplate_removed")


def link_duplicates_and_story(run: SiteRun, art: Article, row: dict[str, Any]) -> None:
    """A first-seen URL: is it a near-duplicate of an archived article (any site, any run)?
    If not, which cross-source story does it belong to?"""
    if run.dedup is None or not art.body:
        return
    original = run.dedup.neardup.check_and_add(art.url, art.body)
    if original is not None:
        row["duplicate_of"] = original
        run.counters["near_duplicates"] += 1
        return
    if art.published_at is not None and art.title:
        row["story_id"] = run.dedup.stories.assign(
            StoryDoc(art.url, run.site.name, art.title, art.body, art.published_at))


def finish_site(run: SiteRun) -> Counter:
    """Stage what is per run rather than per batch (ticker sightings) and the final counters."""
    rows = [{"run_id": run.run_id, "site": run.site.name, "key": key, "text": text, "first_seen": first,
             "last_seen": last, "times_seen": n, "first_url": url}
            for key, (text, first, last, n, url) in run.ticker.items()]
    run.staging.append("breaking_sightings", run.site.name, rows)
    run.counters["ticker_items"] = len(rows)
    run.counters["stored"] = run.counters["new"] + run.counters["changed"]
    run.counters.update(run.health.counters())
    return run.counters


def store_article(run: SiteRun, art: Article, r: FetchResult, chash: str, rows: list[dict[str, Any]]) -> None:
    """Stage the article as a new version unless the archive already has this content."""
    known = run.state.hashes.get(art.url)
    if known == chash:
        run.counters["unchanged"] += 1
        return
    run.counters["new" if known is None else "changed"] += 1
    run.state.hashes[art.url] = chash
    row = article_row(run, art, r, chash)
    if known is None:
        link_duplicates_and_story(run, art, row)
    rows.append(row)


async def crawl_batch(run: SiteRun, urls: Iterable[str], batch_no: int) -> Counter:
    """Fetch, extract and stage one batch of article URLs. Returns this batch's counters."""
    before = run.counters.copy()
    fetch_rows: list[dict[str, Any]] = []
    article_rows: list[dict[str, Any]] = []
    unresolved: list[tuple[Article, FetchResult, str]] = []
    async for r in run.fetcher.fetch_many(list(urls)):
        run.counters[r.outcome] += 1
        chash = None
        if r.outcome == "failed" or r.outcome == "skipped":
            run.counters[f"{r.outcome}:{r.error_kind}"] += 1
            if r.outcome == "failed":
                run.note_error(r.error_kind or "failed", r.error or f"{r.url} failed")
        elif r.outcome == "fetched":
            problem = unusable_page(run, r)     # not_html / empty: counted, never stored
            if problem is not None:
                run.counters[problem] += 1
            else:
                art = await extract_page_off_loop(run, r)
                if art is not None:
                    art.site = run.site.name
                    art.url = canonicalize(r.final_url, site_rules=run.url_rules, canonical_hint=art.url)
                    note_ticker(run, art.ticker, r)
                    strip_ticker_lines(run, art)
                    strip_boilerplate(run, art)
                    run.counters["extracted"] += 1
                    chash = content_hash(art)
                    if run.state.covers(art.url):
                        store_article(run, art, r, chash, article_rows)
                    else:
                        unresolved.append((art, r, chash))
        fetch_rows.append(fetch_row(run, "article", r, chash))
    if unresolved:
        # Pages whose canonical URL is not the discovered one: their state, in one lookup per batch.
        await load_known(run, [art.url for art, _, _ in unresolved])
        for art, r, chash in unresolved:
            store_article(run, art, r, chash, article_rows)
    part = f"{run.site.name}-{batch_no:05d}"
    # One atomic batch: a page's fetch-log row (its validators) never lands without its article row.
    run.staging.append_batch(part, {"fetch_log": fetch_rows, "article_versions": article_rows})
    return run.counters - before
