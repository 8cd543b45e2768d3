"""Reuters (www.reuters.com) extractor.

Reuters changed its markup several times; as in Fundus, dated layout variants
are tried in order, each recognising its own markup, and the variant used is
recorded in ``extractor_version`` (``"<version>:<layout>"``):

- ``fusion-2022``: Arc "Fusion" pages (2021 onwards, also the replay web):
  ``p[data-testid=paragraph-N]``, ``[class*=sign-off]`` credits, tag buttons.
- ``article-body-2020``: ``div.ArticleBodyWrapper p.Paragraph-paragraph-*``,
  ``.Attribution-attribution-*`` credits, ``.Byline-author-*``.
- ``standard-body-2019``: ``div.StandardArticleBody_body > p``,
  ``.Attribution_content`` credits, ``.BylineBar_byline``.

Metadata comes from JSON-LD (NewsArticle) first, then meta/OpenGraph tags.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

from selectolax.lexbor import LexborNode

from sites.reuters import SITE

from . import registry
from .base import Article, Extractor, Image
from .dates import parse_datetime
from .text import Page, dedupe, first, ld_image, ld_people, node_text, norm, split_list, strip_by

_ARTICLE_PATH = re.compile(r"^/(?:[a-z0-9-]+/)+[a-z0-9%._~:-]+-\d{4}-\d{2}-\d{2}/?$", re.I)   # slugs may keep ":"
_LEGACY_PATH = re.compile(r"^/article/(?:[a-z0-9-]+/)*[a-z0-9%._~-]*id[A-Z0-9]{6,}/?$", re.I)
_UPPER = r"[^\W\d_a-z]"   # a letter other than ASCII lower case ("BOGOTÁ"); case checked after the match
_DATELINE = re.compile(
    rf"^\s*({_UPPER}(?:{_UPPER}|[.'’\- /])*(?:{_UPPER}|\.))"   # CITY (upper case, may be several words)
    r"(?:\s*,\s*[A-Z][a-z]{2,8}\.?\s+\d{1,2})?"    # , March 7
    r"\s*(?:\(Reuters(?: Breakingviews)?\))?"      # (Reuters)
    r"\s*[-–—]\s")
_CREDITS = re.compile(r"^\s*\(?\s*(?:additional\s+)?(?:report(?:ing)?|writing|editing|compiled|"
                      r"written|production)\b.{0,40}?\bby\b", re.I)
_INTERSTITIAL = re.compile(r"^\s*Register now\b|^\s*Sign up here\b|^\s*Our Standards:", re.I)
# Photo-gallery noise around live-page captions: "[1/3] ... Purchase Licensing Rights".
_CAPTION_NOISE = re.compile(r"^\s*\[\d+/\d+\]\s*|\s*Purchase Licensing Rights\s*$", re.I)
_CODE = re.compile(r"^[A-Z0-9]{2,}$")   # Reuters topic codes (GEN, AERO, ...)


@dataclass(frozen=True)
class _Layout:
    name: str
    detect: str                       # CSS selector proving the layout
    paragraphs: str                   # CSS selector of body paragraphs, in document order
    credits: str
    byline: tuple[str, ...]           # selectors of author names, tried in order
    tags: str | None
    caption: str | None
    post: Callable[[list[LexborNode]], list[LexborNode]] | None = None


LAYOUTS = (
    _Layout("fusion-2022", '[data-testid^="paragraph-"]',
            '[data-testid^="paragraph-"], [class*="article-body__content"] > h2, '
            '[class*="article-body__content"] > h3, [class*="article-body__heading"]',
            '[class*="sign-off"], [data-testid="SignOff"]',
            ('[class*="article-header__author"] a[rel="author"]', 'a[class*="author-name__author"]',
             '[data-testid="AuthorName"]', '[class*="article-header__author"]'),
            'a[class*="tags__tag"], [data-testid="Tag"]',
            '[data-testid="primary-image"] figcaption, figure figcaption'),
    _Layout("article-body-2020", 'div.ArticleBodyWrapper p[class*="Paragraph-paragraph"]',
            'div.ArticleBodyWrapper p[class*="Paragraph-paragraph"], '
            'div.ArticleBodyWrapper h3[class*="Paragraph"]',
            '[class*="Attribution-attribution"] p, [class*="Attribution-attribution"]',
            ('a[class*="Byline-author"]', 'p[class*="Byline-byline"]'), None,
            '[class*="Image-caption"], figure figcaption'),
    _Layout("standard-body-2019", 'div.StandardArticleBody_body > p',
            'div.StandardArticleBody_body > p, div.StandardArticleBody_body > h3',
            '.Attribution_content, [class*="Attribution_attribution"]',
            ('.BylineBar_byline a', '.BylineBar_byline'), None,
            '.Image_caption, figure figcaption'),
)


def dateline_of(text: str) -> str | None:
    m = _DATELINE.match(text)
    if not m:
        return None
    city = norm(m.group(1))
    return city if len(city) >= 2 and city == city.upper() else None


class ReutersExtractor(Extractor):
    name = SITE.extractor
    domains = SITE.domains   # sites/reuters.py: the one place the domains are written
    version = "2"

    def is_article_url(self, url: str) -> bool:
        u = urlsplit(url)
        host = (u.hostname or "").lower()
        if host and host not in self.domains:
            return False
        path = u.path
        return bool(_ARTICLE_PATH.match(path) or _LEGACY_PATH.match(path))

    def parse(self, html: str, url: str) -> Article:
        page = Page(html, url)
        tree = page.tree
        quality: list[str] = []
        meta = page.meta
        ld = page.ld_article() or {}
        if ld:
            quality.append("meta:json-ld")

        if tree.css_first('[data-testid="VideoPlayer"]') is not None or isinstance(ld.get("video"), dict):
            quality.append("page:video")   # Reuters TV clip: short description, no byline
        layout = None
        for cand in LAYOUTS:
            if tree.css_first(cand.detect) is not None:
                layout = cand
                break

        # --- title --------------------------------------------------------
        title = norm(ld.get("headline")) or None
        if not title:
            title = page.meta_first("og:title", "twitter:title", "analyticsattributes.title")
            if title:
                quality.append("meta:og")
        if not title:
            title = node_text(tree.css_first("h1")) or None
            if title:
                quality.append("meta:markup")

        authors = _authors(page, ld, layout, quality)

        # --- dates --------------------------------------------------------
        published = first(parse_datetime(ld.get("datePublished")),
                          parse_datetime(meta.get("article:published_time")),
                          parse_datetime(meta.get("og:article:published_time")),
                          parse_datetime(meta.get("analyticsattributes.articledate")))
        modified = first(parse_datetime(ld.get("dateModified")),
                         parse_datetime(meta.get("article:modified_time")),
                         parse_datetime(meta.get("og:article:modified_time")),
                         parse_datetime(meta.get("revision_date")))
        if published is None:
            t = tree.css_first("time[datetime]")
            published = parse_datetime(t.attributes.get("datetime")) if t is not None else None
            if published is not None:
                quality.append("meta:markup")

        summary = first(norm(ld.get("description")) or None,
                        page.meta_first("description", "og:description"))
        section, tags = _section_and_tags(page, url, layout)

        paras, related, credits = _body(page, layout) if layout is not None else ([], [], None)
        dateline = dateline_of(paras[0]) if paras else None
        images = _images(page, ld, layout)

        article = Article(
            url=page.canonical(), site=self.name, title=title, summary=summary,
            authors=authors, published_at=published, modified_at=modified,
            section=section, tags=tags, language=page.lang(), dateline=dateline,
            body="\n\n".join(paras), images=images, credits=credits, related=dedupe(related),
            # The BREAKING strip of the page chrome, kept apart from the body (dedup stores it).
            ticker=[t for t in (node_text(li) for li in tree.css('[data-testid="BreakingNews"] li')) if t],
            extractor=self.name,
            extractor_version=f"{self.version}:{layout.name if layout else 'none'}",
            quality=quality,
        )
        if not ld and "meta:og" not in quality and page.meta_first("og:title"):
            quality.append("meta:og")
        if not paras:
            from .generic import GenericExtractor
            body = GenericExtractor().parse(html, url).body
            if body:
                article.body = body
                article.dateline = dateline_of(article.paragraphs[0])
                quality.append("body:generic")
        for field, value in (("title", title), ("date", published), ("body", article.body),
                             ("authors", authors)):
            if not value:
                quality.append(f"missing:{field}")
        return article


def _section_and_tags(page: Page, url: str, layout) -> tuple[str | None, list[str]]:
    section = page.meta_first("article:section", "og:article:section", "analyticsattributes.topicsubchannel")
    if not section:
        parts = [p for p in urlsplit(url).path.split("/") if p]
        section = parts[0].title() if len(parts) > 1 and parts[0] != "article" else None
    tags: list[str] = []
    if layout is not None and layout.tags:
        tags = dedupe(node_text(n) for n in page.tree.css(layout.tags))
    if not tags:
        kw = page.meta.get("analyticsattributes.topicn2names") or page.meta.get("keywords") or ""
        tags = [t for t in split_list(kw, ",") if not _CODE.match(t)]
    return section, tags


def _authors(page: Page, ld: dict, layout, quality: list[str]) -> list[str]:
    """JSON-LD, then meta tags, then the layout's byline selectors."""
    authors = ld_people(ld.get("author"))
    if not authors:
        a = page.meta_first("article:author", "og:article:author", "author", "analyticsattributes.author")
        authors = split_list(a, ",;") if a else []
    if not authors and layout is not None:
        for sel in layout.byline:
            names = [strip_by(node_text(n)) for n in page.tree.css(sel)]
            authors = dedupe(x for n in names for x in re.split(r",\s*|\s+and\s+", n) if x and len(x) < 80)
            if authors:
                break
        if authors:
            quality.append("meta:markup")
    return authors


