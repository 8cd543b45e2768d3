"""URL discovery: sitemap/feed/link parsers (pure) and ``discover`` against a loopback HTTP server."""
from __future__ import annotations

import gzip
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crawl.config import SiteConfig
from crawl.discovery import DiscoveredUrl, DiscoveryResult, discover
from crawl.feeds import parse_feed
from crawl.links import article_links, normalize_url
from crawl.sitemaps import DiscoveryError, maybe_gunzip, parse_date, parse_sitemap
from extractors.base import Extractor
from replay.server import LoopbackServer

UTC = timezone.utc
HOST = "english.almayadeen.net"
BASE = f"https://{HOST}"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# =========================================================================== sitemaps

INDEX = b"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://english.almayadeen.net/sitemaps/all/sitemap-2026-1.xml</loc>
           <lastmod>2026-01-31T23:00:00+02:00</lastmod></sitemap>
  <sitemap><loc>
     https://english.almayadeen.net/sitemaps/all/sitemap-2026-2.xml
  </loc><lastmod>2026-02-20</lastmod></sitemap>
  <sitemap><loc>/sitemaps/all/sitemap-2026-3.xml</loc></sitemap>
</sitemapindex>"""

URLSET = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
  <url><loc>https://english.almayadeen.net/news/politics/a</loc><lastmod>2026-01-10</lastmod>
       <image:image><image:loc>https://cdn.example/img.jpg</image:loc></image:image></url>
  <url><loc>https://english.almayadeen.net/news/politics/b</loc><lastmod>2026-01-20T08:00Z</lastmod>
       <changefreq>daily</changefreq><priority>0.5</priority></url>
  <url><loc>https://english.almayadeen.net/news/politics/c</loc></url>
  <url><loc></loc></url>
  <url><loc>javascript:alert(1)</loc></url>
</urlset>"""

NEWS = """<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
  <url>
    <loc>https://www.reuters.com/world/europe/story-2026-02-18/</loc>
    <news:news>
      <news:publication><news:name>Reuters</news:name><news:language>eng</news:language></news:publication>
      <news:publication_date>2026-02-18T10:15:00+01:00</news:publication_date>
      <news:title>Leaders meet in Brüssel &amp; agree</news:title>
      <news:keywords>EU, summit ,, trade</news:keywords>
    </news:news>
  </url>
  <url><loc>https://www.reuters.com/world/other-2026-02-17/</loc><lastmod>2026-02-17</lastmod></url>
</urlset>""".encode("utf-8")

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>https://x.test/&lol9;</loc></url></urlset>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE urlset [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>&xxe;</loc></url></urlset>"""


def test_sitemap_index():
    sm = parse_sitemap(INDEX, f"{BASE}/sitemaps/all.xml")
    assert sm.kind == "index" and sm.entries == []
    assert [r.url for r in sm.sitemaps] == [
        f"{BASE}/sitemaps/all/sitemap-2026-1.xml",
        f"{BASE}/sitemaps/all/sitemap-2026-2.xml",
        f"{BASE}/sitemaps/all/sitemap-2026-3.xml",     # relative loc resolved against the index URL
    ]
    assert [r.lastmod for r in sm.sitemaps] == [utc(2026, 1, 31, 21), utc(2026, 2, 20), None]


def test_urlset_plain_with_image_namespace_ignored():
    sm = parse_sitemap(URLSET, f"{BASE}/sitemaps/all/sitemap-2026-1.xml")
    assert sm.kind == "urlset" and sm.sitemaps == []
    assert [e.url for e in sm.entries] == [f"{BASE}/news/politics/{x}" for x in "abc"]
    assert [e.lastmod for e in sm.entries] == [utc(2026, 1, 10), utc(2026, 1, 20, 8), None]
    assert not any(e.is_news for e in sm.entries)
    assert all(e.lastmod is None or e.lastmod.tzinfo is not None for e in sm.entries)


