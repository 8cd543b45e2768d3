"""Content faults, crawled from the real replay web over loopback into a real archive.

Each fault of issue 10 (a 200 cut short three ways, a latin-1 label over UTF-8 bytes, random
bytes as text/html, an empty 200, a corrupt gzip body) is served by the replay's fault knobs
on a deterministic subset of the article URLs. Asserted: the counters, that no spoilt article
was stored and every good one was, that no validators were kept for a spoilt page, and that
the next run (the site healthy again) stores the rest.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
import pytest

from pipeline_helpers import replay_truth, config, crawl_once, staged_rows
from replay import Knobs, start_replay
from replay.corpus import unit
from storage.lake import Archive
from storage.sql import query

SITE = "reuters"
HOST = "www.reuters.com"
ARTICLES = r"/.*-\d{4}-\d{2}-\d{2}/$"     # Reuters article paths end with the date and '/'


def selected(kind: str, rate: float, urls) -> set[str]:
    """The URLs the replay spoils for ``kind`` (the same hash its knobs use)."""
    return {u for u in urls if re.match(ARTICLES, urlsplit(u).path) and unit(kind, HOST, urlsplit(u).path) < rate}


def article_fetches(arch: Archive, run_id: str) -> dict[str, tuple]:
    _, rows = query(arch, f"SELECT url, outcome, error_kind, etag, attempts FROM fetch_log "
                          f"WHERE kind = 'article' AND run_id = '{run_id}'")
    return {r[0]: r[1:] for r in rows}


def stored(arch: Archive) -> dict[str, tuple]:
    _, rows = query(arch, "SELECT fetched_url, title, body FROM article_versions")
    return {r[0]: (r[1], r[2]) for r in rows}


def assert_archive_consistent(arch: Archive) -> None:
    """Each article once, every WARC reference reads back, no ETag committed without its article."""
    from crawl.warc import WarcRef, read_record
    _, rows = query(arch, "SELECT fetched_url, count(*) FROM article_versions GROUP BY 1 HAVING count(*) > 1")
    assert rows == [], f"stored more than once: {rows}"
    _, rows = query(arch, "SELECT fetched_url, warc_file, warc_offset, warc_length FROM article_versions")
    for url, wf, off, length in rows:
        rec_url, status, _, body = read_record(arch.warc_dir, WarcRef(wf, off, length))
        assert (rec_url, status) == (url, 200) and body
    _, rows = query(arch, "SELECT DISTINCT url FROM fetch_log WHERE kind = 'article' AND etag IS NOT NULL "
                          "AND url NOT IN (SELECT fetched_url FROM article_versions)")
    assert rows == [], f"validators committed without their article: {rows}"


def truth(srv, url: str) -> dict | None:
    r = replay_truth(srv, url)
    return r.json() if r.status_code == 200 else None


def assert_complete(srv, arch: Archive) -> int:
    """Every stored corpus article has its real title and its last paragraph (not cut, no mojibake)."""
    checked = 0
    for url, (title, body) in stored(arch).items():
        t = truth(srv, url)
        if t is None:        # a captured page, not generated: no truth to compare with
            continue
        assert title == t["title"], url
        assert t["paragraphs"][-1] in body, f"{url}: body cut short"
        assert "Ã" not in title + body and "\ufffd" not in body
        checked += 1
    return checked


async def crawl_with(tmp_path, knobs: Knobs, retries: int = 1):
    srv = start_replay(seed=11, per_site=16, knobs=knobs)
    arch = Archive(tmp_path / "a")
    runs = await crawl_once(arch, srv, "r1", sites=(SITE,), cfg=config(retries=retries))
    return srv, arch, runs[SITE]


@pytest.mark.parametrize("mode", ["html", "content_length", "chunked"])
async def test_truncated_200_is_retried_and_the_whole_page_stored(tmp_path, mode):
    knobs = Knobs(fault_rate_truncate=0.5, truncate_mode=mode, fault_attempts=1, fault_paths=[ARTICLES])
    srv, arch, run = await crawl_with(tmp_path, knobs)
    try:
        fetches = article_fetches(arch, "r1")
        cut = selected("truncate", 0.5, fetches)
        assert 0 < len(cut) < len(fetches)
        assert run.fetcher.stats["retries"] >= len(cut)
        assert run.counters.get("failed", 0) == 0
        for url, (outcome, _, _, attempts) in fetches.items():
            assert outcome == "fetched" and attempts == (2 if url in cut else 1), url
        assert set(stored(arch)) == set(fetches)
        assert assert_complete(srv, arch) >= len(fetches) - 2
        assert_archive_consistent(arch)
    finally:
        srv.stop()


async def test_truncated_200_every_time_is_failed_not_stored_then_fetched_next_run(tmp_path):
    knobs = Knobs(fault_rate_truncate=0.5, truncate_mode="html", fault_attempts=2, fault_paths=[ARTICLES])
    srv, arch, run = await crawl_with(tmp_path, knobs)     # 2 faulty answers = both attempts
    try:
        fetches = article_fetches(arch, "r1")
        cut = selected("truncate", 0.5, fetches)
        assert run.counters["failed:truncated"] == len(cut) > 0
        assert set(stored(arch)) == set(fetches) - cut          # no half page stored
        for url in cut:
            outcome, kind, etag, _ = fetches[url]
            assert (outcome, kind, etag) == ("failed", "truncated", None)
        msg = run.example_failures["truncated"][0]
        assert msg.startswith(f"{SITE}: https://{HOST}/") and "without </html>" in msg and "\n" not in msg

        runs2 = await crawl_once(arch, srv, "r2", sites=(SITE,), cfg=config())
        assert runs2[SITE].counters["new"] == len(cut)
        assert set(stored(arch)) == set(fetches)
        assert assert_complete(srv, arch) >= len(fetches) - 2
        assert_archive_consistent(arch)
    finally:
        srv.stop()


async def test_latin1_label_over_utf8_bytes_is_read_as_utf8(tmp_path):
    knobs = Knobs(fault_rate_charset=1.0, fault_attempts=100, fault_paths=[ARTICLES])
    srv, arch, run = await crawl_with(tmp_path, knobs)
    try:
        fetches = article_fetches(arch, "r1")
        assert run.counters["new"] == len(fetches) > 0
        # The labels really were wrong, and the titles really hold non-ASCII characters.
        path = next(urlsplit(u).path for u in sorted(fetches) if re.match(ARTICLES, urlsplit(u).path))
        r = httpx.get(srv.url + path, headers={"host": HOST})
        assert r.headers["content-type"] == "text/html; charset=iso-8859-1"
        titles = [t for t, _ in stored(arch).values()]
        assert any(not t.isascii() for t in titles)
        assert assert_complete(srv, arch) >= len(fetches) - 2
        assert_archive_consistent(arch)
    finally:
        srv.stop()


@pytest.mark.parametrize("parsed_in", ["workers", "crawl process"])
@pytest.mark.parametrize("kind, counter", [("garbage", "not_html"), ("empty", "empty")])
async def test_garbage_and_empty_200s_are_counted_not_stored_and_refetched(tmp_path, monkeypatch, kind, counter,
                                                                           parsed_in):
    import crawl.pipeline
    articles = []   # every article page's FetchResult, as its fetch-log row is made
    real_fetch_row = crawl.pipeline.fetch_row
    monkeypatch.setattr(crawl.pipeline, "fetch_row", lambda run, k, r, *a: (
        articles.append(r) if k == "article" else None, real_fetch_row(run, k, r, *a))[1])
    if parsed_in == "crawl process":   # no parse workers: the text check is this process's
        monkeypatch.setattr(crawl.pipeline, "job_spec", lambda run: None)
    knobs = Knobs(fault_attempts=1, fault_paths=[ARTICLES], **{f"fault_rate_{kind}": 0.5})
    srv, arch, run = await crawl_with(tmp_path, knobs)
    try:
        # With workers, the crawl process never decodes an article page: the worker parsing it does
        # (and finds out whether it is text); without, every page with a body is decoded here.
        decoded_here = [r for r in articles if not r.__dict__.get("_undecoded")]
        assert articles
        assert len(decoded_here) == (0 if parsed_in == "workers" else len(articles) - run.counters["empty"])
        fetches = article_fetches(arch, "r1")
        bad = selected(kind, 0.5, fetches)
        assert run.counters[counter] == len(bad) > 0
        assert set(stored(arch)) == set(fetches) - bad
        for url in bad:   # failed, and no validators kept: the next run must not get a 304
            assert fetches[url][:3] == ("failed", counter, None), url
        assert run.example_failures[counter][0].startswith(f"{SITE}: https://{HOST}/")

        runs2 = await crawl_once(arch, srv, "r2", sites=(SITE,), cfg=config())
        c2 = runs2[SITE].counters
        assert c2["new"] == len(bad) and c2.get(counter, 0) == 0
        assert set(stored(arch)) == set(fetches)
        assert assert_complete(srv, arch) >= len(fetches) - 2
        assert_archive_consistent(arch)
    finally:
        srv.stop()


async def test_bad_gzip_is_bad_encoding_not_retried_and_refetched_next_run(tmp_path):
    knobs = Knobs(fault_rate_bad_gzip=0.5, fault_attempts=1, fault_paths=[ARTICLES])
    srv, arch, run = await crawl_with(tmp_path, knobs, retries=3)
    try:
        fetches = article_fetches(arch, "r1")
        bad = selected("bad_gzip", 0.5, fetches)
        assert run.counters["failed:bad_encoding"] == len(bad) > 0
        for url in bad:
            outcome, kind, etag, attempts = fetches[url]
            assert (outcome, kind, etag, attempts) == ("failed", "bad_encoding", None, 1), url
        msg = run.example_failures["bad_encoding"][0]
        assert "body cannot be decoded" in msg and "gzip" in msg and "connection" not in msg
        assert set(stored(arch)) == set(fetches) - bad

        runs2 = await crawl_once(arch, srv, "r2", sites=(SITE,), cfg=config())
        assert runs2[SITE].counters["new"] == len(bad)
        assert set(stored(arch)) == set(fetches)
        assert_archive_consistent(arch)
    finally:
        srv.stop()


# -- force_https per site: a custom site on plain http ----------------------------------------------------

def plain_http_site():
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, Response
    from starlette.routing import Route

    slugs = [f"2026/01/0{i}/harbour-council-approves-new-ferry-line-{i}" for i in range(1, 4)]

    async def home(request):
        links = "".join(f'<li><a href="/news/{s}">Story {i}</a></li>' for i, s in enumerate(slugs))
        return HTMLResponse(f"<html><body><ul>{links}</ul></body></html>")

    async def article(request):
        n = request.path_params["rest"][-1]
        paras = "".join(f"<p>The harbour council approved ferry line {n} on Tuesday, paragraph {k}, after a "
                        f"long debate about costs and timetables.</p>" for k in range(6))
        return HTMLResponse(f"<html><head><title>Ferry line {n}</title></head><body><article><h1>Ferry line {n}"
                            f"</h1>{paras}</article></body></html>")

    return Starlette(routes=[Route("/robots.txt", lambda r: Response("", status_code=404)),
                             Route("/", home), Route("/news/{rest:path}", article)])


async def crawl_custom_site(app, site, tmp_path):
    """Discover and crawl, in one batch, the custom site ``plain`` (generic extractor, no delay,
    no retries) served by ``app`` on loopback; ``site(server_url)``: its settings besides domains
    and start page. Returns (server URL, discovered URLs, counters, the SiteRun)."""
    import dataclasses

    import extractors
    from crawl.config import parse_config
    from crawl.fetch import Fetcher
    from crawl.pipeline import SiteRun, crawl_batch, discover_urls
    from pipeline_helpers import no_sleep
    from replay.server import LoopbackServer
    from storage.staging import Staging
    from storage.state import CrawlState

    with LoopbackServer(app) as server:
        settings = {"domains": ["127.0.0.1"], "extractor": "generic", "start_pages": [server.url + "/"],
                    "politeness": {"delay_s": 0}, **site(server.url)}
        cfg = parse_config({"fetch": {"retries": 0}, "sites": {"plain": settings}}, "custom.toml")
        cfg = dataclasses.replace(cfg, fetch=dataclasses.replace(cfg.fetch, timeout_s=5.0))
        async with Fetcher(cfg, sleep=no_sleep) as fetcher:
            run = SiteRun(site=cfg.site("plain"), run_id="r1", fetcher=fetcher, extractor=extractors.GENERIC,
                          staging=Staging(tmp_path / "staging", "r1"), state=CrawlState())
            urls = [d.url for d in await discover_urls(run)]
            counters = await crawl_batch(run, urls, 0)
    return server.url, urls, counters, run


@pytest.mark.parametrize("force_https", [False, True])
async def test_a_plain_http_site_is_crawled_when_force_https_is_false(tmp_path, force_https):
    server_url, urls, counters, _ = await crawl_custom_site(plain_http_site(), lambda url: {"force_https": force_https},
                                                            tmp_path)
    assert len(urls) == 3
    if force_https:      # the default: http links are rewritten to https, which this server does not speak
        assert all(u.startswith("https://") for u in urls) and counters.get("extracted", 0) == 0
    else:
        assert all(u.startswith(server_url + "/news/") for u in urls)
        assert counters["extracted"] == counters["new"] == 3


# -- broken URLs in a page: links, rel=canonical, sitemap <loc> ----------------------------------------------

# Each is refused by urlsplit (an unclosed IPv6 bracket) or by w3lib (a space or an encoded "/" in
# the host; since w3lib 2.6, a host ending in a number that is no IPv4 address).
BROKEN_URLS = ["http://[::1/x", "http://exa mple.com/news/a", "http://999.1.1.1.1/news/c", "http://a%2fb.com/x"]


def broken_urls_site(loc: str):
    """Article n links to and names as its rel=canonical BROKEN_URLS[n]; the home page links to
    all of them; the sitemap lists the articles and ``loc``."""
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, Response
    from starlette.routing import Route

    slugs = [f"2026/01/0{i}/harbour-council-approves-new-ferry-line-{i}" for i in range(len(BROKEN_URLS))]

    async def home(request):
        links = "".join(f'<li><a href="/news/{s}">Story {i}</a></li>' for i, s in enumerate(slugs))
        links += "".join(f'<li><a href="{b}">Broken {i}</a></li>' for i, b in enumerate(BROKEN_URLS))
        return HTMLResponse(f"<html><body><ul>{links}</ul></body></html>")

    async def sitemap(request):
        base = str(request.base_url).rstrip("/")
        locs = [f"{base}/news/{s}" for s in slugs] + [loc]
        body = "".join(f"<url><loc>{u}</loc></url>" for u in locs)
        return Response(f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                        f"{body}</urlset>", media_type="application/xml")

    async def article(request):
        n = int(request.path_params["rest"][-1])
        paras = "".join(f"<p>The harbour council approved ferry line {n} on Tuesday, paragraph {k}, after a "
                        f"long debate about costs and timetables.</p>" for k in range(6))
        return HTMLResponse(f'<html><head><title>Ferry line {n}</title><link rel="canonical" href="{BROKEN_URLS[n]}">'
                            f'</head><body><article><h1>Ferry line {n}</h1>{paras}<p><a href="{BROKEN_URLS[n]}">'
                            f"more</a></p></article></body></html>")

    return Starlette(routes=[Route("/robots.txt", lambda r: Response("", status_code=404)), Route("/", home),
                             Route("/sitemap.xml", sitemap), Route("/news/{rest:path}", article)])


async def test_broken_urls_in_pages_cost_no_article(tmp_path):
    """A rel=canonical or a link that urlsplit or w3lib cannot read is ignored: the article is kept
    under its fetched URL. Before, a broken canonical failed its article's extraction (urljoin
    raised in the extractor), and with w3lib 2.6 (canonicalize_url raises on more hosts) it ended
    the whole batch. A sitemap <loc> urlsplit cannot read (a port out of range) is left out of
    discovery, as such links always were."""
    loc = "http://127.0.0.1:99999/news/2026/01/09/a-port-out-of-range"
    _, urls, counters, run = await crawl_custom_site(
        broken_urls_site(loc), lambda url: {"sitemaps": [url + "/sitemap.xml"], "force_https": False}, tmp_path)
    articles = [u for u in urls if "/news/2026/" in u]
    assert len(articles) == len(BROKEN_URLS)
    assert counters["extracted"] == counters["new"] == len(BROKEN_URLS)
    staged = staged_rows(run.staging, "article_versions")
    assert sorted(r["url"] for r in staged) == sorted(articles)      # each under its own URL, not the canonical
    assert loc not in urls and not run.example_failures
