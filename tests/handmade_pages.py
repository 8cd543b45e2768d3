"""Hand-written seed pages, rendered strictly from docs/MARKUP.md and the seed
records in replay/data/seeds.json (texts as in ../shared/seeds/*.txt).

Used by tests/regen_pages.py when the replay templates (replay/sites/*.py)
are not available; the replay's own renderings are added beside them when
they are.
"""
from __future__ import annotations

import json
from datetime import datetime
from html import escape
from pathlib import Path

SEEDS = Path(__file__).resolve().parents[1] / "replay" / "data" / "seeds.json"


def load_seeds() -> dict:
    return json.loads(SEEDS.read_text(encoding="utf-8"))


def _e(s) -> str:
    return escape(str(s or ""), quote=True)


TICKER = [
    "French Foreign Ministry spokesperson says E3 wants to reopen the way for diplomacy with the Iranian nuclear program.",
    "Araghchi: The Cairo agreement has been effectively cancelled following the illegal action taken by the E3 countries at the Security Council",
    "Iran's representative in Vienna: The IAEA's decision aims to exert illegal pressure on Tehran",
]


def almayadeen(seed: dict) -> str:
    pub = datetime.fromisoformat(seed["published"])
    img0 = seed["images"][0]["url"] if seed["images"] else ""
    tw = {
        "type": "article", "postid": "12345", "title": seed["title"], "url": seed["url"],
        "keywords": ",".join(seed["tags"]), "thumbnail": img0,
        "video_duration": "", "word_count": "320", "lang": "en",
        "published_time": seed["published"], "last_updated": seed["modified"],
        "description": seed["standfirst"], "author": ", ".join(seed["authors"]),
        "classes": [{"key": "class1", "mapping": "posttype", "value": "News"},
                    {"key": "class2", "mapping": "category", "value": seed["section"]},
                    {"key": "class3", "mapping": "country", "value": seed.get("country", "")},
                    {"key": "class6", "mapping": "author", "value": seed["authors"][0]}],
        "html": "", "lite_url": "",
    }
    ld = {"@context": "https://schema.org", "@type": "Article", "headline": seed["title"],
          "datePublished": seed["published"], "dateModified": seed["modified"],
          "articleSection": seed["section"], "wordCount": 320,
          "author": {"@type": "Organization", "name": seed["authors"][0]},
          "thumbnailUrl": img0}
    related = {r["title"]: r["url"] for r in seed["related"]}
    body = []
    for block in seed["body"]:
        if block["kind"] == "p":
            body.append(f"<p>{_e(block['text'])}</p>")
        elif block["kind"] == "h":
            body.append(f"<h3>{_e(block['text'])}</h3>")
        elif block["kind"] == "related":
            lis = "".join(f'<li><a href="{_e(related.get(h, "/news/politics/x"))}"><p>{_e(h)}</p></a></li>'
                          for h in block["headlines"])
            body.append('<div class="related-news"><span class="related-title">Related News</span>'
                        f"<ul>{lis}</ul></div>")
    img = seed["images"][0] if seed["images"] else {"url": "", "caption": ""}
    figure = (f'<figure class="article-image"><img src="{_e(img["url"])}" alt="{_e(img["caption"])}">'
              f'<figcaption>{_e(img["caption"])}</figcaption></figure>') if seed["images"] else ""
    source = f'<li class="source">Source: {_e(seed["source"])}</li>' if seed.get("source") else ""
    dossier = seed.get("dossier") or {"title": "Coverage", "text": "More coverage."}
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>{_e(seed['title'])} | Al Mayadeen English</title>
<link rel="canonical" href="{_e(seed['url'])}">
<meta name="postid" content="12345"><meta name="keywords" content="{_e(','.join(seed['tags']))}">
<meta name="description" content="{_e(seed['standfirst'])}"><meta name="author" content="{_e(seed['authors'][0])}">
<meta property="og:title" content="{_e(seed['title'])}"><meta property="og:image" content="{_e(img0)}">
<meta property="article:published_time" content="{_e(seed['published'])}">
<meta property="article:modified_time" content="{_e(seed['modified'])}">
<script id="tawsiyat-metadata" type="text/tawsiyat">{json.dumps(tw, ensure_ascii=False)}</script>
<script type="application/ld+json">{json.dumps(ld, ensure_ascii=False)}</script>
</head><body>
<header class="site-header"><ul class="langs"><li><a href="https://www.almayadeen.net">Ar</a></li><li><a href="https://espanol.almayadeen.net">Es</a></li></ul>
<nav><ul><li><a href="/news">News</a><ul><li><a href="/news/politics">Politics</a></li><li><a href="/news/economy">Economy</a></li></ul></li><li><a href="/articles">Articles</a></li><li><a href="/videos">Videos</a></li></ul></nav></header>
<div class="breaking-news"><span class="breaking-title">BREAKING</span><ul class="breaking-list">{''.join(f'<li>{_e(t)}</li>' for t in TICKER)}</ul></div>
<main><article class="article-page">
<h1 class="article-title">{_e(seed['title'])}</h1>
<ul class="article-meta">
{''.join(f'<li class="author">By <a href="/authors/al-mayadeen-net">{_e(a)}</a></li>' for a in seed['authors'])}
{source}
<li class="date"><time datetime="{_e(seed['published'])}">{pub.strftime('%d %b %Y %H:%M')}</time></li>
</ul>
<span class="read-time">{_e(seed['read_time'])}</span>
<p class="lg_para summary">{_e(seed['standfirst'])}</p>
<div class="share-buttons"><a href="#">x</a></div>
{figure}
<div class="p-content">
{chr(10).join(body)}
</div>
<ul class="tags">{''.join(f'<li><a href="/tags/{_e(t.lower().replace(" ", "-"))}">{_e(t)}</a></li>' for t in seed['tags'])}</ul>
<div class="dossier-box"><h3>{_e(dossier['title'])}</h3><p>{_e(dossier['text'])}</p></div>
</article></main>
<aside class="most-read"><h2>Most Read</h2><ul><li><a href="/news/politics/un-states">UN states overwhelmingly back Russia's anti-Nazism resolution</a></li></ul></aside>
<section class="coverage"><h2>Coverage</h2></section>
<section class="read-next"><h2>Read Next</h2><p>Irish Ryanair drops Tel Aviv from destinations as 'Israel' row deepens</p></section>
<footer class="site-footer"><p>Al Mayadeen is an Arab Independent Media Satellite Channel.</p><a href="#">Android</a><a href="#">iOS</a></footer>
</body></html>"""


_P = ('class="text__text__1FZLe text__dark-grey__3Ml43 text__regular__2N1Xr text__large__nEccO '
      'body__full_width__ekUdw body__large_body__FV5_X article-body__element__2p5pI"')


def reuters(seed: dict) -> str:
    pub = datetime.fromisoformat(seed["published"])
    ld = {"@context": "https://schema.org", "@type": "NewsArticle",
          "mainEntityOfPage": {"@type": "WebPage", "@id": seed["url"]},
          "headline": seed["title"], "description": seed["standfirst"],
          "datePublished": seed["published"], "dateModified": seed["modified"],
          "publisher": {"@type": "Organization", "name": "Reuters"}}
    if seed["authors"]:
        ld["author"] = [{"@type": "Person", "name": a} for a in seed["authors"]]
    byline = ('<div data-testid="Text" class="article-header__author__3PcB3">By '
              + " and ".join(f'<a href="/authors/x/" rel="author">{_e(a)}</a>' for a in seed["authors"])
              + "</div>") if seed["authors"] else ""
    paras, i = [], 0
    for block in seed["body"]:
        if block["kind"] == "register":
            paras.append('<div data-testid="RegisterInterstitial" class="register-interstitial">'
                         'Register now and get FREE unlimited access to '
                         '<a href="/account/register/">Reuters.com</a></div>')
        elif block["kind"] == "h":   # not on the real 2023 page: an h2 in the body column
            paras.append(f'<h2 data-testid="Heading" class="article-body__heading__2YxRq">{_e(block["text"])}</h2>')
        elif block["kind"] == "p":
            more = (f' <a data-testid="MoreLink" href="{_e(block["more_link"])}">More</a>'
                    if block.get("more_link") else "")
            paras.append(f'<p data-testid="paragraph-{i}" {_P}>{_e(block["text"])}{more}</p>')
            i += 1
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8">
<title>{_e(seed['title'])} | Reuters</title>
<link rel="canonical" href="{_e(seed['url'])}">
<meta property="og:title" content="{_e(seed['title'])}"><meta property="og:type" content="article">
<meta property="og:url" content="{_e(seed['url'])}"><meta property="og:description" content="{_e(seed['standfirst'])}">
<meta property="og:site_name" content="Reuters">
<meta name="article:published_time" content="{_e(seed['published'])}">
<meta name="article:modified_time" content="{_e(seed['modified'])}">
<meta name="article:section" content="{_e(seed['section'])}">
<meta name="description" content="{_e(seed['standfirst'])}">
<script type="application/ld+json">{json.dumps(ld, ensure_ascii=False)}</script>
</head><body><div id="fusion-app" class="fusion-app">
<header data-testid="SiteHeader"><a data-testid="Text" href="/">Reuters home</a><a href="/world/">World</a><button>More</button></header>
<main id="main-content" role="main"><article class="article__container__2MUeZ"><div class="article__main__33WV2"><div class="article__content__6hMn9">
<header class="article-header__container"><time data-testid="Text" class="article-header__dateline__4jE04" datetime="{_e(seed['published'])}">{_e(seed['read_time'])}{pub.strftime('%B %-d, %Y')}</time>
<h1 data-testid="Heading" class="article-header__title__3Y2hh">{_e(seed['title'])}</h1>{byline}</header>
<div><div class="article-body__container__3ypuX"><div class="article-body__content__17Yit paywall-article">
{chr(10).join(paras)}
<div class="article-body__element__2p5pI"><span data-testid="Text" class="sign-off__text__PU3Aj">{_e(seed['credits'])}</span></div>
<p data-testid="Body" class="article-body__element__2p5pI">Our Standards: <a data-testid="Link" href="https://www.thomsonreuters.com/en/about-us/trust-principles.html">Trust Principles.</a></p>
</div></div></div>
</div></div></article></main>
<footer data-testid="SiteFooter"><p data-testid="Body">All quotes delayed a minimum of 15 minutes.</p></footer>
</div></body></html>"""


def from_corpus(ca) -> dict:
    """A replay ``CorpusArticle`` as a seed-like record for the templates above."""
    blocks = []
    for pos, (kind, text) in enumerate(ca.body):
        block = {"kind": kind, "text": text}
        for at, url in ca.more_links:
            if at == pos:
                block["more_link"] = url
        blocks.append(block)
        if ca.related_after == pos and ca.related_titles:
            blocks.append({"kind": "related", "headlines": list(ca.related_titles)})
        if pos in ca.register_after:
            blocks.append({"kind": "register"})
    return {
        "site": ca.site, "url": ca.url, "title": ca.title, "standfirst": ca.standfirst or "",
        "authors": list(ca.authors), "source": ca.source,
        "published": ca.published.isoformat(), "modified": ca.modified.isoformat(),
        "section": ca.section, "tags": list(ca.tags), "read_time": ca.read_time or "2 Min Read",
        "images": [{"url": im.url, "caption": im.caption} for im in ca.images],
        "body": blocks, "dossier": ca.dossier, "credits": ca.credits,
        "related": [{"title": t, "url": u} for t, u in zip(ca.related_titles, ca.related)],
    }