def test_google_news_sitemap():
    sm = parse_sitemap(NEWS, "https://www.reuters.com/arc/outboundfeeds/news-sitemap/?outputType=xml")
    first, second = sm.entries
    assert first.is_news and first.news_title == "Leaders meet in Brüssel & agree"
    assert first.news_publication_date == utc(2026, 2, 18, 9, 15)
    assert first.news_keywords == ["EU", "summit", "trade"]
    assert first.lastmod is None and first.date == utc(2026, 2, 18, 9, 15)
    assert not second.is_news and second.lastmod == utc(2026, 2, 17)


def test_gzip_sitemap_by_magic_bytes():
    sm = parse_sitemap(gzip.compress(URLSET), f"{BASE}/sitemaps/all/sitemap-2026-1.xml.gz")
    assert len(sm.entries) == 3


def test_gzip_bomb_capped():
    with pytest.raises(DiscoveryError, match=r"sitemap\.xml\.gz.*more than 1000 bytes"):
        maybe_gunzip(gzip.compress(b"\0" * 10_000), f"{BASE}/sitemap.xml.gz", limit=1000)
    with pytest.raises(DiscoveryError, match="corrupt gzip"):
        parse_sitemap(b"\x1f\x8b\x08\x00garbage", f"{BASE}/bad.xml.gz")


def test_malformed_xml_names_url_and_error():
    url = f"{BASE}/sitemaps/broken.xml"
    with pytest.raises(DiscoveryError) as exc:
        parse_sitemap(b"<urlset><url><loc>x</url>", url)
    assert url in str(exc.value) and "malformed XML" in str(exc.value) and "line 1" in str(exc.value)
    assert exc.value.url == url


def test_not_a_sitemap_root():
    with pytest.raises(DiscoveryError, match=r"<html> is not a sitemap"):
        parse_sitemap(b"<html><body>Not found</body></html>", f"{BASE}/x.xml")


@pytest.mark.parametrize("doc", [BILLION_LAUGHS, XXE], ids=["billion-laughs", "external-entity"])
def test_unsafe_xml_refused_quickly(doc):
    url = f"{BASE}/sitemaps/evil.xml"
    t0 = time.monotonic()
    for parse in (parse_sitemap, parse_feed):
        with pytest.raises(DiscoveryError) as exc:
            parse(doc, url)
        assert url in str(exc.value) and "unsafe XML" in str(exc.value)
    with pytest.raises(DiscoveryError, match="unsafe XML"):
        parse_sitemap(gzip.compress(doc), url)
    assert time.monotonic() - t0 < 1.0


def test_text_sitemap_and_feed_as_sitemap():
    sm = parse_sitemap(b"https://x.test/a\n\nhttps://x.test/b\r\n", "https://x.test/sitemap.txt")
    assert [e.url for e in sm.entries] == ["https://x.test/a", "https://x.test/b"]
    sm = parse_sitemap(RSS, f"{BASE}/rss")
    assert sm.kind == "urlset" and sm.entries[0].url == f"{BASE}/news/politics/feed-one"


@pytest.mark.parametrize("text,expected", [
    ("2026-01-31", utc(2026, 1, 31)),
    ("2026-01", utc(2026, 1, 1)),
    ("2026-01-31T10:00Z", utc(2026, 1, 31, 10)),
    ("2026-01-31T10:00:30.5+02:00", utc(2026, 1, 31, 8, 0, 30, 500000)),
    ("2026-01-31T10:00:00", utc(2026, 1, 31, 10)),
    ("Tue, 10 Mar 2022 08:33:00 +0200", utc(2022, 3, 10, 6, 33)),
    ("Thu, 10 Mar 2022 08:33:00 GMT", utc(2022, 3, 10, 8, 33)),
    ("not a date", None), ("", None), ("5", None), ("2026-13-45", None),
])
def test_parse_date(text, expected):
    assert parse_date(text) == expected


# =========================================================================== feeds

RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>Al Mayadeen English</title><link>https://english.almayadeen.net/</link>
  <item><title>Feed &amp;amp; one &lt;b&gt;!&lt;/b&gt;</title><link>/news/politics/feed-one</link>
        <pubDate>Wed, 18 Feb 2026 10:00:00 +0200</pubDate></item>
  <item><title> Feed
        two </title><link>https://english.almayadeen.net/news/politics/feed-two#comments</link>
        <dc:date>2026-02-17T12:00:00Z</dc:date></item>
  <item><title>guid only</title><guid>https://english.almayadeen.net/news/politics/guid-only</guid></item>
  <item><title>not a permalink</title><guid isPermaLink="false">abc-123</guid></item>
  <item><title>no date</title><link>https://english.almayadeen.net/news/politics/undated</link>
        <pubDate>sometime</pubDate></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://www.reuters.com/world/">
  <title>Reuters</title>
  <entry><title type="html">Atom &amp;lt;one&amp;gt;</title>
    <link rel="self" href="https://www.reuters.com/feed/self"/>
    <link rel="alternate" type="text/html" href="europe/atom-one-2026-02-18/"/>
    <published>2026-02-18T09:00:00+01:00</published><updated>2026-02-19T09:00:00Z</updated></entry>
  <entry xml:base="https://www.reuters.com/business/"><title>Atom two</title>
    <link href="energy/atom-two-2026-02-16/"/><updated>2026-02-16</updated></entry>
  <entry><title>no link</title></entry>
</feed>"""

RDF = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://x.test/"><title>X</title><link>https://x.test/</link></channel>
  <item rdf:about="https://x.test/a"><title>A</title><link>https://x.test/a</link>
        <dc:date>2026-02-01T00:00:00Z</dc:date></item>
</rdf:RDF>"""


def test_rss():
    entries = parse_feed(RSS, f"{BASE}/rss")
    assert [e.url for e in entries] == [
        f"{BASE}/news/politics/feed-one",
        f"{BASE}/news/politics/feed-two#comments",   # fragments are dropped later, by discovery
        f"{BASE}/news/politics/guid-only",
        f"{BASE}/news/politics/undated",
    ]
    assert entries[0].title == "Feed & one !" and entries[0].published == utc(2026, 2, 18, 8)
    assert entries[1].title == "Feed two" and entries[1].published == utc(2026, 2, 17, 12)
    assert entries[3].published is None


def test_atom_relative_links_and_xml_base():
    entries = parse_feed(ATOM, "https://www.reuters.com/arc/outboundfeeds/atom/")
    assert [(e.url, e.title, e.published) for e in entries] == [
        ("https://www.reuters.com/world/europe/atom-one-2026-02-18/", "Atom <one>", utc(2026, 2, 18, 8)),
        ("https://www.reuters.com/business/energy/atom-two-2026-02-16/", "Atom two", utc(2026, 2, 16)),
    ]


def test_rdf():
    [e] = parse_feed(RDF, "https://x.test/rdf")
    assert (e.url, e.title, e.published) == ("https://x.test/a", "A", utc(2026, 2, 1))


def test_feed_errors_name_url():
    with pytest.raises(DiscoveryError, match=r"feed https://x.test/rss: malformed XML"):
        parse_feed(b"<rss><channel><item></channel>", "https://x.test/rss")
    with pytest.raises(DiscoveryError, match=r"feed https://x.test/rss: root element <urlset>"):
        parse_feed(URLSET, "https://x.test/rss")


# =========================================================================== links

ARTICLE_RE = re.compile(r"^/(news|articles)/[a-z-]+/[a-z0-9-]+$|^/videos/[a-z0-9-]+$")


class FakeAlMayadeen(Extractor):
    name = "almayadeen-test"
    domains = (HOST,)

    def is_article_url(self, url: str) -> bool:
        return bool(ARTICLE_RE.match(urlsplit(url).path))


EXTRACTOR = FakeAlMayadeen()


def _owns(url: str) -> bool:
    return (urlsplit(url).hostname or "") == HOST


