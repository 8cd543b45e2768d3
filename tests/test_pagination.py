"""Archive/section pagination for backfills (crawl/pagination.py, discover(paginate=True)).

Against the replay web on a loopback server with the real Fetcher; ground truth from replay.Corpus.
"""
from __future__ import annotations

import dataclasses
import math
import re
from datetime import datetime, timedelta, timezone

import httpx
import pytest

import extractors
from crawl.config import ConfigError, load_config, parse_config
from crawl.discovery import discover
from crawl.fetch import Fetcher
from crawl.pagination import archive_links, dated_links
from crawl.plan import replay_host_map
from replay import Corpus, Knobs, start_replay

SEED, PER_SITE, PAGE_SIZE = 7, 1500, 30
UTC = timezone.utc


@pytest.fixture(scope="module")
def srv():
    s = start_replay(SEED, PER_SITE)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def corpus():
    return Corpus(seed=SEED, per_site=PER_SITE)


@pytest.fixture
def replay(srv):
    """Clean stats before a test; knobs restored after it."""
    httpx.post(srv.url + "/__replay__/reset")
    yield srv
    httpx.post(srv.url + "/__replay__/knobs", json=Knobs().to_json())
    httpx.post(srv.url + "/__replay__/reset")


def _config():
    cfg = load_config().with_politeness(delay_s=0.0, concurrency=4)
    return dataclasses.replace(cfg, fetch=dataclasses.replace(cfg.fetch, retries=0))


async def _run(srv, name, fn, **site_over):
    cfg = _config()
    site = dataclasses.replace(cfg.site(name), **site_over)
    async with Fetcher(cfg, host_map=replay_host_map(cfg, srv.url)) as fetcher:
        return await fn(site, fetcher, extractors.registry.get(site.extractor))


def _listing_requests(srv) -> dict[str, set[int]]:
    """Listing path -> page numbers requested (each must be requested once)."""
    out: dict[str, set[int]] = {}
    for path, by_status in httpx.get(srv.url + "/__replay__/stats").json()["by_path"].items():
        m = re.match(r"^(/[^?]*)\?page=(\d+)$", path)
        if m:
            assert sum(by_status.values()) == 1, f"{path} requested {by_status}"
            out.setdefault(m.group(1), set()).add(int(m.group(2)))
    return out


def _window(corpus, site, lo, hi):
    """[since, until] spanning corpus indices lo..hi (index order is chronological)."""
    return (corpus.headline(site, lo)[2].astimezone(UTC) - timedelta(seconds=1),
            corpus.headline(site, hi)[2].astimezone(UTC) + timedelta(seconds=1))


def _pages(corpus, site, prefix):
    """The listing at ``prefix`` as the replay serves it: pages of (url, published), newest first."""
    items = [corpus.headline(site, i) for i in range(PER_SITE - 1, -1, -1)
             if corpus.section_path(site, i).startswith(prefix)]
    return [[(u, p) for u, _, p, _ in items[k:k + PAGE_SIZE]] for k in range(0, len(items), PAGE_SIZE)]


@pytest.mark.parametrize("name", ["almayadeen", "reuters"])
async def test_window_in_the_middle_finds_exactly_its_articles_with_few_pages(replay, corpus, name):
    since, until = _window(corpus, name, 600, 700)
    res = await _run(replay, name, lambda s, f, e: archive_links(s, f, e, since=since, until=until))
    assert res.errors == []
    is_article = extractors.registry.get(name).is_article_url
    truth = {a.url for a in corpus.articles(name) if since <= a.published <= until}
    # What the listings carry is the whole corpus window: every link is an article URL.
    carried = {u for u in truth if is_article(u)}
    assert carried == truth and len(truth) >= 80
    got = {x.url for x in res.links}
    assert got == carried
    assert all(since <= x.published <= until for x in res.links)

    requested = _listing_requests(replay)
    cfg = _config().site(name)
    assert set(requested) == {re.sub(r"^https://[^/]+|\?page=\{page\}$", "", t) for t in cfg.archive_pages}
    for path, numbers in requested.items():
        pages = _pages(corpus, name, path.strip("/"))
        first = next(k for k, p in enumerate(pages, 1) if min(d for _, d in p) <= until)
        last = next(k for k, p in enumerate(pages, 1) if max(d for _, d in p) < since)
        walked = set(range(first, last + 1))          # the window's pages and the one that ends it
        probes = numbers - walked                     # gallop + bisect
        assert walked <= numbers, path
        assert len(probes) <= 2 * math.ceil(math.log2(first)) + 1, (path, sorted(numbers), first, last)
        assert max(numbers) <= max(last, 2 * first), path
    # Measured: Al Mayadeen /news (33 pages, window on 19-22): gallop 1,2,4,8,16,32, bisect 24,20,18,19,
    # walk 19-22: 12 fetches; 23 for the three listings, where walking from page 1 would take 34.
    assert sum(map(len, requested.values())) <= 30


