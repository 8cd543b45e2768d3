"""Archive/section pagination for backfills: listing pages walked back in time to a date window.

Public API::

    from crawl.pagination import archive_links
    res = await archive_links(site, fetcher, extractor, since=..., until=...)
    res.links    # [ArchiveLink(url, published)]: in-window or undated article links, listing order
    res.pages    # every FetchResult made
    res.errors   # "SITE: archive-page URL failed: reason"
    res.counts   # Counter: archive_pages_read, archive_pages_capped, archive_out_of_window, ...

Each ``site.archive_pages`` template (``...?page={page}``) is a listing shown newest first.
Item dates come from the one ``<time datetime>`` inside each teaser (docs/MARKUP.md); a link
without one is undated: kept, and it never decides where the walk starts or stops.

Per listing (listings run concurrently, the pages of one listing one after another):
- start: page 1, or with ``until`` the first page that is not wholly newer than ``until``,
  found by galloping (1, 2, 4, 8, ...) then bisecting -- pages are newest first, so "wholly
  newer" holds for a prefix of the pages and a 2019 backfill of a 3,000-page listing costs
  ~2*log2(3000) probes, not 3,000 fetches;
- walk on from there, keeping links dated in ``[since, until]`` (newer ones are skipped,
  paging continues) and undated links;
- stop after a page whose dated items are all older than ``since``, at a page with no article
  link not seen earlier in this listing (past the end, or a site ignoring ``?page=``), at a
  failed fetch (recorded in ``errors``, never raised), or after ``site.max_archive_pages``
  fetches of the listing (probes included).
"""
from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from selectolax.lexbor import LexborHTMLParser

from .config import PAGE, SiteConfig
from .links import article_links

log = logging.getLogger(__name__)

__all__ = ["archive_links", "dated_links", "ArchiveLink", "ArchiveResult"]

KIND = "archive-page"


@dataclass
class ArchiveLink:
    url: str
    published: datetime | None = None     # aware UTC, from the listing item


@dataclass
class ArchiveResult:
    links: list[ArchiveLink] = field(default_factory=list)
    pages: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)


def _parse_dt(value: str | None) -> datetime | None:
    try:
        dt = datetime.fromisoformat((value or "").strip())
    except ValueError:
        return None
    if dt.tzinfo is None or dt.utcoffset() is None:
        dt = dt.replace(tzinfo=timezone.utc)      # naive means UTC, as in discovery
    return dt.astimezone(timezone.utc)


def dated_links(html: str, page_url: str, *, is_article, owns) -> list[ArchiveLink]:
    """Article links of a listing page, each with the date of its teaser when there is exactly one."""
    links = article_links(html, page_url, is_article=is_article, owns=owns)
    if not links:
        return []
    tree = LexborHTMLParser(html)
    base = tree.css_first("base[href]")
    prefix = base.html if base is not None else ""     # items resolve links against the page's <base>
    dates: dict[str, datetime] = {}
    for t in tree.css("time[datetime]"):
        when = _parse_dt(t.attributes.get("datetime"))
        if when is None:
            continue
        # The teaser is the nearest ancestor holding a link. It must hold only this date and a single
        # article: anything wider (the whole list, a page-wide "updated" stamp) would date every link.
        item = t.parent
        while item is not None and item.css_first("a[href]") is None:
            item = item.parent
        if item is None or len(item.css("time[datetime]")) != 1:
            continue
        urls = article_links(prefix + (item.html or ""), page_url, is_article=is_article, owns=owns)
        if len(urls) == 1:
            dates.setdefault(urls[0], when)
    return [ArchiveLink(u, dates.get(u)) for u in links]


class _Page:
    def __init__(self, links: list[ArchiveLink]):
        self.links = links
        dated = [x.published for x in links if x.published is not None]
        self.newest = max(dated) if dated else None
        self.oldest = min(dated) if dated else None