def test_article_links_filters_resolves_and_dedups():
    html = """<html><body>
      <a href="/news/politics/one">One</a>
      <a href="/tags/russia">tag</a>
      <a href="https://evil.example/news/politics/offsite">offsite</a>
      <a href="//english.almayadeen.net/articles/analysis/two#top">two</a>
      <a href="/news/politics/one#comments">one again</a>
      <a href="HTTPS://English.Almayadeen.NET/news/politics/one">one, shouty</a>
      <a href="javascript:void(0)">js</a><a href="mailto:a@b.c">mail</a><a href="#top">top</a>
      <a>no href</a><a href="">empty</a>
      <a href="  /videos/clip-3
      ">three</a>
      <a href="politics/relative">relative</a>
    </body></html>"""
    got = article_links(html, f"{BASE}/news/", is_article=EXTRACTOR.is_article_url, owns=_owns)
    assert got == [
        f"{BASE}/news/politics/one",
        f"{BASE}/articles/analysis/two",
        f"{BASE}/videos/clip-3",
        f"{BASE}/news/politics/relative",
    ]


def test_article_links_base_href():
    html = """<html><head><base href="/articles/"></head><body>
      <a href="opinion/four">four</a><a href="/news/politics/five">five</a></body></html>"""
    got = article_links(html, f"{BASE}/some/page", is_article=EXTRACTOR.is_article_url, owns=_owns)
    assert got == [f"{BASE}/articles/opinion/four", f"{BASE}/news/politics/five"]


def test_article_links_empty_and_normalize():
    assert article_links("", BASE, is_article=lambda u: True, owns=lambda u: True) == []
    assert normalize_url("HTTPS://X.test:443/a?b=1#c") == "https://x.test/a?b=1"
    assert normalize_url("http://x.test") == "http://x.test/"
    assert normalize_url("ftp://x.test/a") is None
    assert normalize_url("https://user:pw@x.test/a") is None


# =========================================================================== discover (loopback)

MONTH_1 = URLSET   # a (Jan 10), b (Jan 20), c (undated)

MONTH_2 = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>https://english.almayadeen.net/news/politics/d</loc><lastmod>2026-02-05</lastmod></url>
  <url><loc>https://english.almayadeen.net/news/politics/feed-one</loc><lastmod>2026-02-15</lastmod></url>
  <url><loc>https://evil.example/news/politics/offsite</loc><lastmod>2026-02-16</lastmod></url>
</urlset>"""

SITE_INDEX = b"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://english.almayadeen.net/sitemaps/all/sitemap-2025-12.xml</loc>
           <lastmod>2025-12-31</lastmod></sitemap>
  <sitemap><loc>https://english.almayadeen.net/sitemaps/all/sitemap-2026-1.xml</loc>
           <lastmod>2026-01-31T23:00:00+02:00</lastmod></sitemap>
  <sitemap><loc>https://english.almayadeen.net/sitemaps/all/sitemap-2026-2.xml.gz</loc>
           <lastmod>2026-02-20</lastmod></sitemap>
  <sitemap><loc>https://evil.example/sitemap.xml</loc><lastmod>2026-02-20</lastmod></sitemap>
</sitemapindex>"""

HOME = b"""<!doctype html><html><head><title>Al Mayadeen English</title></head><body>
<div class="breaking-news"><span class="breaking-title">BREAKING</span><ul class="breaking-list"><li>x</li></ul></div>
<a href="/news/politics/home-only">home only</a>
<a href="/news/politics/a#top">already in a sitemap</a>
<a href="/tags/russia">tag</a>
<a href="https://evil.example/news/politics/offsite">offsite</a>
</body></html>"""


