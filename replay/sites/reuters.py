"""www.reuters.com pages in the 2022/2023 "Fusion" markup (docs/MARKUP.md).

Element names, data-testids and class prefixes are copied from the real page
../shared/pages/reuters/fundus-2023-nepal-flydubai.html (hash suffixes included),
so the extractor written against the contract also handles real captures.
"""
from __future__ import annotations

import json
from datetime import timezone

from ..corpus import CorpusArticle, slugify
from .common import Teaser, esc

HOST = "www.reuters.com"
BASE = f"https://{HOST}"
SITEMAP_INDEX = "/arc/outboundfeeds/sitemap-index/?outputType=xml"
NEWS_SITEMAP = "/arc/outboundfeeds/news-sitemap/?outputType=xml"
RSS = "/arc/outboundfeeds/rss/?outputType=xml"
DISALLOW = ["/account/", "/search", "/pf/api/"]
NAV = ["World", "Business", "Markets", "Sustainability", "Legal", "Breakingviews", "Technology", "Investigations"]

P_CLS = ("text__text__1FZLe text__dark-grey__3Ml43 text__regular__2N1Xr text__large__nEccO body__full_width__ekUdw "
         "body__large_body__FV5_X article-body__element__2p5pI")
LINK_CLS = "text__text__1FZLe text__dark-grey__3Ml43 text__medium__1kbOh text__large__nEccO link__underline_default__2prE_"
AD = ('<div data-testid="ResponsiveAdSlot" class="spacing-container__container__2g5QT"><div class="ad-slot__container__FEnoz">'
      '<span data-testid="Label" class="label__label__f9Hew ad-slot__scroll-notice__GCgrV">Advertisement · Scroll to '
      'continue</span></div></div>')
REGISTER = ('<div data-testid="RegisterInterstitial" class="register-interstitial">Register now and get FREE unlimited '
            'access to <a href="/account/register/">Reuters.com</a></div>')


def month_sitemap_path(y: int, m: int) -> str:
    return f"/arc/outboundfeeds/sitemap/{y}-{m:02d}/?outputType=xml"


