"""Al Mayadeen English (english.almayadeen.net) extractor.

Markup contract: docs/MARKUP.md. Metadata comes from the site's
``script#tawsiyat-metadata`` JSON first, then JSON-LD, then meta tags, then the
visible markup (whose date is Beirut local time).
"""
from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from sites.almayadeen import SITE

from . import registry
from .base import Article, Extractor, Image
from .dates import BEIRUT, parse_datetime, parse_local
from .text import Page, dedupe, first, ld_people, loads_lenient, node_text, norm, split_list, strip_by

HOST = SITE.url_rules.host   # sites/almayadeen.py: the one place the host is written
_ARTICLE_SECTIONS = frozenset({"opinion", "analysis", "blog", "features"})
_VIDEO_SECTIONS = frozenset({"newsfeed", "video-features", "explainers", "tv", "digital-series"})
_NOT_SLUGS = frozenset({"", "index", "all", "latest", "page", "rss", "search"})
_SOURCE = re.compile(r"^\s*source\s*:\s*", re.I)


def _section_from_url(url: str) -> str | None:
    parts = [p for p in urlsplit(url).path.split("/") if p]
    if len(parts) >= 3 and parts[0] in ("news", "articles"):
        return unquote(parts[1]).replace("-", " ").title()
    if len(parts) >= 2 and parts[0] in ("articles", "videos"):
        return parts[0].title()
    return None


class AlMayadeenExtractor(Extractor):
    name = SITE.extractor
    domains = SITE.domains
    version = "2"

    def is_article_url(self, url: str) -> bool:
        u = urlsplit(url)
        if u.hostname and u.hostname.lower() != HOST:
            return False
        parts = [p for p in u.path.split("/") if p]
        if len(parts) < 2 or parts[-1].lower() in _NOT_SLUGS or parts[-1].isdigit():
            return False
        kind = parts[0].lower()
        if kind == "news":
            return len(parts) == 3
        if kind == "articles":
            if len(parts) == 2:
                return parts[1].lower() not in _ARTICLE_SECTIONS
            return len(parts) == 3 and parts[1].lower() in _ARTICLE_SECTIONS | {"news"}
        if kind == "videos":
            if len(parts) == 2:
                return parts[1].lower() not in _VIDEO_SECTIONS
            return len(parts) == 3
        return False

    def parse(self, html: str, url: str) -> Article:
        page = Page(html, url)
        tree = page.tree
        quality: list[str] = []

        # --- structured metadata ------------------------------------------
        tw: dict = {}
        node = tree.css_first("script#tawsiyat-metadata")
        if node is not None:
            data = loads_lenient(node.text(deep=True) or "")
            if isinstance(data, dict):
                tw = data
                quality.append("meta:tawsiyat")
        ld = page.ld_article() or {}
        if ld:
            quality.append("meta:json-ld")
        if norm(tw.get("type")).lower() == "videoobject" or ld.get("@type") == "VideoObject":
            quality.append("page:video")   # a clip with a short description, not a full article
        classes = {c.get("mapping"): norm(c.get("value")) for c in tw.get("classes") or []
                   if isinstance(c, dict)}

        art = tree.css_first("article.article-page") or tree.body or tree.root

        # --- title --------------------------------------------------------
        title = first(norm(tw.get("title")), norm(ld.get("headline")))
        if not title:
            title = page.meta_first("og:title")
            if title:
                quality.append("meta:og")
        if not title:
            title = node_text(art.css_first("h1.article-title") or art.css_first("h1")) or None
            if title:
                quality.append("meta:markup")

        authors = _authors(page, art, tw, classes, ld)
        src = art.css_first("ul.article-meta li.source")
        source = _SOURCE.sub("", node_text(src)) or None if src is not None else None

        published, modified = _dates(page, art, tw, ld, quality)

        # --- summary, section, tags, language -----------------------------
        summary = node_text(art.css_first("p.lg_para.summary")) or first(
            norm(tw.get("description")), page.meta_first("description", "og:description"))
        section = first(classes.get("category"), norm(ld.get("articleSection")) or None,
                        _section_from_url(url))
        tags = dedupe(node_text(li) for li in art.css("ul.tags li"))
        if not tags:
            tags = split_list(tw.get("keywords") or page.meta.get("keywords"), ",")
        language = first(norm(tw.get("lang")).lower() or None, page.lang())

        images = _images(page, art, tw)
        paras, related = _body(page, art)
        ticker = [t for t in (node_text(li) for li in tree.css("div.breaking-news li")) if t]

        article = Article(
            url=page.canonical(), site=self.name, title=title, summary=summary or None,
            authors=authors, source=source, published_at=published, modified_at=modified,
            section=section, tags=tags, language=language, body="\n\n".join(paras),
            images=images, related=dedupe(related), ticker=ticker,
            extractor=self.name, extractor_version=self.version, quality=quality,
        )
        if not paras:
            _fallback_body(article, html, url)
        for field, value in (("title", title), ("date", published), ("body", article.body),
                             ("authors", authors)):
            if not value:
                article.quality.append(f"missing:{field}")
        return article


