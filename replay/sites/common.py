"""Markup shared by both replayed sites: sitemaps, RSS, robots.txt, the BREAKING pool."""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime
from html import escape

from .. import textgen as tg


def esc(text: str | None) -> str:
    return escape(text or "", quote=True)


@dataclass(frozen=True)
class Teaser:
    """What a listing needs of an article (no body)."""
    url: str
    title: str
    published: datetime
    section: str
    image: str | None = None


def iso(dt: datetime) -> str:
    return dt.isoformat()


def sitemap_index(entries: list[tuple[str, datetime]]) -> str:
    rows = "".join(f"<sitemap><loc>{esc(loc)}</loc><lastmod>{iso(lm)}</lastmod></sitemap>\n" for loc, lm in entries)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{rows}</sitemapindex>\n')


def urlset(entries: list[tuple[str, datetime]]) -> str:
    rows = "".join(f"<url><loc>{esc(loc)}</loc><lastmod>{iso(lm)}</lastmod></url>\n" for loc, lm in entries)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{rows}</urlset>\n')


def news_sitemap(entries: list[Teaser], publication: str) -> str:
    rows = "".join(
        f"<url><loc>{esc(t.url)}</loc><news:news><news:publication><news:name>{esc(publication)}</news:name>"
        f"<news:language>en</news:language></news:publication>"
        f"<news:publication_date>{iso(t.published)}</news:publication_date>"
        f"<news:title>{esc(t.title)}</news:title></news:news></url>\n" for t in entries)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            f'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">\n{rows}</urlset>\n')


def rss(title: str, link: str, description: str, items: list[tuple[Teaser, str]]) -> str:
    """RSS 2.0; ``items`` pairs each teaser with the link to publish (maybe a tracking variant)."""
    body = "".join(
        f"<item><title>{esc(t.title)}</title><link>{esc(href)}</link>"
        f'<guid isPermaLink="false">{esc(t.url)}</guid><category>{esc(t.section)}</category>'
        f"<pubDate>{format_datetime(t.published.astimezone(timezone.utc), usegmt=True)}</pubDate></item>\n"
        for t, href in items)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
            f"<title>{esc(title)}</title><link>{esc(link)}</link><description>{esc(description)}</description>"
            f"<language>en</language>\n{body}</channel></rss>\n")


def robots(disallow: list[str], crawl_delay: float, sitemaps: list[str]) -> str:
    delay = int(crawl_delay) if float(crawl_delay).is_integer() else crawl_delay
    lines = ["User-agent: *", *(f"Disallow: {p}" for p in disallow), f"Crawl-delay: {delay}", ""]
    lines += [f"Sitemap: {s}" for s in sitemaps]
    return "\n".join(lines) + "\n"


_POOLS: dict[tuple[str, int], list[str]] = {}


def ticker_pool(site: str, seed: int, size: int = 200) -> list[str]:
    """~200 deterministic one-liners per site; the BREAKING block shows a rotating window."""
    key = (site, seed)
    if key not in _POOLS:
        rng = random.Random(f"{seed}:{site}:ticker")
        out = []
        while len(out) < size:
            t = tg.fill(rng.choice(tg.TICKER), tg.cast(rng), rng)
            if site != "almayadeen":
                t = t.replace("Al Mayadeen's correspondent", "Witness")
            if t not in out:
                out.append(t)
        _POOLS[key] = out
    return _POOLS[key]


def ticker_items(site: str, seed: int, bucket: int, n: int = 10) -> list[str]:
    pool = ticker_pool(site, seed)
    start = (bucket * 7) % len(pool)   # each bucket shifts the window by 7: new items on top
    return [pool[(start + k) % len(pool)] for k in range(n)]
