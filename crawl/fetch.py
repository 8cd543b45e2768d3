"""Polite async fetching: robots.txt, per-host concurrency and delay, retries, WARC capture.

One shared ``httpx.AsyncClient`` (HTTP/1.1 keep-alive).  Only URLs owned by a
configured site are fetched.  Redirects are followed by hand so every hop is
checked against the site's domains and robots.txt, and archived under its real
URL.  Per-URL failures never raise: they come back as a ``FetchResult`` with
``outcome`` "failed" or "skipped", an ``error_kind`` and a message naming the
site, the URL, what happened and the fix.

Outcomes:
  fetched       2xx, body read (and decoded)
  not_modified  304 to a conditional request (validators from earlier runs)
  failed        timeout, connect, http_4xx, http_5xx, http_429, too_large,
                too_many_redirects, truncated, bad_encoding, robots_unavailable
                (transient kinds are worth retrying next run)

Content checks: a body shorter than its Content-Length or a chunked body cut off is
``truncated``, and so is an HTML page without ``</html>`` on a site whose pages fetched earlier
in the run all had it (a 200 cut short); both are retried. A body whose gzip/deflate does not
decode is ``bad_encoding`` (not retried: the server sends it that way). Bodies are decoded
with a cap on the decompressed size (extractors.limits.CappedDecoder), so a gzip bomb is
``too_large`` and never expands in memory. The charset comes from the bytes when the declared
one cannot be right (valid multi-byte UTF-8 labelled latin-1, or invalid UTF-8 labelled UTF-8).
  skipped       offsite (URL or redirect outside the site's domains),
                robots (disallowed by robots.txt, or robots.txt answered 401/403)
"""
from __future__ import annotations

import asyncio
import codecs
import collections
import contextlib
import email.utils
import functools
import logging
import math
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import urljoin, urlsplit

import httpx

from crawl.config import Config, SiteConfig
from crawl.fasthttp import LazyCookies, PerHostTransport
from crawl.hostgate import HostGate
from crawl.robots import RobotsCache, RobotsFetch, RobotsPolicy
from crawl.transport import HTTP11Transport, HostMapTransport
from crawl.warc import WarcRef, WarcWriter
from extractors.limits import BadEncoding, CappedDecoder, PageTooLarge

log = logging.getLogger(__name__)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRYABLE_KINDS = frozenset({"timeout", "connect", "truncated", "http_5xx", "http_429"})
# Codings we decode ourselves (with the size cap); servers are asked for no others.
ACCEPT_ENCODING = "gzip, deflate"
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_HTML_START = re.compile(rb"^(?:\xef\xbb\xbf)?\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>])", re.I | re.S)
_HTML_END = re.compile(rb"</html\s*>", re.I)
ROBOTS_MAX_REDIRECTS = 5  # RFC 9309 2.3.1.2: follow at least five redirects


class _DecodedOnRead:
    """``FetchResult.text`` and ``.encoding``: a fetched body is decoded when either is first read.
    Most article pages are decoded by the parse worker that parses them (crawl/parsejob.py), so
    the crawl process never pays for their charset check and decode (issue 12: ~0.12 ms of the
    crawl process's CPU per page). Setting either ends the deferral (the values set are kept)."""

    def __set_name__(self, owner, name: str) -> None:
        self._slot = "_" + name

    def __get__(self, obj, owner=None):
        if obj is None:
            return None                     # the dataclass field's default
        d = obj.__dict__
        if d.get("_undecoded"):
            d["_undecoded"] = False
            d["_encoding"], d["_text"] = decode_body(obj.content, obj.headers.get("content-type"))
        return d[self._slot]

    def __set__(self, obj, value) -> None:
        obj.__dict__[self._slot] = value
        obj.__dict__["_undecoded"] = False