def zulu(dt) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _updated(a: CorpusArticle) -> str:
    """The "Updated N hours ago" note of revised stories (relative to publication, to stay deterministic)."""
    hours = int((a.modified - a.published).total_seconds() // 3600)
    if a.variant != "update" or hours < 1:
        return ""
    return f'<span class="date-line__date__23Ge- date-line__updated__1Xs2k">Updated {hours} hour{"s" if hours > 1 else ""} ago</span>'


def _site_header() -> str:
    items = "".join(
        f'<li class="nav-bar__nav-item__1p3l9 nav-bar__category__16MHp"><a data-testid="Text" href="{BASE}/'
        f'{slugify(n)}/" data-nav="{n}" class="text__text__1FZLe nav-bar__link__3mja8">{n}</a></li>' for n in NAV)
    return ('<header data-testid="SiteHeader"><div class="site-header__container__1qvTA"><div class="site-header__logo-'
            f'container__InRNf"><a data-testid="Text" href="{BASE}/" class="site-header__logo__2Et3d"><span>Reuters home'
            '</span><span data-testid="ReutersLogo"></span></a></div><nav aria-label="Main navigation"><ul class="nav-bar__'
            f'nav-list__1eoTx">{items}</ul></nav><a href="/account/sign-in/">Sign In</a><a href="/account/register/">'
            'Register</a></div></header>')


def _ticker(items: list[str]) -> str:
    # Not on the captured page; same class names as the Al Mayadeen contract so one selector reads both.
    lis = "".join(f"<li>{esc(t)}</li>" for t in items)
    return (f'<div data-testid="BreakingNews" class="breaking-news"><span class="breaking-title">BREAKING</span>'
            f'<ul class="breaking-list">{lis}</ul></div>')


def _footer() -> str:
    return ('<footer data-testid="SiteFooter"><div class="site-footer__container"><a href="/info-pages/about-us/">About '
            'Reuters</a><a href="https://www.thomsonreuters.com/en/about-us/trust-principles.html">Trust Principles</a>'
            '<a href="/info-pages/privacy-policy/">Privacy</a><p>All quotes delayed a minimum of 15 minutes.</p>'
            '<p>© 2022 Reuters. All rights reserved</p></div></footer>')


def _card(t: Teaser, href: str) -> str:
    return (f'<li data-testid="MediaStoryCard" class="media-story-card__hero__2nvVj story-card">'
            f'<a data-testid="Heading" href="{esc(href)}" class="text__text__1FZLe heading__base__2T28j '
            f'media-story-card__heading__eqhp9"><span>{esc(t.title)}</span></a>'
            f'<span data-testid="Label" class="media-story-card__section__SyzaT">{esc(t.section)}</span>'
            f'<time data-testid="Label" class="media-story-card__time__2i9EK" datetime="{zulu(t.published)}">'
            f'{t.published.astimezone(timezone.utc):%B %d, %Y}</time></li>')


def render_article(a: CorpusArticle, ticker: list[str], most_read: list[Teaser], read_next: list[Teaser],
                   redesign: bool = False, amp: bool = False) -> str:
    if redesign:
        return _render_redesign(a, ticker, amp)
    pub_utc = a.published.astimezone(timezone.utc)
    desc = a.standfirst or ""
    image_url = a.images[0].url if a.images else ""
    ld = {"@context": "https://schema.org", "@type": "NewsArticle",
          "mainEntityOfPage": {"@type": "WebPage", "@id": a.url}, "headline": a.title, "description": desc,
          "datePublished": zulu(a.published), "dateModified": zulu(a.modified),
          "publisher": {"@id": BASE, "@type": "Organization", "name": "Reuters"},
          "isAccessibleForFree": False,
          "hasPart": {"@type": "WebPageElement", "isAccessibleForFree": False, "cssSelector": ".paywall-article"}}
    if image_url:
        ld["image"] = image_url
    if a.variant == "video":
        mm, ss = (a.video_duration or "00:00").split(":")
        ld["video"] = {"@type": "VideoObject", "name": a.title, "duration": f"PT{int(mm)}M{int(ss)}S",
                       "thumbnailUrl": image_url, "uploadDate": zulu(a.published)}
    people = [{"@type": "Person", "byline": n} for n in a.authors]
    if people:   # the real page: one object with "byline"; several authors -> a list of them
        ld["author"] = people[0] if len(people) == 1 else people
    ld_json = json.dumps(ld, ensure_ascii=False).replace("</", "<\\/")
    keywords = ",".join(a.tags)
    head = (f'<!DOCTYPE html>\n<html lang="en"{" amp" if amp else ""}><head>'
            '<meta http-equiv="content-type" content="text/html; charset=UTF-8">'
            f"<title>{esc(a.title)} | Reuters</title>"
            f'<meta property="og:title" content="{esc(a.title)}"><meta property="og:type" content="article">'
            + (f'<meta property="og:image" content="{esc(image_url)}">' if image_url else "")
            + f'<meta property="og:url" content="{esc(a.url)}"><meta property="og:description" content="{esc(desc)}">'
            f'<meta property="og:site_name" content="Reuters">'
            f'<meta name="article:published_time" content="{zulu(a.published)}">'
            f'<meta name="article:modified_time" content="{zulu(a.modified)}">'
            + (f'<meta name="article:author" content="{esc(", ".join(a.authors))}">' if a.authors else "")
            + f'<meta name="article:section" content="{esc(a.section)}">'
            f'<meta name="article:tag" content="{esc(keywords)}"><meta name="keywords" content="{esc(keywords)}">'
            f'<meta name="description" content="{esc(desc)}">'
            f'<meta name="analyticsAttributes.topicChannel" content="{esc(a.section_path.split("/")[0].title())}">'
            f'<meta name="analyticsAttributes.topicSubChannel" content="{esc(a.section)}">'
            f'<meta property="og:article:published_time" content="{zulu(a.published)}">'
            f'<link rel="canonical" href="{esc(a.url)}">'
            f'<script type="application/ld+json">{ld_json}</script></head>\n')
    tags = "".join(
        f'<li class="tags__tag-item__iG2wd"><a data-testid="Button" href="{BASE}/topic/{slugify(t)}/" class="button__link__'
        f'uTGln tags__tag__39Uu2"><span class="button__container__3sgvk"><span data-testid="Text" class="text__text__'
        f'1FZLe text__bold__2-8Kc">{esc(t)}</span></span></a></li>' for t in a.tags)
    byline = ""
    if a.authors:
        links = [f'<a href="{BASE}/authors/{slugify(n)}/" rel="author" class="author-name__author__1gx5k">{esc(n)}</a>'
                 for n in a.authors]
        byline = (f'<div data-testid="Text" class="text__text__1FZLe text__small__1kGq2 article-header__author__3PcB3">'
                  f'<div class="author-name__author-tooltip-container__1EJpK">By {_and(links)}</div></div>')
    header = (f'<header article_id="{a.index}" domain="{BASE}"><div class="article-header__container__25s8m">'
              f'<div class="article-header__heading__15OpQ"><span data-testid="Heading" class="text__text__1FZLe '
              f'heading__base__2T28j"><nav class="article-header__tags__3-jcV"><ul class="tags__tag-list__2EKvP">{tags}'
              f'</ul></nav></span><time data-testid="Text" datetime="{zulu(a.published)}" class="text__text__1FZLe '
              f'text__extra_small__1Mw6v article-header__dateline__4jE04"><span class="date-line__date__23Ge-">'
              f'{esc(a.read_time or "2 minute read")}</span><span class="date-line__date__23Ge-">'
              f'{pub_utc:%B} {pub_utc.day}, {pub_utc.year}</span><span class="date-line__date__23Ge-">'
              f'{pub_utc.strftime("%I:%M %p").lstrip("0")} UTC</span>{_updated(a)}</time>'
              f'<h1 data-testid="Heading" class="text__text__1FZLe text__heading_3__1kDhc heading__base__2T28j '
              f'article-header__title__3Y2hh">{esc(a.title)}</h1>{byline}</div></div></header>')
    image = ""
    if a.variant == "video":
        image = (f'<div data-testid="VideoPlayer" class="article-body__primary-asset__2nVOM video-player__container__'
                 f'3Ptvw"><video controls poster="{esc(image_url)}"></video><span data-testid="Label" class="video-'
                 f'player__label__1b2Xc">Reuters TV</span><span class="video-player__duration__2vbHz">'
                 f'{esc(a.video_duration)}</span></div>')
    elif a.images:
        im = a.images[0]
        caption = esc(im.caption)
        if a.variant == "update":   # gallery counter and licensing link, as on live pages
            caption = (f'<span class="primary-image__count__1Ss1N">[1/3]</span> {caption} <a data-testid="Link" '
                       f'href="https://www.reutersagency.com/en/licensing/">Purchase Licensing Rights</a>')
        image = (f'<div data-testid="primary-image" class="article-body__primary-asset__2nVOM" role="figure">'
                 f'<figure class="primary-image__container__3_KhI"><div data-testid="Image" class="primary-image__image'
                 f'__1zwAE"><img src="{esc(im.url)}" alt="{esc(im.caption)}"></div><figcaption data-testid="Body" '
                 f'class="text__text__1FZLe primary-image__caption__3Ayt0">{caption}</figcaption></figure></div>')
    more = dict(a.more_links)
    parts, n = [], 0
    for k, (kind, text) in enumerate(a.body):
        if kind == "h":
            parts.append(f'<h2 data-testid="Heading" class="text__text__1FZLe heading__base__2T28j '
                         f'article-body__element__2p5pI">{esc(text)}</h2>')
        else:
            link = (f' <a data-testid="MoreLink" href="{esc(more[k].removeprefix(BASE))}">More</a>' if k in more else "")
            parts.append(f'<p data-testid="paragraph-{n}" class="{P_CLS}">{esc(text)}{link}</p>')
            n += 1
            if n == 2:
                parts.append(AD)
        if k in a.register_after:
            parts.append(REGISTER)
    signoff = (f'<div class="article-body__element__2p5pI"><span data-testid="Text" class="text__text__1FZLe '
               f'text__default__UPMUu sign-off__text__PU3Aj">{esc(a.credits)}</span></div>') if a.credits else ""
    trust = (f'<p data-testid="Body" class="text__text__1FZLe body__base__22dCE article-body__element__2p5pI">Our '
             f'Standards: <a data-testid="Link" href="https://www.thomsonreuters.com/en/about-us/trust-principles.html" '
             f'target="_blank" class="{LINK_CLS}">Trust Principles.</a></p>')
    body = (f'<div class="article-body__container__3ypuX">{image}<div class="article-body__content__17Yit paywall-'
            f'article">{"".join(parts)}{signoff}{trust}</div></div>')
    cards = "".join(_card(t, t.url) for t in read_next)
    topic = (f'<div data-testid="Topic" class="spacing-container__container__2g5QT"><div class="topic__header__3T_p2">'
             f'<h2 data-testid="SectionName" class="text__text__1FZLe topic__label__zIaRe"><a data-testid="Link" href="'
             f'{BASE}/{a.section_path}/">{esc(a.section)}</a></h2></div><ul class="story-collection__list__2M49i">'
             f'{"".join(_card(t, t.url) for t in most_read)}</ul></div>')
    return (f'{head}<body><div id="fusion-app" class="fusion-app">{_site_header()}{_ticker(ticker)}'
            f'<main id="main-content" class="regular-article-layout__main__1tvKa"><article class="article__container__'
            f'2Ku3z"><div class="article__content__6hMn9">{header}<div>{body}</div></div>'
            f'<div class="article__read-next__Kjxdw"><div data-testid="Read Next tablet-up"><h2 data-testid="Heading" '
            f'id="read-next-tablet-up-heading">Read Next</h2><ul id="carousel-container" role="list">{cards}</ul></div>'
            f"</div></article>{topic}</main>{_footer()}</div></body></html>\n")


def _render_redesign(a: CorpusArticle, ticker: list[str], amp: bool) -> str:
    """A 'new generation' template: different names, no JSON-LD (drift-alarm tests)."""
    body = "".join(f"<h3 class='rd-sub'>{esc(t)}</h3>" if k == "h" else f"<p class='rd-text'>{esc(t)}</p>"
                   for k, t in a.body)
    return (f'<!DOCTYPE html>\n<html lang="en"{" amp" if amp else ""}><head><meta charset="utf-8"><title>{esc(a.title)}'
            f'</title><link rel="canonical" href="{esc(a.url)}"></head><body><div class="rd-ticker">'
            f'{"".join(f"<b>{esc(t)}</b>" for t in ticker)}</div><section class="rd-story"><h1 class="rd-title">'
            f'{esc(a.title)}</h1><div class="rd-authors">{esc(", ".join(a.authors))}</div><div class="rd-date">'
            f'{a.published:%d %b %Y}</div><div class="rd-body">{body}</div><div class="rd-credits">{esc(a.credits)}</div>'
            f"</section></body></html>\n")


def render_listing(heading: str, teasers: list[tuple[Teaser, str]], ticker: list[str], next_href: str | None) -> str:
    nxt = (f'<a data-testid="Button" rel="next" class="pagination__next" href="{esc(next_href)}">Next</a>'
           if next_href else "")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(heading)} | Reuters</title>'
            f'</head><body><div id="fusion-app" class="fusion-app">{_site_header()}{_ticker(ticker)}<main id="main-'
            f'content"><h1 data-testid="Heading" class="section-title">{esc(heading)}</h1><ul class="story-collection__'
            f'list__2M49i">{"".join(_card(t, href) for t, href in teasers)}</ul>{nxt}</main>{_footer()}</div>'
            f"</body></html>\n")