def make_app(log: list[str]) -> Starlette:
    def xml(body: bytes, media_type: str = "application/xml"):
        async def endpoint(request: Request) -> Response:
            return Response(body, media_type=media_type)
        return endpoint

    async def missing(request: Request) -> Response:
        return Response("not here", status_code=404)

    app = Starlette(routes=[
        Route("/sitemaps/all.xml", xml(SITE_INDEX)),
        Route("/sitemaps/all/sitemap-2025-12.xml", missing),
        Route("/sitemaps/all/sitemap-2026-1.xml", xml(MONTH_1)),
        # served as a file (no Content-Encoding): discovery must gunzip it itself
        Route("/sitemaps/all/sitemap-2026-2.xml.gz", xml(gzip.compress(MONTH_2), "application/gzip")),
        Route("/rss", xml(RSS, "application/rss+xml")),
        Route("/broken-feed", xml(b"<rss><channel>")),
        Route("/", xml(HOME, "text/html; charset=utf-8")),
    ])

    async def logged(scope, receive, send):
        if scope["type"] == "http":
            qs = scope.get("query_string", b"").decode()
            log.append(scope["path"] + (f"?{qs}" if qs else ""))
            headers = dict(scope["headers"])
            assert headers.get(b"host") == HOST.encode(), headers
        await app(scope, receive, send)

    return logged


@dataclass
class StubResult:
    url: str
    outcome: str
    status: int | None = None
    content: bytes = b""
    text: str | None = None
    final_url: str | None = None
    error: str | None = None
    error_kind: str | None = None


class StubFetcher:
    """Minimal stand-in for crawl.fetch.Fetcher: maps https://HOST/... to the loopback server."""

    def __init__(self, server_url: str):
        self.server_url = server_url
        self.client = httpx.AsyncClient(timeout=10)
        self.calls: list[str] = []

    async def fetch(self, url: str, conditional: bool = False) -> StubResult:
        self.calls.append(url)
        parts = urlsplit(url)
        if parts.hostname != HOST:
            return StubResult(url, "skipped", error="host not served by the test", error_kind="offsite")
        target = self.server_url + parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            r = await self.client.get(target, headers={"Host": HOST})
        except httpx.HTTPError as e:
            return StubResult(url, "failed", error=str(e), error_kind="connect")
        if r.status_code >= 400:
            return StubResult(url, "failed", r.status_code, r.content, final_url=url,
                              error=f"HTTP {r.status_code}", error_kind="http_status")
        is_text = r.headers.get("content-type", "").startswith("text/")
        return StubResult(url, "fetched", r.status_code, r.content, r.text if is_text else None, url)

    async def aclose(self) -> None:
        await self.client.aclose()


SITE = SiteConfig(
    name="almayadeen",
    domains=(HOST,),
    extractor="almayadeen",
    start_pages=(f"{BASE}/",),
    feeds=(f"{BASE}/rss",),
    sitemaps=(f"{BASE}/sitemaps/all.xml",),
)


@pytest.fixture(scope="module")
def server():
    log: list[str] = []
    with LoopbackServer(make_app(log)) as srv:
        srv.request_log = log
        yield srv


@pytest.fixture
def request_log(server):
    server.request_log.clear()
    return server.request_log


async def _discover(server, site=SITE, **kw) -> DiscoveryResult:
    fetcher = StubFetcher(server.url)
    try:
        return await discover(site, fetcher, EXTRACTOR, **kw)
    finally:
        await fetcher.aclose()


def _by_url(result: DiscoveryResult) -> dict[str, DiscoveredUrl]:
    return {u.url: u for u in result.urls}