@dataclass
class FetchResult:
    url: str                 # the URL asked for (real site URL, never the replay address)
    final_url: str           # after redirects (real site URL)
    site: str | None         # SiteConfig.name owning the URL
    outcome: str             # "fetched" | "not_modified" | "failed" | "skipped"
    status: int | None = None
    error_kind: str | None = None
    error: str | None = None
    content: bytes = b""     # decoded body (Content-Encoding undone)
    text: str | None = _DecodedOnRead()       # the body as text (None: not a text type) ...
    encoding: str | None = _DecodedOnRead()   # ... and its charset, both worked out on first read
    headers: dict[str, str] = field(default_factory=dict)   # lower-cased keys
    etag: str | None = None
    last_modified: str | None = None
    fetched_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    elapsed_ms: float = 0.0
    attempts: int = 0
    warc: WarcRef | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in ("fetched", "not_modified")

    def decode_later(self) -> None:
        """``text`` and ``encoding`` are worked out from ``content`` and its Content-Type when read."""
        self.__dict__["_undecoded"] = True


@dataclass
class _Exchange:
    """One HTTP request/response attempt (no redirects, no retries)."""
    url: str
    status: int | None = None
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    content: bytes = b""
    kind: str | None = None        # error kind, None if a complete response arrived
    detail: str | None = None
    retry_after: float | None = None
    warc: WarcRef | None = None
    attempts: int = 1


@dataclass
class _Host:
    semaphore: asyncio.Semaphore
    delay_s: float                  # Politeness.delay_s of the owning site
    crawl_delay: float = 0.0        # from robots.txt, once known
    last_start: float = -math.inf
    not_before: float = -math.inf   # pushed forward by Retry-After

    @property
    def min_gap(self) -> float:
        return max(self.delay_s, self.crawl_delay)