def _body(page: Page, layout) -> tuple[list[str], list[str], str | None]:
    """(paragraphs, related URLs, credits) of the layout's body column."""
    tree = page.tree
    paras: list[str] = []
    related: list[str] = []
    credits: str | None = None
    # Inline "More" links point at related stories: keep the URL, drop the text.
    for more in tree.css('a[data-testid="MoreLink"]'):
        href = page.abs(more.attributes.get("href"))
        if href:
            related.append(href)
        more.decompose()
    # Selector groups come back grouped by selector, not in document
    # order: walk the body column's children instead.
    first_p = tree.css_first(layout.detect)
    column = first_p.parent if first_p is not None else None
    blocks = [n for n in column.iter() if n.css_matches(layout.paragraphs)] if column is not None else []
    for n in blocks:
        t = node_text(n)
        if not t or _INTERSTITIAL.match(t):
            continue
        if _CREDITS.match(t) and len(t) < 400:
            credits = credits or t.strip("()")
            continue
        paras.append(t)
    if credits is None:
        c = tree.css_first(layout.credits)
        credits = node_text(c).strip("() ") or None if c is not None else None
    return paras, related, credits


def _images(page: Page, ld: dict, layout) -> list[Image]:
    img_url = first(ld_image(ld.get("image")), page.meta_first("og:image"), ld_image(ld.get("thumbnailUrl")))
    if not img_url:
        return []
    cap = None
    if layout is not None and layout.caption:
        cap = _CAPTION_NOISE.sub("", node_text(page.tree.css_first(layout.caption))) or None
    return [Image(page.abs(img_url), cap or page.meta_first("twitter:image:alt"))]


registry.register(ReutersExtractor())
