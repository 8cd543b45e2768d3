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
``parse_date``) are also used by ``crawl.feeds``.
"""
from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from newsarchive.errors import NewsarchiveError

UTC = timezone.utc

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"
IMAGE_NS = "http://www.google.com/schemas/sitemap-image/1.1"

# The sitemap protocol caps a sitemap at 50 MB uncompressed; leave some slack.
MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024

__all__ = [
    "DiscoveryError", "Sitemap", "SitemapRef", "SitemapEntry",
    "parse_sitemap", "parse_xml", "maybe_gunzip", "parse_date",
    "SITEMAP_NS", "NEWS_NS", "IMAGE_NS",
]


class DiscoveryError(NewsarchiveError, ValueError):
    """A sitemap or feed that cannot be read; the message names the URL and the reason."""

    def __init__(self, message: str, url: str | None = None):
        super().__init__(message)
        self.url = url


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

def maybe_gunzip(data: bytes, url: str, *, limit: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    """Decompress ``data`` if it is gzip (magic bytes), refusing more than ``limit`` bytes of output."""
    if not data.startswith(b"\x1f\x8b"):
        return data
    d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as e:
        raise DiscoveryError(f"{url}: corrupt gzip body ({e})", url) from None
    if len(out) > limit:
        raise DiscoveryError(f"{url}: gzip body expands to more than {limit} bytes; refused", url)
    if not d.eof:
        raise DiscoveryError(f"{url}: corrupt gzip body (truncated stream)", url)
    return out


_LEADING_WS = re.compile(rb"^[ \t\r\n]+")


def parse_xml(data: bytes | str, url: str, what: str = "document") -> Element:
    """Parse XML safely (no DTDs, no entities, no external references).

    Raises ``DiscoveryError`` naming ``what`` and ``url`` on unsafe or malformed XML.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    data = maybe_gunzip(data, url)
    data = _LEADING_WS.sub(b"", data)   # whitespace before <?xml ...?> is a common publisher bug
    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as e:
        raise DiscoveryError(
            f"{what} {url}: refused unsafe XML ({type(e).__name__}: {e}); "
            f"DTDs, entity declarations and external references are not allowed", url) from None
    except ParseError as e:
        raise DiscoveryError(f"{what} {url}: malformed XML ({e})", url) from None


def split_tag(tag: str) -> tuple[str, str]:
    """``"{ns}local"`` -> ``("ns", "local")``; ``"local"`` -> ``("", "local")``."""
    if isinstance(tag, str) and tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag if isinstance(tag, str) else ""


def text_of(el: Element | None) -> str | None:
    """Stripped text content of an element (all descendants), ``None`` if empty."""
    if el is None:
        return None
    s = " ".join("".join(el.itertext()).split())
    return s or None


_YEAR_MONTH = re.compile(r"(\d{4})(?:-(\d{1,2}))?")


def parse_date(text: str | None) -> datetime | None:
    """W3C/ISO 8601 (``2026-01-31``, ``2026-01-31T10:00Z``, ``...+02:00``, ``2026-01``, ``2026``)
    or RFC 822 (``Tue, 10 Mar 2022 08:33:00 +0200``) -> aware UTC datetime, else ``None``.
    Dates without a zone are taken as UTC."""
    if not text:
        return None
    s = text.strip()
    if not s:
        return None
    dt: datetime | None = None
    m = _YEAR_MONTH.fullmatch(s)
    if m:
        try:
            dt = datetime(int(m.group(1)), int(m.group(2) or 1), 1)
        except ValueError:
            return None
    if dt is None:
        iso = s[:-1] + "+00:00" if s[-1:] in "zZ" else s
        try:
            dt = datetime.fromisoformat(iso)
        except ValueError:
            pass
    if dt is None:
        try:
            dt = parsedate_to_datetime(s)
        except (TypeError, ValueError, IndexError):
            pass
    if dt is None and re.search(r"\d{4}", s):   # dateutil alone turns "5" into today's 5th
        try:
            from dateutil import parser as du
            dt = du.parse(s)
        except (ValueError, OverflowError, TypeError):
            return None
    if dt is None:
        return None
    if dt.tzinfo is None or dt.utcoffset() is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return dt.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def absolute_http_url(loc: str | None, base: str) -> str | None:
    """Resolve ``loc`` against ``base``; ``None`` unless it is an http(s) URL with a host."""
    if not loc:
        return None
    loc = "".join(loc.split())          # stray whitespace/newlines inside <loc> are never meaningful
    if not loc:
        return None
    try:
        absolute = urljoin(base, loc)
        parts = urlsplit(absolute)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return absolute


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
        from .feeds import feed_from_root
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
