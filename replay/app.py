"""The replay web as one Starlette app, routed by the Host header.

Site URLs: see replay/sites/*.py and docs/MARKUP.md. Control endpoints (any Host):
``GET/POST /__replay__/knobs``, ``GET /__replay__/truth?url=...``, ``GET /__replay__/stats`` (counts,
and ``first_request_at``: the epoch time of the first site request), ``POST /__replay__/reset``
(clears stats, attempt and revision counters).
"""
from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import logging
import random
import re
import threading
import time
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime
from typing import Callable
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .captured import load_captured
from .corpus import HOST_TO_SITE, HOSTS, RECENT_WINDOW, SECTIONS, Corpus, CorpusArticle, unit
from .knobs import Knobs
from .sites import almayadeen, reuters
from .sites.common import Teaser, news_sitemap, robots, rss, sitemap_index, ticker_items, urlset

SITE_MODULES = {"almayadeen": almayadeen, "reuters": reuters}
PAGE_SIZE = 30
HTML = "text/html; charset=utf-8"
XML = "application/xml; charset=utf-8"
_AM_MONTH = re.compile(r"^/sitemaps/all/sitemap-(\d{4})-(\d{1,2})\.xml$")
_RT_MONTH = re.compile(r"^/arc/outboundfeeds/sitemap/(\d{4})-(\d{2})/?$")
_TRUNCATED_MSG = "ASGI callable returned without completing response."


class _ExpectedTruncation(logging.Filter):
    """Silence uvicorn's error line for truncations we caused on purpose (and only those)."""
    pending = 0
    lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage() == _TRUNCATED_MSG:
            with self.lock:
                if _ExpectedTruncation.pending > 0:
                    _ExpectedTruncation.pending -= 1
                    return False
        return True


logging.getLogger("uvicorn.error").addFilter(_ExpectedTruncation())