class Fetcher:
    def __init__(
        self,
        config: Config,
        *,
        host_map: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        warc: WarcWriter | None = None,
        validators: Mapping[str, tuple[str | None, str | None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        rng: random.Random | None = None,
        host_gate: HostGate | None = None,
    ):
        self.config = config
        self.settings = config.fetch
        self.warc = warc
        # WARC records are compressed, hashed and written in a thread of their own (isal's gzip and
        # hashlib's SHA-1 release the GIL): 16 % of the event loop's busy time when done on it,
        # the one thread every fetch goes through. One thread: records keep their order in the file.
        self._warc_thread: ThreadPoolExecutor | None = None
        self.validators: dict[str, tuple[str | None, str | None]] = dict(validators or {})
        self._clock = clock
        self._sleep = sleep
        self._now = now
        self._rng = rng or random.Random()
        # Politeness across processes sharing one archive (several workers); None: this process only.
        self._gate = host_gate
        self.stats: collections.Counter[str] = collections.Counter()
        self._hosts: dict[str, _Host] = {}
        self._robots = RobotsCache(self._fetch_robots)
        # Per site: HTML documents seen complete this run, with and without "</html>".
        self._html_endings: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)

        self.total_concurrency = max(1, sum(s.politeness.concurrency_per_host * len(s.domains)
                                            for s in config.sites.values()))
        limits = httpx.Limits(max_connections=self.total_concurrency,
                              max_keepalive_connections=self.total_concurrency, keepalive_expiry=30.0)
        if transport is None:
            # One pool per host, as large as the host's concurrency (the semaphore in _exchange
            # already holds requests to it); HTTP/1.1 on asyncio + httptools (crawl/transport.py).
            transport = PerHostTransport(lambda host: self._host_transport(host, host_map))
        elif host_map:
            transport = HostMapTransport(host_map, inner=transport)
        self._client = httpx.AsyncClient(
            transport=transport,
            headers={"User-Agent": self.settings.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
            timeout=httpx.Timeout(self.settings.timeout_s),
            follow_redirects=False,
            limits=limits,
        )
        if type(self._client._cookies) is httpx.Cookies:      # same jar, cheaper per response
            self._client._cookies = LazyCookies()

    def _host_transport(self, host: str, host_map: Mapping[str, str] | None) -> httpx.AsyncBaseTransport:
        host = host.lower()
        site = next((s for s in self.config.sites.values()
                     if any(host == d or host.endswith("." + d) for d in s.domains)), None)
        n = site.politeness.concurrency_per_host if site is not None else self.total_concurrency
        # A host map (the replay web) is applied where connections open: no per-request rewrite.
        return HTTP11Transport(max_connections=n, keepalive_expiry=30.0, connect_to=host_map)

    # -- lifecycle -------------------------------------------------------------
    async def aclose(self) -> None:
        await self._client.aclose()
        if self._warc_thread is not None:
            self._warc_thread.shutdown(wait=True)   # a write of a cancelled exchange ends before the file closes
            self._warc_thread = None

    async def _write_warc(self, url: str, **record) -> WarcRef:
        """``self.warc.write(url, **record)`` in the WARC thread; returns when the record is in the file."""
        if self._warc_thread is None:
            self._warc_thread = ThreadPoolExecutor(1, thread_name_prefix="warc-writer")
        write = functools.partial(self.warc.write, url, **record)
        return await asyncio.get_running_loop().run_in_executor(self._warc_thread, write)

    async def __aenter__(self) -> "Fetcher":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    # -- helpers ---------------------------------------------------------------
    def site_for(self, url: str) -> SiteConfig | None:
        for site in self.config.sites.values():
            if site.owns(url):
                return site
        return None

    def robots_policy(self, url: str) -> RobotsPolicy | None:
        """The cached robots policy for the URL's origin (None if not fetched yet)."""
        return self._robots.cached(url)

    def _host(self, url: str, site: SiteConfig) -> _Host:
        key = _host_key(url)
        host = self._hosts.get(key)
        if host is None:
            host = _Host(asyncio.Semaphore(site.politeness.concurrency_per_host), site.politeness.delay_s)
            self._hosts[key] = host
        return host

    async def _wait_turn(self, host: _Host) -> None:
        """Reserve the next start slot for this host and sleep until it."""
        now = self._clock()
        start = max(now, host.last_start + host.min_gap, host.not_before)
        host.last_start = start
        if start > now:
            await self._sleep(start - now)

    def _gated(self, url: str, site: SiteConfig, host: _Host):
        if self._gate is None:
            return contextlib.nullcontext()
        return self._gate.slot(_host_key(url), site.politeness.concurrency_per_host, host.min_gap)

    def _backoff(self, retry_number: int, retry_after: float | None) -> float:
        cap = self.settings.backoff_max_s
        if retry_after is not None:
            return min(cap, max(0.0, retry_after))
        return self._rng.uniform(0, min(cap, self.settings.backoff_base_s * (2 ** retry_number)))

    def _parse_retry_after(self, value: str | None) -> float | None:
        if not value:
            return None
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return max(0.0, (when - self._now()).total_seconds())

    # -- one exchange ----------------------------------------------------------
    async def _exchange(self, site: SiteConfig, url: str, headers: Mapping[str, str],
                        parsed: httpx.URL | None = None) -> _Exchange:
        """One request/response; ``parsed``: ``url`` already parsed by httpx (httpx parses a string
        URL twice per request, ~35 us, when building the request)."""
        host = self._host(url, site)
        max_bytes = self.settings.max_bytes
        ex = _Exchange(url)
        response: httpx.Response | None = None
        body = bytearray()
        truncated: str | None = None
        async with host.semaphore, self._gated(url, site, host):
            await self._wait_turn(host)
            try:
                # httpx timeouts are per phase; also bound the whole exchange (slow-drip bodies).
                async with asyncio.timeout(self.settings.timeout_s * 3):
                    async with self._client.stream("GET", parsed or url, headers=dict(headers)) as response:
                        ex.status = response.status_code
                        ex.headers = response.headers
                        declared = _int_or_none(response.headers.get("content-length"))
                        if declared is not None and declared > max_bytes and ex.status != 304:
                            ex.kind, truncated = "too_large", "length"
                            ex.detail = f"Content-Length {declared} exceeds {max_bytes}"
                        else:
                            # Raw bytes, decoded here with the cap on the decoded size.
                            decoder = _decoder(response.headers.get("content-encoding"), max_bytes)
                            async for chunk in response.aiter_raw():
                                body += decoder.feed(chunk)
                            body += decoder.finish()
            except PageTooLarge as e:
                body += e.partial          # archived up to the cap, marked WARC-Truncated: length
                ex.kind, truncated, ex.detail = "too_large", "length", str(e)
            except BadEncoding as e:
                ex.kind, ex.detail = "bad_encoding", str(e)
            except (httpx.TimeoutException, TimeoutError) as e:
                ex.kind, ex.detail = "timeout", f"{type(e).__name__}"
                truncated = "time" if ex.status is not None else None
            except httpx.DecodingError as e:
                ex.kind, ex.detail = "bad_encoding", str(e) or type(e).__name__
            except (httpx.RemoteProtocolError, httpx.ReadError) as e:
                if ex.status is not None:
                    ex.kind, truncated = "truncated", "disconnect"
                else:
                    ex.kind = "connect"
                ex.detail = str(e) or type(e).__name__
            except httpx.HTTPError as e:
                ex.kind, ex.detail = "connect", str(e) or type(e).__name__
        if ex.kind is None and ex.status == 200 and self._cut_html(site, ex.headers, body):
            ex.kind, truncated = "truncated", "unspecified"
            ex.detail = (f"the HTML ends without </html> after {len(body)} bytes, unlike the site's other "
                         f"pages this run")
        ex.content = bytes(body)
        self.stats["bytes"] += len(body)
        if ex.status is not None:
            if ex.kind is None:
                if ex.status >= 500:
                    ex.kind = "http_5xx"
                elif ex.status == 429:
                    ex.kind = "http_429"
                elif 400 <= ex.status < 500:
                    ex.kind = "http_4xx"
            if ex.status == 429 or ex.status >= 500:
                ex.retry_after = self._parse_retry_after(ex.headers.get("retry-after"))
            if self.warc is not None and response is not None:
                ex.warc = await self._write_warc(
                    url, status=ex.status, reason=response.reason_phrase,
                    headers=response.headers.multi_items(), body=ex.content,
                    request_headers=response.request.headers.multi_items(),
                    http_version=response.http_version or "HTTP/1.1",
                    date=self._now(), truncated=truncated,
                )
                self.stats["warc_records"] += 1
        return ex

    def _cut_html(self, site: SiteConfig, headers: httpx.Headers, body: bytes | bytearray) -> bool:
        """Whether a complete-looking 200 is an HTML document cut short: it starts as a document
        but has no ``</html>``, and every page of the site seen so far this run had one (sites
        that omit it, as HTML allows, are never flagged once one such page was seen)."""
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in _HTML_TYPES or not _HTML_START.match(bytes(body[:4096])):
            return False
        endings = self._html_endings[site.name]
        # The end tag is almost always in the last bytes: searched there first (a case-insensitive
        # pattern has no literal prefix, so a search from the start steps through every byte).
        if _HTML_END.search(body, max(0, len(body) - 1024)) or _HTML_END.search(body):
            endings["closed"] += 1
            return False
        if endings["closed"] and not endings["open"]:
            return True
        endings["open"] += 1
        return False

    async def _exchange_with_retries(self, site: SiteConfig, url: str, headers: Mapping[str, str],
                                     parsed: httpx.URL | None = None) -> _Exchange:
        attempt = 0
        while True:
            attempt += 1
            ex = await self._exchange(site, url, headers, parsed)
            ex.attempts = attempt
            if ex.kind not in RETRYABLE_KINDS or attempt > self.settings.retries:
                return ex
            self.stats["retries"] += 1
            wait = self._backoff(attempt - 1, ex.retry_after)
            if ex.retry_after is not None:
                host = self._host(url, site)
                host.not_before = max(host.not_before, self._clock() + wait)
            log.debug("%s: %s attempt %d failed (%s); retrying in %.2fs", site.name, url, attempt, ex.kind, wait)
            if wait > 0:
                await self._sleep(wait)

    # -- robots ------------------------------------------------------------------
    async def _fetch_robots(self, robots_url: str) -> RobotsFetch:
        site = self.site_for(robots_url)
        if site is None:  # cannot happen: only called for owned URLs
            return RobotsFetch(None, error="host belongs to no configured site")
        current = robots_url
        for _ in range(ROBOTS_MAX_REDIRECTS + 1):
            ex = await self._exchange_with_retries(site, current, {})
            self.stats["robots_fetches"] += 1
            if ex.status is None:
                return RobotsFetch(None, error=f"{ex.kind}: {ex.detail}")
            location = ex.headers.get("location")
            if ex.status in REDIRECT_STATUSES and location:
                nxt = urljoin(current, location)
                if not site.owns(nxt):
                    return RobotsFetch(None, error=f"robots.txt redirects to {nxt}, outside the site's "
                                                   f"domains {list(site.domains)} (add that host to domains)")
                current = nxt
                continue
            if ex.kind in ("truncated", "too_large", "bad_encoding"):   # unreadable: as if unreachable
                return RobotsFetch(None, error=f"{ex.kind}: {ex.detail}")
            return RobotsFetch(ex.status, ex.content,
                               error=f"HTTP {ex.status} after {ex.attempts} attempt(s)" if ex.kind else None)
        return RobotsFetch(None, error=f"more than {ROBOTS_MAX_REDIRECTS} redirects")

    # -- public API ----------------------------------------------------------------
    async def fetch(self, url: str, *, conditional: bool = True) -> FetchResult:
        started = time.perf_counter()
        fetched_at = self._now()
        result = await self._fetch(url, conditional, fetched_at)
        result.elapsed_ms = (time.perf_counter() - started) * 1000
        if result.outcome in ("fetched", "not_modified"):
            self.stats[result.outcome] += 1
        else:
            self.stats[f"{result.outcome}:{result.error_kind}"] += 1
            log.info("%s", result.error)
        return result

    async def _fetch(self, url: str, conditional: bool, fetched_at: datetime) -> FetchResult:
        s = self.settings
        ua = s.user_agent
        try:
            parsed = httpx.URL(url)
            valid = parsed.scheme in ("http", "https") and bool(parsed.host)
        except (httpx.InvalidURL, TypeError, ValueError):
            valid = False
        site = self.site_for(url) if valid else None

        def result(outcome: str, kind: str | None = None, error: str | None = None, **kw) -> FetchResult:
            kw.setdefault("final_url", url)
            return FetchResult(url=url, site=site.name if site else None, outcome=outcome,
                               error_kind=kind, error=error, fetched_at=fetched_at, **kw)

        if not valid:
            return result("skipped", "offsite", f"{url!r} is not an absolute http(s) URL; skipped. "
                                                f"Fix the link extraction or the configured URL")
        if site is None:
            host = urlsplit(url).hostname
            return result("skipped", "offsite",
                          f"{url}: host {host!r} belongs to no configured site; skipped. Add the host to a "
                          f"site's domains in the config if it should be archived")
        name = site.name
        current = url
        hops = 0
        attempts = 0
        while True:
            if s.respect_robots:
                policy = await self._robots.policy(current)
                self._host(current, site).crawl_delay = policy.crawl_delay(ua) or 0.0
                if policy.mode == "unavailable":
                    return result("failed", "robots_unavailable",
                                  f"{name}: {current} not fetched: {policy.robots_url} is unreachable "
                                  f"({policy.reason}); RFC 9309 says to treat that as a complete disallow, so "
                                  f"nothing from {policy.origin} is fetched this run; it will be retried next run",
                                  final_url=current, attempts=attempts)
                if not policy.can_fetch(current, ua):
                    why = (policy.reason if policy.mode == "disallow_all"
                           else f"{policy.robots_url} disallows it for user agent {ua!r}")
                    return result("skipped", "robots",
                                  f"{name}: {current} skipped: {why}. The publisher asks crawlers not to fetch "
                                  f"it; drop the URL from the site's start pages/feeds, or get permission and set "
                                  f"fetch.respect_robots = false",
                                  final_url=current, attempts=attempts)

            headers: dict[str, str] = {}
            if conditional:
                etag, last_modified = self.validators.get(current) or self.validators.get(url) or (None, None)
                if etag:
                    headers["If-None-Match"] = etag
                if last_modified:
                    headers["If-Modified-Since"] = last_modified
            ex = await self._exchange_with_retries(site, current, headers, parsed if current == url else None)
            attempts += ex.attempts
            location = ex.headers.get("location")
            if ex.status in REDIRECT_STATUSES and location and ex.kind is None:
                nxt = urljoin(current, location)
                hops += 1
                if hops > s.max_redirects:
                    return self._from_exchange(result, ex, "failed", "too_many_redirects",
                                               f"{name}: {url} failed: more than {s.max_redirects} redirects "
                                               f"(last hop {current} -> {nxt}); point the configured/linked URL at "
                                               f"the final page, or raise fetch.max_redirects", current, attempts)
                if urlsplit(nxt).scheme not in ("http", "https") or not site.owns(nxt):
                    return self._from_exchange(result, ex, "skipped", "offsite",
                                               f"{name}: {url} redirects to {nxt}, outside the site's domains "
                                               f"{list(site.domains)}; not followed. Add that host to the site's "
                                               f"domains if it is the same publication", current, attempts)
                current = nxt
                continue
            return self._finish(result, site, url, current, ex, attempts)

    def _from_exchange(self, result, ex: _Exchange, outcome: str, kind: str | None, error: str | None,
                       final_url: str, attempts: int) -> FetchResult:
        headers = {k.lower(): v for k, v in ex.headers.items()}
        return result(outcome, kind, error, final_url=final_url, status=ex.status, headers=headers,
                      etag=headers.get("etag"), last_modified=headers.get("last-modified"),
                      attempts=attempts, warc=ex.warc)

    def _finish(self, result, site: SiteConfig, url: str, final: str, ex: _Exchange, attempts: int) -> FetchResult:
        s = self.settings
        name = site.name
        tries = f"after {ex.attempts} attempts" if ex.attempts > 1 else "on the only attempt"
        kind = ex.kind
        if kind is None and ex.status == 304:
            r = self._from_exchange(result, ex, "not_modified", None, None, final, attempts)
            old_etag, old_lm = self.validators.get(final) or self.validators.get(url) or (None, None)
            r.etag = r.etag or old_etag
            r.last_modified = r.last_modified or old_lm
            return r
        if kind is None and ex.status is not None and 200 <= ex.status < 300:
            r = self._from_exchange(result, ex, "fetched", None, None, final, attempts)
            r.content = ex.content
            r.decode_later()
            return r
        messages = {
            "timeout": f"{name}: {url} failed {tries}: no response within fetch.timeout_s={s.timeout_s}s; the "
                       f"site is slow or down: raise timeout_s if it is just slow, otherwise the URL will be "
                       f"retried next run",
            "connect": f"{name}: {final} failed {tries}: could not connect or the server closed the connection "
                       f"({ex.detail}); check the host name, DNS and network (or the --replay host map); "
                       f"the URL will be retried next run",
            "truncated": f"{name}: {final} failed {tries}: the body arrived incomplete ({ex.detail}); the "
                         f"server or network is cutting responses short, nothing was stored and the URL will "
                         f"be retried next run",
            "bad_encoding": f"{name}: {final} failed: HTTP {ex.status} but the body cannot be decoded "
                            f"({ex.detail}); the server sends a broken compressed response, not a network "
                            f"fault, so it was not retried now; the URL will be fetched again next run",
            "too_large": f"{name}: {final} failed: {ex.detail} (fetch.max_bytes={s.max_bytes}); raise "
                         f"fetch.max_bytes if the page is legitimately that large",
            "http_5xx": f"{name}: {final} failed {tries}: HTTP {ex.status} from server; the site is failing, "
                        f"the URL will be retried next run",
            "http_429": f"{name}: {final} failed {tries}: HTTP 429 Too Many Requests; the site is rate-limiting "
                        f"us: raise politeness.delay_s or lower concurrency_per_host for [sites.{name}]",
            "http_4xx": f"{name}: {final} failed: HTTP {ex.status}; the page is missing or refused: check the URL "
                        f"is still valid and remove it from the site's config/links if it is gone",
        }
        if kind is None:  # 1xx/3xx without Location: nothing usable
            kind = "http_4xx"
            messages[kind] = (f"{name}: {final} failed: HTTP {ex.status} without a usable Location or body; "
                              f"check the URL in a browser and fix the configured/linked URL")
        r = self._from_exchange(result, ex, "failed", kind, messages[kind], final, attempts)
        r.etag = r.last_modified = None   # validators of a response we could not use are never kept
        if url != final:
            r.error = r.error.replace(f"{name}: {final}", f"{name}: {url} (redirected to {final})", 1)
        return r

    async def fetch_many(self, urls: Iterable[str], *, conditional: bool = True,
                         limit: int | None = None) -> AsyncIterator[FetchResult]:
        """Fetch concurrently (at most ``limit`` URLs in flight; per-host limits still apply),
        yielding results as they finish."""
        limit = limit or max(16, 4 * self.total_concurrency)
        it = iter(urls)
        pending: set[asyncio.Task[FetchResult]] = set()
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < limit:
                    try:
                        u = next(it)
                    except StopIteration:
                        exhausted = True
                        break
                    pending.add(asyncio.ensure_future(self.fetch(u, conditional=conditional)))
                if not pending:
                    return
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    yield task.result()
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)


# -- helpers ---------------------------------------------------------------------
def _host_key(url: str) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port else host


def _decoder(content_encoding: str | None, max_bytes: int) -> CappedDecoder:
    """The capped decoder for a Content-Encoding header ("gzip", "identity", "gzip, identity"...)."""
    codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if len(codings) > 1:
        raise BadEncoding(f"Content-Encoding {content_encoding!r} stacks several codings; only one of "
                          f"{ACCEPT_ENCODING} is accepted")
    return CappedDecoder(codings[0] if codings else None, max_bytes)


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


_TEXTUAL = ("text/", "application/xml", "application/xhtml", "application/json", "application/javascript",
            "application/rss", "application/atom", "application/rdf", "application/ld+json")
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:+-]+)""", re.IGNORECASE)
_XML_DECL = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9_.:+-]+)["']""", re.IGNORECASE)
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
# WHATWG treats these labels as windows-1252; pages labelled latin-1 routinely use 0x80-0x9F.
_WHATWG_ALIASES = {"iso8859-1": "cp1252", "ascii": "cp1252", "latin-1": "cp1252"}


