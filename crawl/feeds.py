"""RSS 2.0 / RSS 0.9x, RSS 1.0 (RDF) and Atom 1.0 feed parsing. Pure, no I/O.

Public API::

    from crawl.feeds import parse_feed, FeedEntry
    entries = parse_feed(body_bytes, "https://example.com/rss")
    entries[0].url, entries[0].title, entries[0].published   # published: aware UTC or None

Relative links are resolved against ``xml:base`` (Atom) or the feed URL. XML is
parsed with defusedxml (see ``crawl.sitemaps.parse_xml``); unsafe or malformed
documents raise ``DiscoveryError`` naming the URL.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin
from xml.etree.ElementTree import Element

from .xmldocs import DiscoveryError, absolute_http_url, parse_date, parse_xml, split_tag, text_of

ATOM_NS = "http://www.w3.org/2005/Atom"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RSS1_NS = "http://purl.org/rss/1.0/"
DC_NS = "http://purl.org/dc/elements/1.1/"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"

__all__ = ["FeedEntry", "parse_feed", "feed_from_root", "DiscoveryError"]


@dataclass
class FeedEntry:
    url: str
    title: str | None = None
    published: datetime | None = None   # aware UTC


def parse_feed(data: bytes | str, url: str) -> list[FeedEntry]:
    """Parse an RSS/Atom/RDF feed into entries in document order. Raises ``DiscoveryError``."""
    root = parse_xml(data, url, "feed")
    return feed_from_root(root, url)


def feed_from_root(root: Element, url: str) -> list[FeedEntry]:
    ns, local = split_tag(root.tag)
    if local == "rss" or (local == "channel" and ns == ""):
        return _rss(root, url)
    if local == "feed" and ns == ATOM_NS:
        return _atom(root, url)
    if local == "RDF" and ns == RDF_NS:
        return _rdf(root, url)
    raise DiscoveryError(f"feed {url}: root element <{local}> is not RSS, Atom or RDF", url)


_TAG = re.compile(r"</?[A-Za-z!][^>]*>")


def _html_title(text: str | None) -> str | None:
    """Titles declared (Atom ``type="html"``) or habitually sent (RSS) as escaped HTML -> plain text."""
    if not text:
        return text
    if "<" in text:                 # markup first, then entities: "&lt;b&gt;" is text, "<b>" is a tag
        text = _TAG.sub("", text)
    if "&" in text:
        text = html.unescape(text)
    return " ".join(text.split()) or None


def _first(el: Element, ns: str, local: str) -> Element | None:
    for child in el:
        cns, clocal = split_tag(child.tag)
        if clocal == local and cns == ns:
            return child
    return None


def _first_text(el: Element, ns: str, local: str) -> str | None:
    return text_of(_first(el, ns, local))


def _rss(root: Element, url: str) -> list[FeedEntry]:
    channel = root if split_tag(root.tag)[1] == "channel" else _first(root, "", "channel")
    if channel is None:
        return []
    items = [el for el in channel if split_tag(el.tag) == ("", "item")]
    # RSS 0.91 sometimes puts items beside the channel, not inside it.
    items += [el for el in root if split_tag(el.tag) == ("", "item")]
    out: list[FeedEntry] = []
    for item in items:
        link = _first_text(item, "", "link")
        if not link:
            atom_link = _atom_link(item)
            link = atom_link
        if not link:
            guid = _first(item, "", "guid")
            if guid is not None and (guid.get("isPermaLink") or "true").strip().lower() == "true":
                link = text_of(guid)
        loc = absolute_http_url(link, url)
        if not loc:
            continue
        published = (parse_date(_first_text(item, "", "pubDate"))
                     or parse_date(_first_text(item, DC_NS, "date"))
                     or parse_date(_first_text(item, ATOM_NS, "updated")))
        out.append(FeedEntry(url=loc, title=_html_title(_first_text(item, "", "title")), published=published))
    return out


def _atom_link(entry: Element) -> str | None:
    """The entry's ``rel="alternate"`` (or rel-less) link href."""
    fallback = None
    for child in entry:
        if split_tag(child.tag) != (ATOM_NS, "link"):
            continue
        href = child.get("href")
        rel = (child.get("rel") or "alternate").strip().lower()
        if href and rel == "alternate":
            mime = (child.get("type") or "text/html").lower()
            if "html" in mime:
                return href
            fallback = fallback or href
    return fallback


def _atom(root: Element, url: str) -> list[FeedEntry]:
    feed_base = urljoin(url, root.get(XML_BASE) or "")
    out: list[FeedEntry] = []
    for entry in root:
        if split_tag(entry.tag) != (ATOM_NS, "entry"):
            continue
        base = urljoin(feed_base, entry.get(XML_BASE) or "")
        loc = absolute_http_url(_atom_link(entry), base)
        if not loc:
            continue
        published = (parse_date(_first_text(entry, ATOM_NS, "published"))
                     or parse_date(_first_text(entry, ATOM_NS, "updated"))
                     or parse_date(_first_text(entry, DC_NS, "date")))
        title_el = _first(entry, ATOM_NS, "title")
        title = text_of(title_el)
        if title_el is not None and (title_el.get("type") or "").strip().lower() == "html":
            title = _html_title(title)
        out.append(FeedEntry(url=loc, title=title, published=published))
    return out


def _rdf(root: Element, url: str) -> list[FeedEntry]:
    out: list[FeedEntry] = []
    for item in root:
        if split_tag(item.tag) != (RSS1_NS, "item"):
            continue
        loc = absolute_http_url(_first_text(item, RSS1_NS, "link") or item.get(f"{{{RDF_NS}}}about"), url)
        if not loc:
            continue
        out.append(FeedEntry(url=loc, title=_first_text(item, RSS1_NS, "title"),
                             published=parse_date(_first_text(item, DC_NS, "date"))))
    return out
