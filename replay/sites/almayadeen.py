"""english.almayadeen.net pages, following docs/MARKUP.md (the contract with extractors/almayadeen.py)."""
from __future__ import annotations

import json
from urllib.parse import urlsplit

from ..corpus import BEIRUT, CorpusArticle, slugify
from .common import Teaser, esc

HOST = "english.almayadeen.net"
BASE = f"https://{HOST}"
SITEMAP_INDEX = "/sitemaps/all.xml"
RSS = "/rss"
DISALLOW = ["/account/", "/search", "/api/"]


def month_sitemap_path(y: int, m: int) -> str:
    return f"/sitemaps/all/sitemap-{y}-{m}.xml"   # month not zero-padded, as on the real site


MENU = {
    "News": ["Politics", "Economy", "Sports", "Arts&Culture", "Health", "Miscellaneous", "Technology", "Environment"],
    "Articles": ["Opinion", "Analysis", "Blog", "Features"],
    "Videos": ["NewsFeed", "Video Features", "Explainers", "TV", "Digital Series"],
}
REGIONS = ["Africa", "Asia", "Asia-Pacific", "Europe", "Latin America", "MENA", "Palestine", "US & Canada"]


def _rel(url: str) -> str:
    p = urlsplit(url)
    return p.path + (f"?{p.query}" if p.query else "")


def _postid(a: CorpusArticle) -> str:
    return str(700000 + a.index) if a.index < 10**6 else str(a.index)


def _header() -> str:
    menus = "".join(
        f'<li class="menu-item"><a href="/{top.lower()}">{esc(top)}</a><ul class="sub-menu">'
        + "".join(f'<li><a href="/{top.lower()}/{slugify(s)}">{esc(s)}</a></li>' for s in subs) + "</ul></li>"
        for top, subs in MENU.items())
    regions = "".join(f'<li><a href="/regions/{slugify(r)}">{esc(r)}</a></li>' for r in REGIONS)
    return ('<header class="site-header"><div class="logo"><a href="/">Al Mayadeen English</a></div>'
            '<ul class="lang-links"><li><a href="https://www.almayadeen.net/">Ar</a></li>'
            '<li><a href="https://espanol.almayadeen.net/">Es</a></li></ul><span class="slogan">Slogan</span>'
            f'<nav class="main-menu"><ul>{menus}<li><a href="/infographs">Infographs</a></li>'
            '<li><a href="/in-pictures">In Pictures</a></li><li class="live"><a href="/live">LIVE</a></li></ul></nav>'
            f'<nav class="regions-menu"><ul>{regions}</ul></nav></header>')


def _ticker(items: list[str]) -> str:
    lis = "".join(f"<li>{esc(t)}</li>" for t in items)
    return f'<div class="breaking-news"><span class="breaking-title">BREAKING</span><ul class="breaking-list">{lis}</ul></div>'


def _footer() -> str:
    return ('<footer class="site-footer"><p>Al Mayadeen English</p><p>Al Mayadeen is an Arab Independent Media '
            'Satellite Channel.</p><p>All Rights Reserved</p><ul class="footer-links"><li><a href="/privacy">Privacy '
            'Policy</a></li><li><a href="/about-us">About Us</a></li><li><a href="/contact-us">Contact Us</a></li>'
            '<li><a href="/authors">Authors</a></li></ul><div class="apps"><a href="https://play.google.com/store/'
            'apps/details?id=net.almayadeen.english">Android</a><a href="https://apps.apple.com/app/'
            'al-mayadeen-english/id1">iOS</a></div></footer>')


def _cards(teasers: list[Teaser], cls: str) -> str:
    return "".join(
        f'<div class="{cls}"><a href="{esc(_rel(t.url))}"><h3>{esc(t.title)}</h3></a>'
        f'<ul class="card-meta"><li>{esc(t.section)}</li><li>{t.published.astimezone(BEIRUT):%d %b %Y}</li></ul></div>'
        for t in teasers)


def _when(dt, shown: str = "%d %b %Y %H:%M") -> str:
    local = dt.astimezone(BEIRUT)
    return f'<time datetime="{local.isoformat()}">{local.strftime(shown)}</time>'