def _codec(label: str | bytes | None) -> str | None:
    if not label:
        return None
    if isinstance(label, bytes):
        label = label.decode("ascii", errors="ignore")
    try:
        name = codecs.lookup(label.strip().strip("'\"").lower()).name
    except LookupError:
        return None
    return _WHATWG_ALIASES.get(name, name)


def is_textual(content_type: str | None) -> bool:
    if not content_type:
        return True  # unknown: try to decode
    ctype = content_type.split(";", 1)[0].strip().lower()
    return ctype.startswith(_TEXTUAL) or ctype.endswith(("+xml", "+json"))


def decode_body(content: bytes, content_type: str | None) -> tuple[str | None, str | None]:
    """(charset, text) of a body: ``detect_encoding``'s charset, bytes it cannot decode as U+FFFD, a
    byte order mark dropped; (None, None) for a content type that is not text."""
    encoding = detect_encoding(content, content_type)
    if encoding is None:
        return None, None
    text = content.decode(encoding, errors="replace")
    return encoding, text[1:] if text.startswith("\ufeff") else text


def detect_encoding(content: bytes, content_type: str | None) -> str | None:
    """Charset of a body: BOM, Content-Type charset, <meta>/XML declaration in the first 4 KB,
    else charset-normalizer.  None for non-text content types."""
    if not is_textual(content_type):
        return None
    for bom, name in _BOMS:
        if content.startswith(bom):
            return name
    declared = None
    if content_type:
        for param in content_type.split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset":
                declared = _codec(value)
                break
    if declared is None:
        head = content[:4096]
        m = _XML_DECL.match(head) or _META_CHARSET.search(head)
        if m:
            declared = _codec(m.group(1))
            # A page we could prescan as ASCII cannot really be UTF-16 (WHATWG rule).
            if declared is not None and declared.startswith(("utf-16", "utf_16")):
                declared = "utf-8"
    if declared is not None:
        # The label is checked against the bytes: multi-byte UTF-8 sequences (an "é" as C3 A9)
        # labelled latin-1 decode as mojibake ("CafÃ©"); bytes that are not UTF-8 labelled UTF-8
        # decode as U+FFFD. Either way the bytes win.
        utf8 = _is_utf8(content)
        if declared == "utf-8":
            # Mostly UTF-8 with a stray bad byte stays UTF-8 (one U+FFFD); no UTF-8 sequence at
            # all means a legacy charset mislabelled: sniff it.
            if utf8 or _UTF8_SEQUENCE.search(content):
                return declared
        elif utf8 and not content.isascii() and not declared.startswith(("utf-16", "utf_16", "utf-32")):
            return "utf-8"
        else:
            return declared
    if not content or _is_utf8(content):
        return "utf-8"
    from charset_normalizer import from_bytes
    results = from_bytes(content[:200_000])
    best = results.best()
    if best is None:
        return "cp1252"  # WHATWG's legacy default for undeclared, non-UTF-8 bytes
    # charset-normalizer often ranks a Baltic/Central-European code page first for Western
    # text (the same bytes decode almost alike).  Undeclared Latin-script news pages are
    # overwhelmingly windows-1252, so prefer it when it is a near-equal candidate.
    if best.encoding in _LATIN_SINGLE_BYTE:
        for match in results:
            if ("cp1252" in match.could_be_from_charset or match.encoding == "cp1252") \
                    and match.chaos <= best.chaos + 0.1:
                return "cp1252"
    return _codec(best.encoding) or "cp1252"