async def test_discover_everything(server, request_log):
    result = await _discover(server)
    assert result.site == "almayadeen"
    urls = [u.url for u in result.urls]
    p = f"{BASE}/news/politics/"
    assert urls == [
        p + "feed-one",     # 2026-02-18 08:00 (feed pubDate beats the sitemap's 02-15 lastmod)
        p + "feed-two",     # 2026-02-17 12:00
        p + "d",            # 2026-02-05
        p + "b",            # 2026-01-20
        p + "a",            # 2026-01-10
        p + "c",            # undated: sitemap, feed, page order
        p + "guid-only",
        p + "undated",
        p + "home-only",
    ]
    by = _by_url(result)
    assert by[p + "feed-one"].source == "sitemap"               # first source wins ...
    assert by[p + "feed-one"].lastmod == utc(2026, 2, 18, 8)    # ... newest lastmod kept
    assert by[p + "feed-one"].title == "Feed & one !"               # ... and the title filled in
    assert by[p + "a"].source == "sitemap"                      # also linked from the home page
    assert by[p + "home-only"].source == "page" and by[p + "home-only"].lastmod is None
    assert by[p + "feed-two"].source == "feed"
    assert all(u.lastmod is None or u.lastmod.tzinfo is not None for u in result.urls)

    # the missing month is an error naming site, URL and reason; the rest was read
    [err] = result.errors
    assert err.startswith("almayadeen: sitemap ") and "sitemap-2025-12.xml" in err and "404" in err
    c = result.counts
    assert c["sitemaps_read"] == 3 and c["sitemaps_failed"] == 1 and c["sitemaps_offsite"] == 1
    assert c["feeds_read"] == 1 and c["pages_read"] == 1 and c["sitemaps_skipped"] == 0
    assert (c["sitemap"], c["feed"], c["page"]) == (5, 3, 1)
    assert c["offsite"] == 1 and c["discovered"] == 9      # the home page's offsite link never got that far
    # every fetch is kept (the flow reads the ticker from the home page)
    assert len(result.pages) == 6
    assert [p.url for p in result.pages][-2:] == [f"{BASE}/rss", f"{BASE}/"]
    assert b"BREAKING" in result.pages[-1].content
    assert sorted(request_log) == sorted([
        "/sitemaps/all.xml", "/sitemaps/all/sitemap-2025-12.xml", "/sitemaps/all/sitemap-2026-1.xml",
        "/sitemaps/all/sitemap-2026-2.xml.gz", "/rss", "/"])


async def test_discover_since_skips_old_monthly_sitemaps(server, request_log):
    result = await _discover(server, since=utc(2026, 2, 1))
    # the index said January and December were last modified before `since`: never fetched
    assert "/sitemaps/all/sitemap-2026-1.xml" not in request_log
    assert "/sitemaps/all/sitemap-2025-12.xml" not in request_log
    assert "/sitemaps/all/sitemap-2026-2.xml.gz" in request_log
    assert result.counts["sitemaps_skipped"] == 2 and result.counts["sitemaps_read"] == 2
    assert result.errors == []
    p = f"{BASE}/news/politics/"
    assert [u.url for u in result.urls] == [
        p + "feed-one", p + "feed-two", p + "d", p + "guid-only", p + "undated",
        p + "home-only", p + "a",     # page links carry no date: kept
    ]


async def test_discover_window_and_entry_dates(server, request_log):
    result = await _discover(server, since=utc(2026, 1, 15), until=utc(2026, 2, 10))
    p = f"{BASE}/news/politics/"
    urls = [u.url for u in result.urls]
    assert urls[:2] == [p + "d", p + "b"]                  # dated entries inside the window
    assert p + "a" in urls                                 # dropped from the sitemap, but linked from home
    assert _by_url(result)[p + "a"].source == "page"
    assert p + "feed-two" not in urls and p + "feed-one" not in urls
    # a, feed-one (sitemap + feed), feed-two, and the offsite entry (dated 02-16; window checked first)
    assert result.counts["out_of_window"] == 5
    assert "/sitemaps/all/sitemap-2026-1.xml" in request_log


async def test_discover_max_urls(server, request_log):
    result = await _discover(server, max_urls=3)
    assert [u.url.rsplit("/", 1)[1] for u in result.urls] == ["feed-one", "feed-two", "d"]
    assert result.counts["cut"] == 6 and result.counts["discovered"] == 9
    site = SiteConfig(**{**SITE.__dict__, "max_articles": 2})
    result = await _discover(server, site=site)
    assert len(result.urls) == 2