def render_article(a: CorpusArticle, ticker: list[str], most_read: list[Teaser], read_next: list[Teaser],
                   redesign: bool = False, amp: bool = False) -> str:
    if redesign:
        return _render_redesign(a, ticker, amp)
    pub, mod = a.published.astimezone(BEIRUT), a.modified.astimezone(BEIRUT)
    author = ", ".join(a.authors)
    thumb = a.images[0].url if a.images else ""
    posttype = "News" if a.section_path.startswith("news/") else a.section_path.split("/")[0].title()
    video = a.variant == "video"
    tawsiyat = {
        "type": "videoobject" if video else "article", "postid": _postid(a), "title": a.title, "url": a.url,
        "keywords": ",".join(a.tags), "thumbnail": thumb, "video_duration": a.video_duration or "", "word_count": str(a.word_count), "lang": "en",
        "published_time": pub.isoformat(), "last_updated": mod.isoformat(), "description": a.standfirst or "",
        "author": author,
        "classes": [{"key": "class1", "mapping": "posttype", "value": posttype},
                    {"key": "class2", "mapping": "category", "value": a.section},
                    {"key": "class3", "mapping": "country", "value": a.tags[2] if len(a.tags) > 2 else ""},
                    {"key": "class6", "mapping": "author", "value": author}],
        "html": "", "lite_url": f"{BASE}/lite{urlsplit(a.url).path}",
    }
    ld = {"@context": "https://schema.org", "@type": "Article", "headline": a.title,
          "datePublished": pub.isoformat(), "dateModified": mod.isoformat(), "articleSection": a.section,
          "wordCount": a.word_count, "thumbnailUrl": thumb}
    if video:   # video pages describe the clip, not an article
        mm, ss = (a.video_duration or "00:00").split(":")
        ld = {"@context": "https://schema.org", "@type": "VideoObject", "name": a.title,
              "description": a.standfirst or "", "uploadDate": pub.isoformat(), "dateModified": mod.isoformat(),
              "duration": f"PT{int(mm)}M{int(ss)}S", "thumbnailUrl": thumb}
    people = [{"@type": "Organization" if n.startswith("Al Mayadeen") else "Person", "name": n} for n in a.authors]
    if people:
        ld["author"] = people[0] if len(people) == 1 else people

    def dump(obj) -> str:   # JSON inside <script>: keep "</" from closing the element
        return json.dumps(obj, ensure_ascii=False).replace("</", "<\\/")

    metas = "".join(f'<li class="author">By <a href="/authors/{slugify(n)}">{esc(n)}</a></li>' for n in a.authors)
    if a.source:
        metas += f'<li class="source">Source: {esc(a.source)}</li>'
    metas += f'<li class="date">{_when(a.published)}</li>'
    image = ""
    if video:
        image = (f'<div class="video-player"><video controls poster="{esc(thumb)}" src="https://vod.almayadeen.net/'
                 f'{_postid(a)}.mp4"></video><span class="video-duration">{esc(a.video_duration)}</span></div>')
    elif a.images:
        im = a.images[0]
        image = (f'<figure class="article-image"><img src="{esc(im.url)}" alt="{esc(im.caption)}">'
                 f"<figcaption>{esc(im.caption)}</figcaption></figure>")
    texts = a.raw_text or tuple(t for _, t in a.body)
    parts = []
    related = list(zip(a.related_titles, a.related))
    for k, ((kind, _), text) in enumerate(zip(a.body, texts)):
        if kind == "h":
            parts.append(f"<h3>{esc(text)}</h3>")
        elif text.startswith("UPDATE: "):   # the site bolds the label of an update note
            parts.append(f'<p class="update-note"><strong>UPDATE:</strong> {esc(text[8:])}</p>')
        else:
            parts.append(f"<p>{esc(text)}</p>")
        if k == a.related_after and related:
            lis = "".join(f'<li><a href="{esc(_rel(u))}"><p>{esc(t)}</p></a></li>' for t, u in related)
            parts.append(f'<div class="related-news"><span class="related-title">Related News</span><ul>{lis}</ul></div>')
    tags = "".join(f'<li><a href="/tags/{slugify(t)}">{esc(t)}</a></li>' for t in a.tags)
    dossier = ""
    if a.dossier:
        d = a.dossier
        dossier = (f'<div class="dossier-box"><span class="dossier-label">{esc(d["title"])}</span>'
                   f'<a href="{esc(_rel(d["url"]))}"><h4>{esc(d["title"])}</h4></a><p>{esc(d["text"])}</p></div>')
    read_time = "" if video else f'<span class="read-time">{esc(a.read_time or "2 Min Read")}</span>'
    og_image = f'<meta property="og:image" content="{esc(thumb)}">' if thumb else ""
    return (
        f'<!DOCTYPE html>\n<html lang="en"{" amp" if amp else ""}>\n<head><meta charset="utf-8">'
        f"<title>{esc(a.title)} | Al Mayadeen English</title>"
        f'<link rel="canonical" href="{esc(a.url)}">'
        f'<meta name="postid" content="{_postid(a)}"><meta name="keywords" content="{esc(",".join(a.tags))}">'
        f'<meta name="description" content="{esc(a.standfirst)}"><meta name="author" content="{esc(author)}">'
        f'<meta property="og:title" content="{esc(a.title)}">{og_image}'
        f'<meta property="article:published_time" content="{pub.isoformat()}">'
        f'<meta property="article:modified_time" content="{mod.isoformat()}">\n'
        f'<script id="tawsiyat-metadata" type="text/tawsiyat">{dump(tawsiyat)}</script>\n'
        f'<script type="application/ld+json">{dump(ld)}</script>\n</head>\n<body>'
        f"{_header()}\n{_ticker(ticker)}\n"
        f'<main><article class="article-page"><h1 class="article-title">{esc(a.title)}</h1>'
        f'<ul class="article-meta">{metas}</ul>{read_time}'
        f'<p class="lg_para summary">{esc(a.standfirst)}</p>'
        f'<div class="share-buttons"><a href="https://x.com/intent/tweet?url={esc(a.url)}">x</a></div>'
        f'{image}\n<div class="p-content">{"".join(parts)}</div>\n<ul class="tags">{tags}</ul>{dossier}'
        f"</article></main>\n"
        f'<aside class="most-read"><h2>Most Read</h2>{_cards(most_read, "most-read-item")}</aside>'
        f'<section class="coverage"><h2>Coverage</h2><ul><li>All</li><li>In Five</li></ul></section>'
        f'<section class="read-next"><h2>Read Next</h2>{_cards(read_next, "read-next-item")}</section>\n'
        f"{_footer()}</body></html>\n")