async def test_discover_paginate_merges_archive_pages_with_sitemaps(replay, corpus):
    since, until = _window(corpus, "almayadeen", 300, 340)

    async def both(site, fetcher, extractor):
        return await discover(site, fetcher, extractor, since=since, until=until, paginate=True)

    # Listings only: every URL comes from them, dated by its listing item.
    res = await _run(replay, "almayadeen", both, start_pages=(), feeds=(), sitemaps=())
    truth = {a.url: a.published for a in corpus.articles("almayadeen") if since <= a.published <= until}
    assert {u.url: u.lastmod for u in res.urls} == truth
    assert {u.source for u in res.urls} == {"archive-page"} and res.counts["archive-page"] == len(truth)
    assert res.pages and all("page=" in p.url for p in res.pages)
    # With the sitemaps (what a backfill reads): sitemap entries win, listing copies are duplicates.
    res2 = await _run(replay, "almayadeen", both, start_pages=(), feeds=())
    assert {u.url for u in res2.urls} == set(truth) and res2.counts["archive-page"] == 0
    assert res2.counts["duplicates"] >= len(truth)
    assert any("sitemap" in p.url for p in res2.pages) and any("page=" in p.url for p in res2.pages)


async def test_listing_500_is_recorded_and_other_listings_continue(replay, corpus):
    httpx.post(replay.url + "/__replay__/knobs",
               json={"fault_rate_500": 1.0, "fault_attempts": 100, "fault_paths": [r"/articles\?page=\d+$"]})
    since, until = _window(corpus, "almayadeen", 600, 700)
    res = await _run(replay, "almayadeen", lambda s, f, e: archive_links(s, f, e, since=since, until=until))
    assert len(res.errors) == 1
    assert res.errors[0].startswith("almayadeen: archive-page https://english.almayadeen.net/articles?page=1 failed")
    assert "HTTP 500" in res.errors[0]
    assert res.counts["archive_pages_failed"] == 1
    outside = {a.url for a in corpus.articles("almayadeen")
               if since <= a.published <= until and not a.section_path.startswith("articles")}
    assert {x.url for x in res.links} == outside
    assert _listing_requests(replay)["/articles"] == {1}


async def test_site_without_archive_pages_discovers_as_before(replay, corpus):
    since, until = _window(corpus, "almayadeen", 600, 700)

    async def run(paginate):
        async def fn(site, fetcher, extractor):
            return await discover(site, fetcher, extractor, since=since, until=until, paginate=paginate)
        return await _run(replay, "almayadeen", fn, archive_pages=(), start_pages=(), feeds=())

    plain, paged = await run(False), await run(True)
    assert [(u.url, u.source, u.lastmod) for u in plain.urls] == [(u.url, u.source, u.lastmod) for u in paged.urls]
    assert plain.urls and paged.errors == [] and _listing_requests(replay) == {}
    # archive_pages configured but paginate=False (scheduled runs): listings are not read.
    await _run(replay, "almayadeen", lambda s, f, e: discover(s, f, e, since=since, until=until))
    assert _listing_requests(replay) == {}


async def test_no_window_walks_until_the_listing_ends(replay, corpus):
    res = await _run(replay, "almayadeen", lambda s, f, e: archive_links(s, f, e),
                     archive_pages=("https://english.almayadeen.net/videos?page={page}",))
    pages = _pages(corpus, "almayadeen", "videos")
    assert [x.url for x in res.links] == [u for p in pages for u, _ in p]
    assert _listing_requests(replay)["/videos"] == set(range(1, len(pages) + 2))   # + the empty one
    assert res.counts["archive_listings_ended"] == 1


async def test_window_newer_than_the_listing_and_cap(replay, corpus):
    future = datetime(2030, 1, 1, tzinfo=UTC)
    res = await _run(replay, "almayadeen", lambda s, f, e: archive_links(s, f, e, since=future))
    assert res.links == [] and res.counts["archive_listings_reached_since"] == 3
    assert {p: n for p, n in _listing_requests(replay).items()} == {"/news": {1}, "/articles": {1}, "/videos": {1}}
    httpx.post(replay.url + "/__replay__/reset")
    res = await _run(replay, "almayadeen", lambda s, f, e: archive_links(s, f, e),
                     archive_pages=("https://english.almayadeen.net/news?page={page}",), max_archive_pages=3)
    assert _listing_requests(replay) == {"/news": {1, 2, 3}} and res.counts["archive_pages_capped"] == 1
    assert len(res.links) == 3 * PAGE_SIZE


