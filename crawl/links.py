"""Article links on home/section pages. Pure, no I/O.

Public API::

    from crawl.links import article_links
    urls = article_links(html, page_url, is_article=extractor.is_article_url, owns=site.owns)

Every ``a[href]`` is resolved against ``<base href>`` (itself resolved against
the page URL) or the page URL; fragments are dropped; only http(s) links the
site owns and the extractor calls articles are kept, in document order, once.
"""
from __future__ import annotations

from typing import Callable
from urllib.parse import urldefrag, urljoin, urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser

from dedup.urls import is_plain_url

__all__ = ["article_links", "normalize_url"]

_SKIP_SCHEMES = ("javascript:", "mailto:", "tel:", "data:", "sms:", "whatsapp:", "about:")
_STRIP = "\t\n\r\x0c "


def normalize_url(url: str) -> str | None:
    """Drop the fragment, lowercase scheme and host, drop default ports; ``None`` unless http(s)."""
    if is_plain_url(url):     # nothing of that to do (most sitemap and link URLs)
        return url
    try:
        url = urldefrag(url)[0]
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if scheme not in ("http", "https") or not host:
        return None
    netloc = host.lower()
    if ":" in netloc:                               # IPv6 literal
        netloc = f"[{netloc}]"
    if port is not None and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        netloc = f"{netloc}:{port}"
    if parts.username or parts.password:
        return None                                 # credentials in links: never follow
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def _clean_href(href: str) -> str:
    # WHATWG URL parsing strips leading/trailing C0 space and removes tabs/newlines inside.
    return href.strip(_STRIP).replace("\t", "").replace("\n", "").replace("\r", "")


def article_links(html: str, base_url: str, *, is_article: Callable[[str], bool],
                  owns: Callable[[str], bool]) -> list[str]:
    """Article URLs linked from ``html`` (served at ``base_url``), in document order, deduplicated."""
    if not html:
        return []
    tree = LexborHTMLParser(html)
    base = base_url
    base_el = tree.css_first("base[href]")
    if base_el is not None:
        href = _clean_href(base_el.attributes.get("href") or "")
        if href:
            try:
                candidate = urljoin(base_url, href)
            except ValueError:
                candidate = None
            if candidate and urlsplit(candidate).scheme.lower() in ("http", "https"):
                base = candidate
    seen: set[str] = set()
    out: list[str] = []
    for a in tree.css("a[href]"):
        href = _clean_href(a.attributes.get("href") or "")
        if not href or href.startswith("#") or href.lower().startswith(_SKIP_SCHEMES):
            continue
        try:
            absolute = urljoin(base, href)
        except ValueError:
            continue
        url = normalize_url(absolute)
        if url is None or url in seen:
            continue
        seen.add(url)
        if owns(url) and is_article(url):
            out.append(url)
    return out
