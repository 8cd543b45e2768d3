"""Sitemap parsing: sitemap indexes, urlsets, Google News sitemaps. Pure, no I/O.

Public API::

    from crawl.sitemaps import parse_sitemap, DiscoveryError
    sm = parse_sitemap(body_bytes, "https://example.com/sitemap.xml")
    sm.kind        # "index" | "urlset"
    sm.sitemaps    # [SitemapRef(url, lastmod)]                     (index)
    sm.entries     # [SitemapEntry(url, lastmod, news_title, ...)]  (urlset)

XML is parsed with defusedxml: DTDs, entity declarations and external
references are refused (billion laughs, XXE), and the error names the URL.
Gzip bodies (``.xml.gz`` files served as-is) are detected by their magic bytes
and decompressed with a size cap (zip bombs). Dates come back as aware UTC
datetimes; unparseable dates become ``None`` rather than failing the sitemap.

The shared helpers (``DiscoveryError``, ``parse_xml``, ``maybe_gunzip``,
``parse_date``) live in ``crawl.xmldocs`` and are re-exported here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from xml.etree.ElementTree import Element

from .feeds import feed_from_root
from .xmldocs import (DiscoveryError, absolute_http_url, maybe_gunzip, parse_date, parse_xml,  # noqa: F401
                      split_tag, text_of)

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"
IMAGE_NS = "http://www.google.com/schemas/sitemap-image/1.1"


__all__ = [
    "DiscoveryError", "Sitemap", "SitemapRef", "SitemapEntry",
    "parse_sitemap", "parse_xml", "maybe_gunzip", "parse_date",
    "SITEMAP_NS", "NEWS_NS", "IMAGE_NS",
]


@dataclass
class SitemapRef:
    """A child sitemap listed by a sitemap index."""
    url: str
    lastmod: datetime | None = None


@dataclass
class SitemapEntry:
    """One ``<url>`` of a urlset; the ``news_*`` fields come from ``<news:news>``."""
    url: str
    lastmod: datetime | None = None
    news_title: str | None = None
    news_publication_date: datetime | None = None
    news_keywords: list[str] = field(default_factory=list)

    @property
    def is_news(self) -> bool:
        return self.news_title is not None or self.news_publication_date is not None

    @property
    def date(self) -> datetime | None:
        """The newest date known for the entry (lastmod or publication date)."""
        dates = [d for d in (self.lastmod, self.news_publication_date) if d is not None]
        return max(dates) if dates else None


@dataclass
class Sitemap:
    url: str
    kind: str                                   # "index" | "urlset"
    sitemaps: list[SitemapRef] = field(default_factory=list)
    entries: list[SitemapEntry] = field(default_factory=list)


# --------------------------------------------------------------------------- helpers

# --------------------------------------------------------------------------- sitemaps

def parse_sitemap(data: bytes | str, url: str) -> Sitemap:
    """Parse a sitemap index or urlset (plain or Google News; gzip accepted).

    RSS/Atom feeds and plain-text sitemaps (one URL per line), both allowed by
    the sitemap protocol, come back as a urlset. Raises ``DiscoveryError``.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    raw = maybe_gunzip(raw, url)
    head = raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head and head != b"<" and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _parse_text_sitemap(raw, url)
    root = parse_xml(raw, url, "sitemap")
    ns, local = split_tag(root.tag)
    if local == "sitemapindex":
        return Sitemap(url=url, kind="index", sitemaps=_parse_index(root, ns, url))
    if local == "urlset":
        return Sitemap(url=url, kind="urlset", entries=_parse_urlset(root, ns, url))
    if local in ("rss", "feed", "RDF"):
        entries = [SitemapEntry(url=e.url, lastmod=e.published) for e in feed_from_root(root, url)]
        return Sitemap(url=url, kind="urlset", entries=entries)
    raise DiscoveryError(
        f"sitemap {url}: root element <{local}> is not a sitemap "
        f"(expected <sitemapindex> or <urlset>)", url)


def _children(el: Element, ns: str, local: str):
    for child in el:
        cns, clocal = split_tag(child.tag)
        if clocal == local and cns == ns:
            yield child


def _child_text(el: Element, ns: str, local: str) -> str | None:
    for child in _children(el, ns, local):
        return text_of(child)
    return None


def _parse_index(root: Element, ns: str, url: str) -> list[SitemapRef]:
    refs: list[SitemapRef] = []
    for sm in _children(root, ns, "sitemap"):
        loc = absolute_http_url(_child_text(sm, ns, "loc"), url)
        if loc:
            refs.append(SitemapRef(url=loc, lastmod=parse_date(_child_text(sm, ns, "lastmod"))))
    return refs


def _parse_urlset(root: Element, ns: str, url: str) -> list[SitemapEntry]:
    entries: list[SitemapEntry] = []
    for u in _children(root, ns, "url"):
        loc = absolute_http_url(_child_text(u, ns, "loc"), url)
        if not loc:
            continue
        entry = SitemapEntry(url=loc, lastmod=parse_date(_child_text(u, ns, "lastmod")))
        for news in _children(u, NEWS_NS, "news"):
            entry.news_title = _child_text(news, NEWS_NS, "title")
            entry.news_publication_date = parse_date(_child_text(news, NEWS_NS, "publication_date"))
            keywords = _child_text(news, NEWS_NS, "keywords")
            if keywords:
                entry.news_keywords = [k.strip() for k in keywords.split(",") if k.strip()]
            break
        entries.append(entry)
    return entries


def _parse_text_sitemap(raw: bytes, url: str) -> Sitemap:
    text = raw.decode("utf-8", errors="replace").lstrip("\ufeff")
    entries = []
    for line in text.splitlines():
        loc = absolute_http_url(line.strip(), url) if line.strip().lower().startswith("http") else None
        if loc:
            entries.append(SitemapEntry(url=loc))
    if not entries and text.strip():
        raise DiscoveryError(f"sitemap {url}: neither XML nor a text sitemap of URLs", url)
    return Sitemap(url=url, kind="urlset", entries=entries)