class _CutResponse(Response):
    """Declares the full Content-Length, sends half the bytes, then ends without completing."""

    async def __call__(self, scope, receive, send) -> None:
        with _ExpectedTruncation.lock:
            _ExpectedTruncation.pending += 1
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body[: len(self.body) // 2], "more_body": True})


class _CutChunkedResponse(Response):
    """Chunked transfer encoding (no Content-Length), half the bytes, then no final chunk."""

    async def __call__(self, scope, receive, send) -> None:
        with _ExpectedTruncation.lock:
            _ExpectedTruncation.pending += 1
        headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        await send({"type": "http.response.start", "status": self.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": self.body[: len(self.body) // 2], "more_body": True})


CONTENT_FAULTS = ("charset", "garbage", "empty", "bad_gzip")


def content_fault(kind: str, resp: Response, seed: str) -> Response:
    """The 200 ``resp`` spoilt as the knob ``fault_rate_<kind>`` says (headers kept, ETag included)."""
    headers = {k.decode(): v.decode() for k, v in resp.raw_headers if k not in (b"content-length", b"content-type")}
    ctype = resp.headers.get("content-type", HTML)
    if kind == "charset":
        return Response(resp.body, headers=headers | {"Content-Type": ctype.split(";")[0] + "; charset=iso-8859-1"})
    if kind == "garbage":
        return Response(random.Random(seed).randbytes(8500), headers=headers | {"Content-Type": ctype})
    if kind == "empty":
        return Response(b"", headers=headers | {"Content-Type": ctype})
    packed = bytearray(gzip.compress(resp.body))
    for i in range(20, len(packed) - 8, 7):     # corrupt the deflate data, keep the gzip header
        packed[i] ^= 0x5A
    return Response(bytes(packed), headers=headers | {"Content-Type": ctype, "Content-Encoding": "gzip"})


def _http_date(dt: datetime) -> str:
    return format_datetime(dt.astimezone(timezone.utc).replace(microsecond=0), usegmt=True)


class Replay:
    def __init__(self, corpus: Corpus, knobs: Knobs, clock: Callable[[], float]):
        self.corpus, self.knobs, self.clock = corpus, knobs, clock
        self.captured = load_captured()
        self.lock = threading.Lock()
        self._sections: dict[tuple[str, str], list[int]] = {}   # (site, section prefix) -> articles, newest first
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.attempts: Counter = Counter()        # host+path?query -> requests so far
            self.article_hits: Counter = Counter()    # (site, i) -> requests so far (for revisions)
            self.by_path: dict[str, Counter] = defaultdict(Counter)
            self.by_host: Counter = Counter()
            self.by_status: Counter = Counter()
            self.inflight: Counter = Counter()
            self.max_inflight: Counter = Counter()
            # Wall-clock time (epoch s) of the first site request since the start or a reset: how long
            # a crawler took to send its first request (bench/bench_first_request.py).
            self.first_request_at: float | None = None

    # ---- knob-driven article state ----
    def _served(self, site: str, i: int, variant: str, count: bool) -> CorpusArticle:
        c, k = self.corpus, self.knobs
        a = c.article(site, i)
        if site == "almayadeen" and unit(c.seed, i, "syndicate") < k.syndicate_share:
            a = c.syndicated(i)
        elif unit(c.seed, site, i, "rev") < k.revisions:
            with self.lock:
                hits = self.article_hits[(site, i)]
                if count:
                    self.article_hits[(site, i)] += 1
            if hits >= k.revision_after_requests or (k.revision_at is not None and self.clock() >= k.revision_at):
                a = c.revised(site, i)
        if variant == "duplicate":
            a = replace(a, url=c.duplicate_url(site, i), duplicate_of=a.url)
        return a

    def duplicated(self, site: str, i: int) -> bool:
        return unit(self.corpus.seed, site, i, "dup") < self.knobs.duplicate_share

    def truth(self, url: str) -> dict | None:
        hit = self.corpus.locate(url.replace("/amp/", "/", 1) if "/amp/" in url else url)
        if not hit or (hit[2] == "duplicate" and not self.duplicated(hit[0], hit[1])):
            return None
        return self._served(*hit, count=False).to_json()

    # ---- listings ----
    def teaser(self, site: str, i: int) -> Teaser:
        return Teaser(*self.corpus.headline(site, i))

    def _links(self, site: str, i: int, channel: str) -> list[tuple[Teaser, str]]:
        """An article's listing entries: its link (maybe a tracking/AMP variant) and any duplicate URL."""
        t = self.teaser(site, i)
        href = t.url
        if unit(self.corpus.seed, channel, t.url, "variant") < self.knobs.url_variants:
            p = urlsplit(t.url)
            if unit(t.url, "amp") < 0.3:
                href = f"https://{p.netloc}/amp{p.path}"
            else:
                href = f"{t.url}?utm_source={channel}&utm_medium=referral&utm_campaign=replay"
        out = [(t, href)]
        if self.duplicated(site, i):
            dup = replace(t, url=self.corpus.duplicate_url(site, i))
            out.append((dup, dup.url))
        return out

    def _section(self, site: str, prefix: str) -> list[int]:
        """The articles a listing shows, newest first; computed once per listing (the corpus is
        fixed), so page 3,000 of a backfill costs what page 1 does."""
        key = (site, prefix)
        found = self._sections.get(key)
        if found is None:
            newest_first = range(self.corpus.per_site - 1, -1, -1)
            found = [i for i in newest_first if not prefix or self.corpus.section_path(site, i).startswith(prefix)]
            self._sections[key] = found
        return found

    def newest(self, site: str, prefix: str, page: int, channel: str) -> tuple[list[tuple[Teaser, str]], bool]:
        items = self._section(site, prefix)
        start = (page - 1) * PAGE_SIZE
        links = [link for j in items[start:start + PAGE_SIZE] for link in self._links(site, j, channel)]
        return links, len(items) > start + PAGE_SIZE

    def ticker(self, site: str) -> list[str]:
        return ticker_items(site, self.corpus.seed, int(self.clock() // max(self.knobs.ticker_period_s, 1e-9)))

    # ---- sitemaps ----
    def months(self, site: str) -> list[tuple[int, int]]:
        """Months with at least one article (corpus or captured page), oldest first."""
        months = set(self.corpus.months(site))
        if site == "reuters":
            months |= {(c.published.year, c.published.month) for c in self.captured.values()}
        return sorted(months)

    def month_lastmod(self, site: str, y: int, m: int) -> datetime:
        """Newest article of the month: the last index of its range (index order is chronological)."""
        r = self.corpus.months(site).get((y, m), range(0))
        cands = [self.corpus.headline(site, r[-1])[2]] if len(r) else []
        if site == "reuters":
            cands += [c.published for c in self.captured.values() if (c.published.year, c.published.month) == (y, m)]
        return max(cands)

    def month_urls(self, site: str, y: int, m: int) -> list[tuple[str, datetime]]:
        r = self.corpus.months(site).get((y, m), range(0))
        rows = []
        for i in r:
            url, _, pub, _ = self.corpus.headline(site, i)
            rows.append((url, pub))
            if self.duplicated(site, i):
                rows.append((self.corpus.duplicate_url(site, i), pub))
        if site == "reuters":
            rows += [(c.url, c.published) for c in self.captured.values()
                     if (c.published.year, c.published.month) == (y, m)]
        return rows


class _Handlers:
    """The replay's request handlers over one ``Replay`` state (routes in ``build_app``)."""

    def __init__(self, rp: Replay, corpus: Corpus):
        self.rp, self.corpus = rp, corpus

    async def knobs_endpoint(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                self.rp.knobs.update(await request.json())
            except (ValueError, TypeError) as e:
                return JSONResponse({"error": str(e)}, status_code=400)
        return JSONResponse(self.rp.knobs.to_json())

    async def truth_endpoint(self, request: Request) -> Response:
        t = self.rp.truth(request.query_params.get("url", ""))
        return JSONResponse(t) if t else JSONResponse({"error": "not an article of the replay"}, status_code=404)

    async def stats_endpoint(self, request: Request) -> Response:
        with self.rp.lock:
            return JSONResponse({
                "total": sum(self.rp.by_host.values()), "by_host": dict(self.rp.by_host),
                "by_status": {str(k): v for k, v in self.rp.by_status.items()},
                "by_path": {p: {str(s): n for s, n in c.items()} for p, c in self.rp.by_path.items()},
                "max_inflight_by_host": dict(self.rp.max_inflight),
                "first_request_at": self.rp.first_request_at})

    async def reset_endpoint(self, request: Request) -> Response:
        self.rp.reset()
        return JSONResponse({"ok": True})

    async def site_endpoint(self, request: Request) -> Response:
        host = (request.headers.get("host") or "").rsplit(":", 1)[0].lower()
        site = HOST_TO_SITE.get(host)
        if site is None:
            return Response(f"replay: unknown host {host!r}; served hosts: {', '.join(sorted(HOST_TO_SITE))}\n",
                            status_code=404, media_type="text/plain")
        path = request.url.path
        path_qs = path + (f"?{request.url.query}" if request.url.query else "")
        with self.rp.lock:
            if self.rp.first_request_at is None:
                self.rp.first_request_at = time.time()
            self.rp.attempts[host + path_qs] += 1
            attempt = self.rp.attempts[host + path_qs]
            self.rp.inflight[host] += 1
            self.rp.max_inflight[host] = max(self.rp.max_inflight[host], self.rp.inflight[host])
        try:
            resp = await self._respond(request, site, host, path, path_qs, attempt)
        finally:
            with self.rp.lock:
                self.rp.inflight[host] -= 1
        with self.rp.lock:
            self.rp.by_path[path_qs][resp.status_code] += 1
            self.rp.by_host[host] += 1
            self.rp.by_status[resp.status_code] += 1
        return resp

    async def _respond(self, request, site, host, path, path_qs, attempt) -> Response:
        k = self.rp.knobs
        fault = None
        if attempt <= k.fault_attempts and (not k.fault_paths or any(re.match(p, path_qs) for p in k.fault_paths)):
            for kind, rate in (("429", k.fault_rate_429), ("500", k.fault_rate_500),
                               ("truncate", k.fault_rate_truncate), ("slow", k.fault_rate_slow),
                               ("charset", k.fault_rate_charset), ("garbage", k.fault_rate_garbage),
                               ("empty", k.fault_rate_empty), ("bad_gzip", k.fault_rate_bad_gzip)):
                if unit(kind, host, path_qs) < rate:
                    fault = kind
                    break
        if fault == "429":
            return Response("Too Many Requests\n", status_code=429, media_type="text/plain",
                            headers={"Retry-After": str(k.retry_after_s)})
        if fault == "500":
            return Response("Internal Server Error\n", status_code=500, media_type="text/plain")
        if fault == "slow":
            await asyncio.sleep(k.slow_s)
        resp = self._route(request, site, path)
        if fault == "truncate" and resp.status_code == 200 and resp.body:
            if k.truncate_mode == "html":
                return Response(resp.body[: len(resp.body) // 2], media_type=resp.media_type)
            if k.truncate_mode == "chunked":
                return _CutChunkedResponse(resp.body, media_type=resp.media_type)
            return _CutResponse(resp.body, media_type=resp.media_type)
        if fault in CONTENT_FAULTS and resp.status_code == 200 and resp.body:
            return content_fault(fault, resp, host + path_qs)
        return resp

    def _route(self, request: Request, site: str, path: str) -> Response:
        mod = SITE_MODULES[site]
        k = self.rp.knobs
        if path == "/robots.txt":
            maps = [mod.BASE + mod.SITEMAP_INDEX] + ([mod.BASE + reuters.NEWS_SITEMAP] if site == "reuters" else [])
            return Response(robots(mod.DISALLOW, k.crawl_delay, maps), media_type="text/plain; charset=utf-8")
        if path.rstrip("/") == mod.SITEMAP_INDEX.split("?")[0].rstrip("/"):
            entries = []
            for y, m in self.rp.months(site):
                entries.append((mod.BASE + mod.month_sitemap_path(y, m), self.rp.month_lastmod(site, y, m)))
            return Response(sitemap_index(entries), media_type=XML)
        mm = (_AM_MONTH if site == "almayadeen" else _RT_MONTH).match(path)
        if mm:
            rows = self.rp.month_urls(site, int(mm.group(1)), int(mm.group(2)))
            return Response(urlset(rows), media_type=XML) if rows else self._not_found(path)
        if site == "reuters" and path.rstrip("/") == reuters.NEWS_SITEMAP.split("?")[0].rstrip("/"):
            since = self.corpus.end_dt - RECENT_WINDOW
            items = [t for i in self.corpus.recent_indices(site, since) for t, _ in self.rp._links(site, i, "news")]
            return Response(news_sitemap(items[::-1], "Reuters"), media_type=XML)
        if path.rstrip("/") == mod.RSS.split("?")[0].rstrip("/"):
            links, _ = self.rp.newest(site, "", 1, "rss")
            name = "Al Mayadeen English" if site == "almayadeen" else "Reuters"
            return Response(rss(name, mod.BASE + "/", f"Latest news from {name}", links),
                            media_type="application/rss+xml; charset=utf-8")
        clean = path.strip("/")
        sections = {p for p, _, _ in SECTIONS[site]} | {p.split("/")[0] for p, _, _ in SECTIONS[site]}
        if clean == "" or clean in sections:
            try:
                page = max(1, int(request.query_params.get("page", "1")))
            except ValueError:
                page = 1
            links, more = self.rp.newest(site, clean, page, "home" if not clean else "section")
            heading = "Home" if not clean else clean.split("/")[-1].replace("-", " ").title()
            nxt = f"{path}?page={page + 1}" if more else None
            html = mod.render_listing(heading, links, self.rp.ticker(site), nxt).encode()
            # Listing ETags come from the whole page, so they change with the BREAKING ticker.
            return self._conditional(request, html, '"' + hashlib.sha1(html).hexdigest()[:20] + '"', None)
        amp = path.startswith("/amp/")
        hit = self.corpus.locate(f"https://{HOSTS[site]}{path[4:] if amp else path}")
        if hit and (hit[2] == "canonical" or self.rp.duplicated(hit[0], hit[1])):
            return self._article(request, *hit, amp=amp)
        cap = self.rp.captured.get(path.rstrip("/")) if site == "reuters" else None
        if cap is not None:
            return Response(cap.path.read_bytes(), media_type=HTML)
        return self._not_found(path)

    def _article(self, request: Request, site: str, i: int, variant: str, amp: bool) -> Response:
        a = self.rp._served(site, i, variant, count=True)
        truth = json.dumps(a.to_json(), sort_keys=True, ensure_ascii=False)
        # Strong ETag keyed on the article (content + revision + template), never on the ticker.
        etag = '"' + hashlib.sha1(f"{truth}|{self.rp.knobs.redesign}|{amp}".encode()).hexdigest()[:24] + '"'
        lm = a.modified
        cond = self._check(request, etag, lm)
        if cond:
            return cond
        n = self.corpus.per_site
        most_read = [self.rp.teaser(site, j) for j in range(n - 1, n - 5, -1) if j != i][:4]
        read_next = [self.rp.teaser(site, j) for j in range(i - 1, i - 5, -1) if j >= 0]
        html = SITE_MODULES[site].render_article(a, self.rp.ticker(site), most_read, read_next,
                                                 redesign=self.rp.knobs.redesign, amp=amp).encode()
        return Response(html, media_type=HTML, headers={"ETag": etag, "Last-Modified": _http_date(lm)})

    def _check(self, request: Request, etag: str, lm: datetime | None) -> Response | None:
        """304 per RFC 9110: If-None-Match wins; If-Modified-Since only when it is absent."""
        headers = {"ETag": etag} | ({"Last-Modified": _http_date(lm)} if lm else {})
        inm = request.headers.get("if-none-match")
        if inm is not None:
            tags = [t.strip().removeprefix("W/") for t in inm.split(",")]
            return Response(status_code=304, headers=headers) if "*" in tags or etag in tags else None
        ims = request.headers.get("if-modified-since")
        if ims and lm is not None:
            try:
                since = parsedate_to_datetime(ims)
            except (TypeError, ValueError):
                return None
            if since.tzinfo and lm.replace(microsecond=0) <= since:
                return Response(status_code=304, headers=headers)
        return None

    def _conditional(self, request: Request, body: bytes, etag: str, lm: datetime | None) -> Response:
        return self._check(request, etag, lm) or Response(body, media_type=HTML, headers={"ETag": etag})

    def _not_found(self, path: str) -> Response:
        return Response(f"replay: no page at {path}\n", status_code=404, media_type="text/plain")


def build_app(corpus: Corpus, knobs: Knobs | None = None, clock: Callable[[], float] = time.time) -> Starlette:
    rp = Replay(corpus, knobs or Knobs(), clock)
    h = _Handlers(rp, corpus)
    routes = [
        Route("/__replay__/knobs", h.knobs_endpoint, methods=["GET", "POST"]),
        Route("/__replay__/truth", h.truth_endpoint, methods=["GET"]),
        Route("/__replay__/stats", h.stats_endpoint, methods=["GET"]),
        Route("/__replay__/reset", h.reset_endpoint, methods=["POST"]),
        Route("/{path:path}", h.site_endpoint, methods=["GET", "HEAD"]),
    ]
    app = Starlette(routes=routes)
    app.state.replay = rp
    return app
