"""XML documents of discovery (sitemaps and feeds): safe parsing and shared helpers. Pure, no I/O.

XML is parsed with defusedxml: DTDs, entity declarations and external references are refused
(billion laughs, XXE), and the error names the URL. Gzip bodies are detected by their magic
bytes and decompressed with a size cap (zip bombs). Dates come back as aware UTC datetimes.
Used by crawl.sitemaps and crawl.feeds (which imports neither of them from the other).
"""
from __future__ import annotations

import re
import zlib
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from dedup.urls import is_plain_url
from newsarchive.errors import NewsarchiveError

UTC = timezone.utc

# The sitemap protocol caps a sitemap at 50 MB uncompressed; leave some slack.
MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024


class DiscoveryError(NewsarchiveError, ValueError):
    """A sitemap or feed that cannot be read; the message names the URL and the reason."""

    def __init__(self, message: str, url: str | None = None):
        super().__init__(message)
        self.url = url


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
    if is_plain_url(loc):               # absolute already, and nothing for urljoin/urlsplit to change
        return loc
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