def _authors(page: Page, art, tw: dict, classes: dict, ld: dict) -> list[str]:
    """The byline, else tawsiyat metadata, else JSON-LD, else the author meta tag."""
    authors = dedupe(strip_by(node_text(li)) for li in art.css("ul.article-meta li.author"))
    if not authors:
        authors = [strip_by(a) for a in [norm(tw.get("author")) or classes.get("author")] if a]
    if not authors:
        authors = ld_people(ld.get("author"))
    if not authors:
        a = page.meta_first("author")
        authors = [strip_by(a)] if a else []
    return authors


def _dates(page: Page, art, tw: dict, ld: dict, quality: list[str]):
    """(published, modified): metadata first; the page's own (Beirut) time when none says."""
    published = first(parse_datetime(tw.get("published_time")),
                      parse_datetime(page.meta.get("article:published_time")),
                      parse_datetime(ld.get("datePublished")))
    modified = first(parse_datetime(tw.get("last_updated")),
                     parse_datetime(page.meta.get("article:modified_time")),
                     parse_datetime(ld.get("dateModified")))
    if published is None:
        t = art.css_first("ul.article-meta li.date time") or art.css_first("time")
        if t is not None:
            published = first(parse_datetime(t.attributes.get("datetime"), BEIRUT),
                              parse_local(node_text(t), ("%d %b %Y %H:%M", "%d %B %Y %H:%M", "%d %b %Y"), BEIRUT))
            if published is not None and "meta:markup" not in quality:
                quality.append("meta:markup")
    return published, modified


def _images(page: Page, art, tw: dict) -> list[Image]:
    """The article's figures, else its og:image / tawsiyat thumbnail."""
    images = []
    for fig in art.css("figure"):
        img = fig.css_first("img")
        src = page.abs(img.attributes.get("src") or img.attributes.get("data-src")) if img else None
        if src:
            images.append(Image(src, node_text(fig.css_first("figcaption")) or
                                norm(img.attributes.get("alt")) or None))
    if not images:
        og = page.meta_first("og:image") or norm(tw.get("thumbnail"))
        if og:
            images.append(Image(page.abs(og)))
    return images


def _body(page: Page, art) -> tuple[list[str], list[str]]:
    """(paragraphs and subheads, related-news URLs) of the article's content column."""
    paras: list[str] = []
    related: list[str] = []
    content = art.css_first("div.p-content")
    if content is None:
        return paras, related
    for child in content.iter():
        tag = child.tag
        if tag in ("p", "h2", "h3", "h4"):
            t = node_text(child)
            if t:
                paras.append(t)
        elif tag == "div" and "related-news" in (child.attributes.get("class") or ""):
            for a in child.css("a[href]"):
                href = page.abs(a.attributes.get("href"))
                if href:
                    related.append(href)
    return paras, related


def _fallback_body(article: Article, html: str, url: str) -> None:
    """No site body found: borrow the generic extractor's body."""
    from .generic import GenericExtractor
    body = GenericExtractor().parse(html, url).body
    if body:
        article.body = body
        article.quality.append("body:generic")


registry.register(AlMayadeenExtractor())