class _SamePage:
    """A site that ignores ?page=: every page is page 1."""

    def __init__(self):
        self.urls = []

    async def fetch(self, url, conditional=False):
        self.urls.append(url)
        html = ('<ul><li><a href="/news/politics/a">A</a><time datetime="2022-03-01T10:00:00Z">x</time></li>'
                '<li><a href="/news/politics/b">B</a></li></ul>')
        return type("R", (), {"outcome": "fetched", "status": 200, "content": html.encode(), "text": html,
                              "final_url": url, "error": None, "error_kind": None, "url": url})()


async def test_page_without_new_links_ends_the_listing():
    site = dataclasses.replace(load_config().site("almayadeen"),
                               archive_pages=("https://english.almayadeen.net/news?page={page}",))
    fetcher = _SamePage()
    res = await archive_links(site, fetcher, extractors.registry.get("almayadeen"),
                              until=datetime(2022, 3, 2, tzinfo=UTC))
    assert fetcher.urls == ["https://english.almayadeen.net/news?page=1", "https://english.almayadeen.net/news?page=2"]
    assert [(x.url, x.published) for x in res.links] == [
        ("https://english.almayadeen.net/news/politics/a", datetime(2022, 3, 1, 10, tzinfo=UTC)),
        ("https://english.almayadeen.net/news/politics/b", None)]
    assert res.counts["archive_listings_ended"] == 1 and len(res.pages) == 2


def test_dated_links_dates_only_single_date_single_article_teasers():
    html = ('<html><head><base href="https://x.example/base/"></head><body>'
            '<p>Updated <time datetime="2024-05-01T00:00:00Z">today</time></p>'
            '<ul><li><a href="a">A</a><time datetime="2022-03-10T08:33:00+02:00">10 Mar</time></li>'
            '<li><a href="b">B</a><time datetime="2022-03-09">9 Mar</time><time datetime="2022-03-08">8</time></li>'
            '<li><div><a href="c">C</a><a href="d">D</a></div><time datetime="2022-03-07">7 Mar</time></li>'
            '<li><a href="e">E</a><time datetime="not a date">?</time></li></ul></body></html>')
    got = dated_links(html, "https://x.example/list", is_article=lambda u: True, owns=lambda u: True)
    base = "https://x.example/base/"
    assert [(x.url, x.published) for x in got] == [
        (base + "a", datetime(2022, 3, 10, 6, 33, tzinfo=UTC)), (base + "b", None), (base + "c", None),
        (base + "d", None), (base + "e", None)]


def _site(**over):
    body = {"domains": ["news.example"], "extractor": "generic", "start_pages": ["https://news.example/"]}
    body.update(over)
    return {"sites": {"ex": body}}


@pytest.mark.parametrize("override, fragment", [
    ({"archive_pages": ["https://news.example/news?page=2"]},
     "archive_pages entry 'https://news.example/news?page=2' has no {page} placeholder; put {page} where the "
     "page number goes, e.g. 'https://news.example/news?page={page}'"),
    ({"archive_pages": ["https://other.example/news?page={page}"]},
     "archive_pages entry 'https://other.example/news?page={page}' is outside the site's domains "
     "['news.example']; add its host to domains or remove it"),
    ({"archive_pages": ["ftp://news.example/{page}"]}, "archive_pages entry 'ftp://news.example/{page}' is not an "
                                                       "http(s) URL"),
    ({"archive_pages": "https://news.example/news?page={page}"}, "archive_pages must be a list of strings"),
    ({"max_archive_pages": 0}, "max_archive_pages must be a positive integer"),
    ({"max_archive_pages": "lots"}, "max_archive_pages must be a positive integer"),
    ({"max_archive_pages": True}, "max_archive_pages must be a positive integer"),
])
def test_archive_settings_validation_names_file_site_setting_and_fix(override, fragment):
    with pytest.raises(ConfigError) as e:
        parse_config(_site(**override), "my.toml")
    assert "my.toml: [sites.ex]" in str(e.value)
    assert fragment in str(e.value)


def test_archive_settings_defaults_and_shipped_config():
    ex = parse_config(_site(), "my.toml").site("ex")
    assert ex.archive_pages == () and ex.max_archive_pages == 200
    ex = parse_config(_site(archive_pages=["https://news.example/p/{page}/"], max_archive_pages=5), "my.toml").site("ex")
    assert ex.archive_pages == ("https://news.example/p/{page}/",) and ex.max_archive_pages == 5
    cfg = load_config()
    assert all(len(s.archive_pages) == 3 and all("{page}" in u for u in s.archive_pages) for s in cfg.sites.values())
