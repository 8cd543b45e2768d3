"""Shared helpers for extractors: whitespace normalisation and readers for
JSON-LD, ``<meta>``/OpenGraph tags, canonical URL and language.

Everything works on one parsed ``LexborHTMLParser`` tree (parse once).
"""
from __future__ import annotations

import json
import re
from typing import Any, Iterable, Iterator
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser, LexborNode

ARTICLE_TYPES = frozenset({
    "Article", "NewsArticle", "ReportageNewsArticle", "AnalysisNewsArticle",
    "OpinionNewsArticle", "BackgroundNewsArticle", "ReviewNewsArticle", "BlogPosting",
    "LiveBlogPosting", "Report", "ScholarlyArticle", "TechArticle", "SocialMediaPosting",
    "VideoObject", "WebPage", "Blog", "Review",
})
# Preferred over WebPage & co. when several objects are present.
_STRONG_TYPES = ARTICLE_TYPES - {"WebPage", "Blog", "VideoObject", "Review"}


def norm(s: str | None) -> str:
    """Collapse whitespace runs (NBSP and other Unicode spaces included) to one
    space and strip; characters are otherwise kept exactly."""
    if not s:
        return ""
    return " ".join(s.split())


def node_text(node: LexborNode | None) -> str:
    if node is None:
        return ""
    return norm(node.text(deep=True, separator="", strip=False))


def dedupe(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for it in items:
        key = it.casefold()
        if it and key not in seen:
            seen.add(key)
            out.append(it)
    return out


def split_list(value: str | None, seps: str = ",;") -> list[str]:
    if not value:
        return []
    return dedupe(norm(p) for p in re.split("[" + re.escape(seps) + "]", value) if norm(p))


_BY = re.compile(r"^\s*(?:by|written by|words by)\s*:?\s+", re.I)


def strip_by(name: str) -> str:
    return norm(_BY.sub("", name))


# --------------------------------------------------------------------------- JSON

_SINGLE_QUOTED = re.compile(r"(:\s*)'((?:[^'\\]|\\.)*)'(\s*[,}\]])")
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


def loads_lenient(text: str) -> Any:
    """``json.loads`` that also accepts what CMSs commonly emit: control
    characters in strings, single-quoted values, trailing commas. None on failure."""
    text = text.strip()
    if not text:
        return None
    if text.startswith("<!--"):
        text = text[4:].rsplit("-->", 1)[0]
    try:
        return json.loads(text, strict=False)
    except ValueError:
        pass
    fixed = _SINGLE_QUOTED.sub(lambda m: m.group(1) + json.dumps(m.group(2).replace("\\'", "'")) + m.group(3), text)
    fixed = _TRAILING_COMMA.sub(r"\1", fixed)
    try:
        return json.loads(fixed, strict=False)
    except ValueError:
        return None


def _walk_ld(obj: Any) -> Iterator[dict]:
    if isinstance(obj, list):
        for o in obj:
            yield from _walk_ld(o)
    elif isinstance(obj, dict):
        yield obj
        if "@graph" in obj:
            yield from _walk_ld(obj["@graph"])


def _types(obj: dict) -> set[str]:
    t = obj.get("@type")
    if isinstance(t, str):
        return {t}
    if isinstance(t, list):
        return {x for x in t if isinstance(x, str)}
    return set()


def ld_name(value: Any) -> str | None:
    """Name of a schema.org Thing given as a string, a dict or a list."""
    if isinstance(value, str):
        return norm(value) or None
    if isinstance(value, dict):
        for key in ("name", "byline", "headline", "@id"):
            v = value.get(key)
            if isinstance(v, str) and norm(v):
                return norm(v)
    if isinstance(value, list) and value:
        return ld_name(value[0])
    return None


def ld_people(value: Any) -> list[str]:
    """Author names from a JSON-LD author value (Person/Organization/str/list)."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out = []
    for it in items:
        name = ld_name(it)
        if name and not name.startswith("http"):
            out.append(strip_by(name))
    return dedupe(out)


def ld_image(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        u = value.get("url") or value.get("contentUrl")
        return u if isinstance(u, str) else None
    if isinstance(value, list) and value:
        return ld_image(value[0])
    return None


# --------------------------------------------------------------------------- page

class Page:
    """One parsed document with cached metadata readers."""

    __slots__ = ("tree", "url", "_meta", "_ld")

    def __init__(self, html: str | bytes, url: str):
        self.tree = LexborHTMLParser(html)
        self.url = url
        self._meta: dict[str, str] | None = None
        self._ld: list[dict] | None = None

    # meta / OpenGraph ------------------------------------------------------
    @property
    def meta(self) -> dict[str, str]:
        """First ``content`` per lower-cased ``name``/``property``/``itemprop``."""
        if self._meta is None:
            m: dict[str, str] = {}
            for node in self.tree.css("meta[content]"):
                a = node.attributes
                key = a.get("property") or a.get("name") or a.get("itemprop")
                if key:
                    key = key.strip().lower()
                    if key not in m:
                        m[key] = a.get("content") or ""
            self._meta = m
        return self._meta

    def meta_first(self, *keys: str) -> str | None:
        meta = self.meta
        for k in keys:
            v = norm(meta.get(k))
            if v:
                return v
        return None

    # JSON-LD ---------------------------------------------------------------
    @property
    def json_ld(self) -> list[dict]:
        if self._ld is None:
            objs: list[dict] = []
            for node in self.tree.css('script[type="application/ld+json"]'):
                data = loads_lenient(node.text(deep=True) or "")
                objs.extend(_walk_ld(data))
            self._ld = objs
        return self._ld

    def ld_article(self) -> dict | None:
        """The JSON-LD object describing the article (NewsArticle first)."""
        weak = None
        for obj in self.json_ld:
            t = _types(obj)
            if t & _STRONG_TYPES:
                return obj
            if weak is None and t & ARTICLE_TYPES:
                weak = obj
        return weak

    # misc ------------------------------------------------------------------
    def canonical(self) -> str:
        node = self.tree.css_first('link[rel="canonical"]')
        href = node.attributes.get("href") if node is not None else None
        if not href:
            href = self.meta.get("og:url")
        return self.abs(href) or self.url   # a broken canonical ("http://[::1") names no other page

    def lang(self) -> str | None:
        node = self.tree.css_first("html")
        lang = node.attributes.get("lang") if node is not None else None
        if not lang:
            lang = self.meta.get("og:locale") or self.meta.get("content-language")
        if not lang:
            return None
        return lang.strip().replace("_", "-").split("-")[0].lower() or None

    def abs(self, href: str | None) -> str | None:
        """``href`` made absolute; None when empty or unreadable (urljoin raises on "http://[x")."""
        if not href or not href.strip():
            return None
        try:
            return urljoin(self.url, href.strip())
        except ValueError:
            return None


def first(*values: Any) -> Any:
    for v in values:
        if v:
            return v
    return None
