"""httpx with less CPU per request: one transport per host, cookies parsed only when set.

Issue 12, measured in docs/BENCHMARKS.md ("The scrape flow against Scrapy"):

* ``PerHostTransport``: one transport (so one connection pool) per host, sized to the host's
  ``concurrency_per_host`` by the Fetcher; the transport itself is crawl/transport.py's
  ``HTTP11Transport``.
* ``LazyCookies``: responses without Set-Cookie skip http.cookiejar.
"""
from __future__ import annotations

from collections.abc import Callable

import httpx


class LazyCookies(httpx.Cookies):
    """httpx's cookie jar. A response without Set-Cookie is not handed to http.cookiejar, which
    would find no cookie in it after building urllib request/response wrappers for it."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers or "set-cookie2" in response.headers:
            super().extract_cookies(response)


class PerHostTransport(httpx.AsyncBaseTransport):
    """One transport (so one connection pool) per host, made by ``make(host)`` on first use."""

    def __init__(self, make: Callable[[str], httpx.AsyncBaseTransport]):
        self._make = make
        self._by_host: dict[str, httpx.AsyncBaseTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        # The Fetcher's per-host key (its semaphore): host, and the port when one is given.
        key = f"{url.host}:{url.port}" if url.port else url.host
        transport = self._by_host.get(key)
        if transport is None:
            transport = self._by_host[key] = self._make(url.host)
        return await transport.handle_async_request(request)

    async def aclose(self) -> None:
        transports, self._by_host = list(self._by_host.values()), {}
        for transport in transports:
            await transport.aclose()