async def test_discover_failures_are_recorded_not_raised(server, request_log):
    site = SiteConfig(
        name="almayadeen", domains=(HOST,), extractor="almayadeen",
        start_pages=(f"{BASE}/no-such-page",),
        feeds=(f"{BASE}/broken-feed",),
        sitemaps=(f"{BASE}/rss-missing.xml", f"{BASE}/rss"),   # a feed given as a sitemap is accepted
    )
    result = await _discover(server, site=site)
    errors = "\n".join(result.errors)
    assert len(result.errors) == 3, errors
    assert f"almayadeen: sitemap {BASE}/rss-missing.xml failed: http_status, HTTP 404" in errors
    assert f"almayadeen: feed {BASE}/broken-feed: malformed XML" in errors
    assert f"almayadeen: page {BASE}/no-such-page failed" in errors
    assert {u.source for u in result.urls} == {"sitemap"}
    assert len(result.urls) == 4 and len(result.pages) == 4


async def test_discover_depth_and_cap(server, request_log):
    result = await _discover(server, max_sitemap_depth=0)
    assert result.counts["sitemaps_too_deep"] == 4 and result.counts["sitemaps_read"] == 1
    request_log.clear()
    result = await _discover(server, max_sitemaps=2)
    # the index plus the newest month by index lastmod
    assert [x for x in request_log if x.startswith("/sitemaps")] == [
        "/sitemaps/all.xml", "/sitemaps/all/sitemap-2026-2.xml.gz"]
    assert result.counts["sitemaps_capped"] == 2


async def test_discover_rejects_bad_window():
    with pytest.raises(ValueError, match="since .* is after until"):
        await discover(SITE, object(), EXTRACTOR, since=utc(2026, 2, 1), until=utc(2026, 1, 1))


async def test_discover_with_real_fetcher(server, request_log):
    fetch_mod = pytest.importorskip("crawl.fetch")
    from crawl.config import Config, FetchSettings

    config = Config(sites={SITE.name: SITE}, fetch=FetchSettings(retries=0)).with_politeness(delay_s=0)
    site = config.site(SITE.name)
    async with fetch_mod.Fetcher(config, host_map={HOST: server.url}) as fetcher:
        result = await discover(site, fetcher, EXTRACTOR, since=utc(2026, 2, 1))
    assert "/sitemaps/all/sitemap-2026-1.xml" not in request_log
    assert "/sitemaps/all/sitemap-2026-2.xml.gz" in request_log
    assert result.errors == []
    p = f"{BASE}/news/politics/"
    assert [u.url for u in result.urls] == [
        p + "feed-one", p + "feed-two", p + "d", p + "guid-only", p + "undated", p + "home-only", p + "a"]
    assert all(isinstance(r, fetch_mod.FetchResult) for r in result.pages)
    assert [r.url for r in result.pages] == [
        f"{BASE}/sitemaps/all.xml", f"{BASE}/sitemaps/all/sitemap-2026-2.xml.gz", f"{BASE}/rss", f"{BASE}/"]
    assert b"BREAKING" in result.pages[-1].content


def test_date_bucketed_sitemaps_outside_the_window_are_not_read():
    from crawl.discovery import _Run, _MONTH_IN_URL

    class _S:
        name = "x"
    since = datetime(2022, 3, 1, tzinfo=timezone.utc)
    until = datetime(2022, 4, 15, tzinfo=timezone.utc)
    run = _Run(_S(), None, None, since, until, 3, 10)
    outside = ["https://a/sitemaps/all/sitemap-2022-2.xml", "https://a/sitemaps/all/sitemap-2022-5.xml",
               "https://w/arc/outboundfeeds/sitemap/2021-12/?outputType=xml"]
    inside = ["https://a/sitemaps/all/sitemap-2022-3.xml", "https://w/arc/outboundfeeds/sitemap/2022-04/?outputType=xml",
              "https://a/sitemap.xml", "https://a/sitemap-2022-13.xml"]
    assert all(run._month_outside_window(u) for u in outside)
    assert not any(run._month_outside_window(u) for u in inside)
    assert _MONTH_IN_URL.search("/x/12022-3") is None