def _render_redesign(a: CorpusArticle, ticker: list[str], amp: bool) -> str:
    """The 'redesigned' template: new class names, no tawsiyat, no JSON-LD (drift-alarm tests)."""
    byline = " &amp; ".join(esc(n) for n in a.authors)
    body = "".join(f"<h2 class='story-sub'>{esc(t)}</h2>" if k == "h" else f"<p class='story-par'>{esc(t)}</p>"
                   for k, t in a.body)
    return (f'<!DOCTYPE html>\n<html lang="en"{" amp" if amp else ""}><head><meta charset="utf-8">'
            f'<title>{esc(a.title)} - Al Mayadeen</title><link rel="canonical" href="{esc(a.url)}"></head><body>'
            f'<div class="top-bar"><a href="/">Al Mayadeen English</a></div>'
            f'<div class="urgent-strip">{"".join(f"<span>{esc(t)}</span>" for t in ticker)}</div>'
            f'<div class="story"><h1 class="story__headline">{esc(a.title)}</h1>'
            f'<div class="story__byline">{byline}</div><div class="story__time">{a.published:%d/%m/%Y}</div>'
            f'<div class="story__lead">{esc(a.standfirst)}</div><div class="story__text">{body}</div></div>'
            f"</body></html>\n")


def render_listing(heading: str, teasers: list[tuple[Teaser, str]], ticker: list[str], next_href: str | None) -> str:
    """Home/section page: chrome + newest-first article links (href may be a tracking/AMP variant).

    Each item carries its publication time in ``<time datetime>`` so a backfill can page back to a window."""
    items = "".join(
        f'<li class="news-item"><a href="{esc(_rel(href))}"><h3 class="news-title">{esc(t.title)}</h3></a>'
        f'<span class="news-section">{esc(t.section)}</span>'
        f'<span class="news-date">{_when(t.published, "%d %b %Y")}</span></li>' for t, href in teasers)
    nxt = f'<a class="next-page" rel="next" href="{esc(next_href)}">More</a>' if next_href else ""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(heading)} | Al Mayadeen '
            f'English</title></head><body>{_header()}\n{_ticker(ticker)}\n<main><h1 class="page-title">'
            f'{esc(heading)}</h1><ul class="news-list">{items}</ul>{nxt}</main>{_footer()}</body></html>\n')