class _Listing:
    """One archive listing: page fetches (cached, capped) and the walk."""

    def __init__(self, walk: "_Walk", template: str):
        self.w, self.template = walk, template
        self.cache: dict[int, _Page] = {}
        self.fetched = 0
        self.pages: list[Any] = []      # FetchResults in request order (listings run concurrently)

    async def page(self, n: int) -> _Page | None:
        """Page ``n``, or ``None`` when it failed (recorded) or the fetch cap is reached."""
        if n in self.cache:
            return self.cache[n]
        w = self.w
        if self.fetched >= w.site.max_archive_pages:
            w.counts["archive_pages_capped"] += 1
            log.warning("%s: archive listing %s: cap of %d pages per run reached at page %d",
                        w.site.name, self.template, w.site.max_archive_pages, n)
            return None
        self.fetched += 1
        url = self.template.replace(PAGE, str(n))
        res, html, final_url = await w.get(url)
        if res is not None:
            self.pages.append(res)
        if html is None:
            return None
        try:
            links = dated_links(html, final_url, is_article=w.extractor.is_article_url, owns=w.site.owns)
        except Exception as e:  # an extractor bug in is_article_url must not sink the backfill
            w.fail(url, f"links could not be read: {type(e).__name__}: {e}")
            return None
        w.counts["archive_pages_read"] += 1
        self.cache[n] = _Page(links)
        return self.cache[n]

    def _newer(self, p: _Page) -> bool:
        """Every dated item is newer than ``until`` (an undated page cannot be skipped)."""
        return p.oldest is not None and p.oldest > self.w.until

    async def first_page(self) -> int | None:
        """Gallop then bisect to the first page not wholly newer than ``until`` (None: stop)."""
        if self.w.until is None:
            return 1
        lo, hi = 0, 1           # invariant: page lo is wholly newer (0: none), page hi is not
        while True:
            p = await self.page(hi)
            if p is None:
                return None
            if not self._newer(p):
                break
            lo, hi = hi, hi * 2
        while hi - lo > 1:
            mid = (lo + hi) // 2
            p = await self.page(mid)
            if p is None:
                return None
            if self._newer(p):
                lo = mid
            else:
                hi = mid
        return hi

    async def walk(self) -> list[ArchiveLink]:
        w, out, seen = self.w, [], set()
        n = await self.first_page()
        while n is not None:
            p = await self.page(n)
            if p is None:
                break
            new = [x for x in p.links if x.url not in seen]
            if not new:
                w.counts["archive_listings_ended"] += 1
                break
            seen.update(x.url for x in new)
            for x in new:
                if w.in_window(x.published):
                    out.append(x)
                else:
                    w.counts["archive_out_of_window"] += 1
            if w.since is not None and p.newest is not None and p.newest < w.since:
                w.counts["archive_listings_reached_since"] += 1
                break
            n += 1
        w.counts["archive_listings_read"] += 1
        return out


class _Walk:
    def __init__(self, site: SiteConfig, fetcher, extractor, since, until):
        self.site, self.fetcher, self.extractor = site, fetcher, extractor
        self.since, self.until = since, until
        self.errors: list[str] = []
        self.counts: Counter = Counter()

    def fail(self, url: str, reason: str) -> None:
        self.errors.append(f"{self.site.name}: {KIND} {url} {reason}")
        self.counts["archive_pages_failed"] += 1

    def in_window(self, dt: datetime | None) -> bool:
        return dt is None or ((self.since is None or dt >= self.since) and (self.until is None or dt <= self.until))

    async def get(self, url: str) -> tuple[Any, str | None, str]:
        """The fetch result, page text and final URL; the text is ``None`` after recording why."""
        try:
            res = await self.fetcher.fetch(url, conditional=False)
        except Exception as e:  # the fetcher should not raise; one bad page must not sink the run
            self.fail(url, f"could not be fetched: {type(e).__name__}: {e}")
            return None, None, url
        status = getattr(res, "status", None)
        content = getattr(res, "content", None) or b""
        if getattr(res, "outcome", None) != "fetched" or (isinstance(status, int) and status >= 400) \
                or not content:
            reason = ", ".join(str(x) for x in (getattr(res, "error_kind", None), getattr(res, "error", None),
                                                f"HTTP {status}" if status else None) if x)
            self.fail(url, f"{getattr(res, 'outcome', None) or 'failed'}: {reason or 'empty body'}")
            return res, None, url
        text = getattr(res, "text", None)
        if text is None:
            text = content.decode("utf-8", errors="replace")
        return res, text, str(getattr(res, "final_url", None) or url)


async def archive_links(site: SiteConfig, fetcher, extractor, *, since: datetime | None = None,
                        until: datetime | None = None) -> ArchiveResult:
    """Walk every ``site.archive_pages`` listing to the ``[since, until]`` window (see module doc).

    ``since``/``until`` must be aware (``crawl.discovery.discover`` normalizes them)."""
    w = _Walk(site, fetcher, extractor, since, until)
    listings = [_Listing(w, t) for t in dict.fromkeys(site.archive_pages)]
    found = await asyncio.gather(*(lst.walk() for lst in listings))
    for lst in listings:
        w.counts["archive_pages_fetched"] += lst.fetched
    return ArchiveResult(links=[x for links in found for x in links],
                         pages=[r for lst in listings for r in lst.pages], errors=w.errors, counts=w.counts)
