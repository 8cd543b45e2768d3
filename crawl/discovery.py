"""URL discovery for one site: sitemaps (indexes, urlsets, Google News), feeds, start pages,
and for backfills (``paginate=True``) archive/section listings paged back in time.

Public API::

    from crawl.discovery import discover, DiscoveredUrl, DiscoveryResult
    result = await discover(site, fetcher, extractor, since=last_run, max_urls=500)
    result.urls      # [DiscoveredUrl(url, source, lastmod, title)], newest first, unknown dates last
    result.pages     # every FetchResult made (sitemaps, feeds, start pages, archive pages), in a stable order
    result.errors    # "SITE: KIND URL failed: reason" for each unreadable sitemap/feed/page
    result.counts    # Counter: urls per source, sitemaps_read, sitemaps_skipped, ...

``fetcher`` is anything with ``async fetch(url, conditional=False)`` returning an
object with ``outcome`` ("fetched" | "not_modified" | "failed" | "skipped"),
``status``, ``content``, ``text``, ``final_url``, ``error`` and ``error_kind``
(``crawl.fetch.Fetcher``). It enforces politeness, so discovery fetches each
level of the sitemap tree, the feeds and the start pages concurrently.

Rules:
- child sitemaps whose index ``<lastmod>`` is older than ``since`` are not fetched
  (``counts["sitemaps_skipped"]``) -- this keeps scheduled runs cheap;
- index nesting is limited to ``max_sitemap_depth`` levels and a run reads at
  most ``max_sitemaps`` sitemaps (newest index lastmod first when capped);
- sitemap/feed entries are kept when one of their dates (lastmod, news
  publication date, feed published date) is in ``[since, until]`` or when they
  carry no date; start-page links carry no date and are always kept;
- only http(s) URLs the site owns are kept; URLs are normalized (fragment
  dropped, host lowercased) and deduplicated: the first source wins (sitemaps,
  then feeds, then start pages, then archive pages), the newest lastmod and the first title are kept;
- ``paginate=True`` (backfills) also walks ``site.archive_pages`` (crawl/pagination.py: source
  "archive-page", dated by the listing item; only in-window or undated items);
- the result is sorted newest first and cut to ``max_urls`` (default ``site.max_articles``).
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable
from urllib.parse import urlsplit

from .config import SiteConfig
from .feeds import parse_feed
from .links import article_links, normalize_url
from .pagination import archive_links
from .sitemaps import DiscoveryError, Sitemap, SitemapEntry, parse_sitemap

# A year and month in a sitemap URL: sitemap-2024-3.xml, /sitemap/2024-03/, 2024/03.
_MONTH_IN_URL = re.compile(r"(?<!\d)((?:19|20)\d{2})[-/_](\d{1,2})(?!\d)")

if TYPE_CHECKING:  # pragma: no cover
    from extractors.base import Extractor

    from .fetch import FetchResult

log = logging.getLogger(__name__)

UTC = timezone.utc
MAX_SITEMAP_DEPTH = 3          # configured sitemap = level 0; index -> index -> urlset fits
MAX_SITEMAPS_PER_RUN = 200

SOURCES = ("news-sitemap", "sitemap", "feed", "page", "archive-page")

__all__ = ["discover", "DiscoveredUrl", "DiscoveryResult", "DiscoveryError",
           "MAX_SITEMAP_DEPTH", "MAX_SITEMAPS_PER_RUN"]


@dataclass
class DiscoveredUrl:
    url: str
    source: str                          # "sitemap" | "news-sitemap" | "feed" | "page" | "archive-page"
    lastmod: datetime | None = None      # aware UTC
    title: str | None = None


@dataclass
class DiscoveryResult:
    site: str
    urls: list[DiscoveredUrl] = field(default_factory=list)
    pages: list[Any] = field(default_factory=list)      # list[FetchResult]
    errors: list[str] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)


def _aware(dt: datetime | None, name: str) -> datetime | None:
    if dt is None:
        return None
    if not isinstance(dt, datetime):
        raise TypeError(f"discover(): {name} must be a datetime, not {type(dt).__name__}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        dt = dt.replace(tzinfo=UTC)      # naive means UTC, like every date in the archive
    return dt.astimezone(UTC)


class _Run:
    def __init__(self, site: SiteConfig, fetcher, extractor, since, until,
                 max_depth: int, max_sitemaps: int):
        self.site = site
        self.fetcher = fetcher
        self.extractor = extractor
        self.since = since
        self.until = until
        self.max_depth = max_depth
        self.max_sitemaps = max_sitemaps
        self.counts: Counter = Counter()
        self.errors: list[str] = []

    # ------------------------------------------------------------------ fetching

    async def _fetch(self, url: str, kind: str):
        try:
            return await self.fetcher.fetch(url, conditional=False)
        except Exception as e:  # the fetcher should not raise; one bad URL must not sink the run
            self.errors.append(f"{self.site.name}: {kind} {url} could not be fetched: "
                               f"{type(e).__name__}: {e}")
            self.counts[f"{kind}s_failed"] += 1
            return None

    def _body(self, res, url: str, kind: str) -> bytes | None:
        """The body of a usable response, else ``None`` (recording why)."""
        if res is None:
            return None
        outcome = getattr(res, "outcome", None)
        status = getattr(res, "status", None)
        content = getattr(res, "content", None) or b""
        if _answered(res):
            if not content:
                self.errors.append(f"{self.site.name}: {kind} {url} returned an empty body "
                                   f"(HTTP {status})")
                self.counts[f"{kind}s_failed"] += 1
                return None
            return content
        if outcome == "not_modified":
            self.counts[f"{kind}s_not_modified"] += 1
            return None
        reason = ", ".join(str(x) for x in (
            getattr(res, "error_kind", None), getattr(res, "error", None),
            f"HTTP {status}" if status else None) if x) or "no reason given"
        self.errors.append(f"{self.site.name}: {kind} {url} {outcome or 'failed'}: {reason}")
        self.counts[f"{kind}s_{'skipped_by_fetcher' if outcome == 'skipped' else 'failed'}"] += 1
        return None

    def _in_window(self, dates: Iterable[datetime | None]) -> bool:
        known = [d for d in dates if d is not None]
        if not known:
            return True
        return any((self.since is None or d >= self.since) and (self.until is None or d <= self.until)
                   for d in known)

    # ------------------------------------------------------------------ sources

    async def sitemaps(self) -> tuple[list[DiscoveredUrl], list[Any]]:
        pages: list[Any] = []
        found: list[DiscoveredUrl] = []
        seen: set[str] = set()
        frontier: list[tuple[str, int]] = []
        for url in self.site.sitemaps:
            key = normalize_url(url) or url
            if key not in seen:
                seen.add(key)
                frontier.append((url, 0))
        read = 0
        while frontier:
            room = self.max_sitemaps - read
            batch, rest = frontier[:max(room, 0)], frontier[max(room, 0):]
            if rest:
                self.counts["sitemaps_capped"] += len(rest)
                log.warning("%s: sitemap cap of %d per run reached; %d sitemaps not read this run",
                            self.site.name, self.max_sitemaps, len(rest))
            if not batch:
                break
            read += len(batch)
            results = await asyncio.gather(*(self._fetch_sitemap(u) for u, _ in batch))
            children: list[tuple[str, int, datetime | None]] = []
            for (url, depth), (res, early) in zip(batch, results):
                if res is not None:
                    pages.append(res)
                body = self._body(res, url, "sitemap")
                if body is None:
                    continue
                final_url = getattr(res, "final_url", None) or url
                seen.add(normalize_url(str(final_url)) or str(final_url))
                try:
                    if isinstance(early, Exception):
                        raise early
                    sm = early if early is not None else parse_sitemap(body, str(final_url))
                except DiscoveryError as e:
                    self.errors.append(f"{self.site.name}: {e}")
                    self.counts["sitemaps_failed"] += 1
                    continue
                self.counts["sitemaps_read"] += 1
                if sm.kind == "index":
                    self.counts["sitemap_indexes_read"] += 1
                    if depth >= self.max_depth:
                        self.counts["sitemaps_too_deep"] += len(sm.sitemaps)
                        log.warning("%s: sitemap index %s is nested %d levels deep; its %d child "
                                    "sitemaps are not read", self.site.name, url, depth, len(sm.sitemaps))
                        continue
                    for ref in sm.sitemaps:
                        if self.since is not None and ref.lastmod is not None and ref.lastmod < self.since:
                            self.counts["sitemaps_skipped"] += 1
                            continue
                        if self._month_outside_window(ref.url):
                            self.counts["sitemaps_skipped"] += 1
                            continue
                        if not self.site.owns(ref.url):
                            self.counts["sitemaps_offsite"] += 1
                            continue
                        key = normalize_url(ref.url) or ref.url
                        if key in seen:
                            continue
                        seen.add(key)
                        children.append((ref.url, depth + 1, ref.lastmod))
                else:
                    found.extend(self._from_entries(sm.entries))
            # When capped, the newest child sitemaps (by index lastmod) are read first;
            # unknown lastmod counts as new. sort() is stable: document order otherwise.
            children.sort(key=lambda c: (c[2] is not None, -(c[2].timestamp()) if c[2] else 0.0))
            frontier = [(u, d) for u, d, _ in children]
        return found, pages

    async def _fetch_sitemap(self, url: str) -> tuple[Any, Sitemap | DiscoveryError | None]:
        """A sitemap fetched and, when usable, parsed at once: each one as it arrives, while the
        level's other fetches are in flight (parsing a whole level after its last fetch kept the
        event loop, and every other site's fetches, waiting ~0.3 s per 3,000 URLs). The result is
        recorded in document order by the caller, which parses it itself when this did not."""
        res = await self._fetch(url, "sitemap")
        if not (_answered(res) and getattr(res, "content", None)):
            return res, None      # the caller records why
        try:
            return res, parse_sitemap(res.content, str(getattr(res, "final_url", None) or url))
        except DiscoveryError as e:
            return res, e

    def _month_outside_window(self, url: str) -> bool:
        """Date-bucketed sitemaps (``sitemap-2024-3.xml``, ``/sitemap/2024-03/``): a month wholly
        outside [since, until] is not fetched, which is what makes backfills of old ranges cheap."""
        if self.since is None and self.until is None:
            return False
        m = _MONTH_IN_URL.search(urlsplit(url).path + "?" + urlsplit(url).query)
        if not m or not 1 <= int(m.group(2)) <= 12:
            return False
        year, month = int(m.group(1)), int(m.group(2))
        start = datetime(year, month, 1, tzinfo=timezone.utc)
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=timezone.utc)
        return (self.since is not None and end <= self.since) or (self.until is not None and start > self.until)

    def _from_entries(self, entries: list[SitemapEntry]) -> list[DiscoveredUrl]:
        out = []
        for e in entries:
            if not self._in_window((e.lastmod, e.news_publication_date)):
                self.counts["out_of_window"] += 1
                continue
            out.append(DiscoveredUrl(url=e.url, source="news-sitemap" if e.is_news else "sitemap",
                                     lastmod=e.date, title=e.news_title))
        return out

    async def feeds(self) -> tuple[list[DiscoveredUrl], list[Any]]:
        urls = list(dict.fromkeys(self.site.feeds))
        results = await asyncio.gather(*(self._fetch(u, "feed") for u in urls))
        pages = [r for r in results if r is not None]
        found: list[DiscoveredUrl] = []
        for url, res in zip(urls, results):
            body = self._body(res, url, "feed")
            if body is None:
                continue
            try:
                entries = parse_feed(body, str(getattr(res, "final_url", None) or url))
            except DiscoveryError as e:
                self.errors.append(f"{self.site.name}: {e}")
                self.counts["feeds_failed"] += 1
                continue
            self.counts["feeds_read"] += 1
            for e in entries:
                if not self._in_window((e.published,)):
                    self.counts["out_of_window"] += 1
                    continue
                found.append(DiscoveredUrl(url=e.url, source="feed", lastmod=e.published, title=e.title))
        return found, pages

    async def start_pages(self) -> tuple[list[DiscoveredUrl], list[Any]]:
        urls = list(dict.fromkeys(self.site.start_pages))
        results = await asyncio.gather(*(self._fetch(u, "page") for u in urls))
        pages = [r for r in results if r is not None]
        found: list[DiscoveredUrl] = []
        for url, res in zip(urls, results):
            body = self._body(res, url, "page")
            if body is None:
                continue
            text = getattr(res, "text", None)
            if text is None:
                text = body.decode("utf-8", errors="replace")
            try:
                links = article_links(text, str(getattr(res, "final_url", None) or url),
                                      is_article=self.extractor.is_article_url, owns=self.site.owns)
            except Exception as e:  # an extractor bug in is_article_url must not sink discovery
                self.errors.append(f"{self.site.name}: page {url} links could not be read: "
                                   f"{type(e).__name__}: {e}")
                self.counts["pages_failed"] += 1
                continue
            self.counts["pages_read"] += 1
            found.extend(DiscoveredUrl(url=u, source="page") for u in links)
        return found, pages

    async def archive(self) -> tuple[list[DiscoveredUrl], list[Any]]:
        res = await archive_links(self.site, self.fetcher, self.extractor, since=self.since, until=self.until)
        self.errors.extend(res.errors)
        self.counts.update(res.counts)
        return [DiscoveredUrl(url=x.url, source="archive-page", lastmod=x.published) for x in res.links], res.pages


def _answered(res) -> bool:
    """A fetch that got a usable (non-error) response; its body may still be empty."""
    status = getattr(res, "status", None)
    return getattr(res, "outcome", None) == "fetched" and not (isinstance(status, int) and status >= 400)


def _merge(site: SiteConfig, candidates: Iterable[DiscoveredUrl], counts: Counter) -> list[DiscoveredUrl]:
    merged: dict[str, DiscoveredUrl] = {}
    for c in candidates:
        url = normalize_url(c.url)
        if url is None or not site.owns(url):
            counts["offsite"] += 1
            continue
        have = merged.get(url)
        if have is None:
            merged[url] = DiscoveredUrl(url=url, source=c.source, lastmod=c.lastmod, title=c.title)
            continue
        counts["duplicates"] += 1
        if c.lastmod is not None and (have.lastmod is None or c.lastmod > have.lastmod):
            have.lastmod = c.lastmod
        if not have.title and c.title:
            have.title = c.title
    return list(merged.values())


async def discover(site: SiteConfig, fetcher, extractor: "Extractor", *,
                   since: datetime | None = None, until: datetime | None = None,
                   max_urls: int | None = None,
                   max_sitemap_depth: int = MAX_SITEMAP_DEPTH,
                   max_sitemaps: int = MAX_SITEMAPS_PER_RUN,
                   paginate: bool = False) -> DiscoveryResult:
    """Discover article URLs for ``site``; never raises for per-URL failures (see module doc)."""
    since = _aware(since, "since")
    until = _aware(until, "until")
    if since is not None and until is not None and since > until:
        raise ValueError(f"discover({site.name!r}): since {since.isoformat()} is after until {until.isoformat()}")
    if max_urls is not None and max_urls < 0:
        raise ValueError(f"discover({site.name!r}): max_urls must be >= 0, got {max_urls}")
    run = _Run(site, fetcher, extractor, since, until, max_sitemap_depth, max_sitemaps)
    sources = [run.sitemaps(), run.feeds(), run.start_pages()]
    if paginate and site.archive_pages:
        # Only then: one more task changes the fetch interleaving of every other run, which
        # first-seen choices downstream (near-duplicates fetched in one batch) are sensitive to.
        sources.append(run.archive())
    (sm_urls, sm_pages), (feed_urls, feed_pages), (page_urls, page_pages), *rest = await asyncio.gather(*sources)
    arc_urls, arc_pages = rest[0] if rest else ([], [])

    counts = run.counts
    urls = _merge(site, [*sm_urls, *feed_urls, *page_urls, *arc_urls], counts)
    # Newest first, unknown dates last; ties keep discovery order (sorted() is stable).
    urls.sort(key=lambda u: (u.lastmod is None, -u.lastmod.timestamp() if u.lastmod else 0.0))
    counts["discovered"] = len(urls)
    limit = max_urls if max_urls is not None else site.max_articles
    if limit is not None and len(urls) > limit:
        counts["cut"] = len(urls) - limit
        urls = urls[:limit]
    for u in urls:
        counts[u.source] += 1
    result = DiscoveryResult(site=site.name, urls=urls, pages=[*sm_pages, *feed_pages, *page_pages, *arc_pages],
                             errors=run.errors, counts=counts)
    log.info("%s: discovered %d URLs (%s); %d errors", site.name, len(urls),
             ", ".join(f"{s}={counts[s]}" for s in SOURCES if counts[s]) or "none", len(run.errors))
    return result