_LATIN_SINGLE_BYTE = frozenset({
    "cp1250", "cp1252", "cp1254", "cp1257", "latin_1", "iso8859_2", "iso8859_3", "iso8859_4", "iso8859_9",
    "iso8859_10", "iso8859_13", "iso8859_14", "iso8859_15", "iso8859_16", "mac_latin2", "mac_roman",
    "mac_iceland", "mac_turkish", "cp437", "cp775", "cp850", "cp852", "cp858",
})


_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def _is_utf8(content: bytes) -> bool:
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# C0 controls other than tab, newline, form feed and carriage return; C1 controls; U+FFFD.
_NOT_TEXT = frozenset(chr(c) for c in [*range(0, 9), 11, *range(14, 32), 127, *range(0x80, 0xA0)]) | {"\ufffd"}
# The same set counted in the UTF-8 bytes (C code, not a Python step per character): a C0
# control or DEL is its own byte, a C1 control C2 80-9F, U+FFFD EF BF BD; UTF-8 is
# self-synchronising, so those byte strings mean exactly those characters.
_C0_BYTES = bytes(ord(ch) for ch in sorted(_NOT_TEXT) if ord(ch) < 0x80)
_C1_UTF8 = re.compile(rb"\xc2[\x80-\x9f]")


def _not_text_count(raw: bytes) -> int:
    """How many characters of a text in ``_NOT_TEXT``, counted in its UTF-8 ``raw``."""
    n = len(raw) - len(raw.translate(None, _C0_BYTES))
    if raw.isascii():
        return n
    n += raw.count(b"\xef\xbf\xbd")
    return n + len(_C1_UTF8.findall(raw)) if b"\xc2" in raw else n


def looks_like_text(text: str | None, sample: int = 65536) -> bool:
    """Whether a decoded body is text at all: random or binary bytes served as text/html decode
    to many control characters and U+FFFD (about 1 in 8 characters); real pages to almost none."""
    if not text:
        return False
    head = text[:sample]
    # A NUL is a 00 byte in UTF-8 and no other character has one: looked for in the bytes, a
    # memchr, rather than in a str of 2-byte characters (a quarter of this function's time).
    raw = head.encode("ascii") if head.isascii() else head.encode("utf-8", "surrogatepass")
    if b"\x00" in raw:
        return False
    return _not_text_count(raw) <= len(head) * 0.01
