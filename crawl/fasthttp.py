"""httpx with less CPU per request: one connection pool per host, cheap pool bookkeeping.

Still httpx + httpcore (HTTP/1.1 keep-alive); only these costs of httpcore 1.0.9 are removed
(issue 12; measured in docs/BENCHMARKS.md, "The scrape flow against Scrapy"):

* One pool per host (``PerHostTransport``), sized to the host's ``concurrency_per_host``: httpcore
  re-examines every connection of its pool at every request start and end, so one pool of 48
  connections for every host cost 3x more than 16-connection pools.
* ``LinearPool``: httpcore's ``_assign_requests_to_connections`` with the same decisions, but its
  surplus-idle test (a list of every connection, built once per connection: quadratic; the list's
  length is just ``len(self._connections)``) and per-request list building made linear.
* ``LazyCookies``: responses without Set-Cookie skip http.cookiejar.
* ``_Stream``: the idle-socket check (``is_readable``, asked of every idle connection at every
  pool change) polls the socket found once at connect; anyio rebuilt a dict of socket attributes
  on every ``extra()`` call (a quarter of a request's CPU).

The pool relies on httpcore internals; with another httpcore major/minor version than the one it
was written against, ``fast_transport`` builds the stock pool (one log line) instead.
"""
from __future__ import annotations

import logging
import select
from collections.abc import Callable

import httpcore
import httpx

log = logging.getLogger(__name__)

# _assign_requests_to_connections below mirrors this httpcore's; newer ones get the stock pool.
_HTTPCORE_TESTED = ("1.0.",)
_warned: list[bool] = []


class _Stream(httpcore.AsyncNetworkStream):
    """httpcore's anyio stream, with ``is_readable`` (httpcore's ``is_socket_readable``: a closed
    socket counts as readable, at EOF) answered from the socket looked up once."""

    def __init__(self, inner: httpcore.AsyncNetworkStream):
        self._inner = inner
        self._sock = inner.get_extra_info("socket")
        self._poll: select.poll | None = None      # registered once, polled at every pool change

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(self, ssl_context, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str):
        if info != "is_readable":
            return self._inner.get_extra_info(info)
        sock = self._sock
        if sock is None or sock.fileno() < 0:      # closed: its fd number may be another socket's now
            return True
        if self._poll is None:
            self._poll = select.poll()
            self._poll.register(sock.fileno(), select.POLLIN)
        return bool(self._poll.poll(0))


class _Backend(httpcore.AsyncNetworkBackend):
    """httpcore's anyio backend, its streams wrapped in ``_Stream``."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        return _Stream(await self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        return _Stream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class LinearPool(httpcore.AsyncConnectionPool):
    """httpcore 1.0's connection pool; ``_assign_requests_to_connections`` makes the same
    decisions in the same order (drop closed, close expired and surplus idle; then per queued
    request: the first available connection, else a new one, else replace the first idle one)."""

    def _assign_requests_to_connections(self) -> list:
        closing = []
        connections = self._connections
        for connection in list(connections):
            if connection.is_closed():
                connections.remove(connection)
            elif connection.has_expired():
                connections.remove(connection)
                closing.append(connection)
            elif connection.is_idle() and len(connections) > self._max_keepalive_connections:
                connections.remove(connection)
                closing.append(connection)
        for pool_request in self._requests:
            if not pool_request.is_queued():
                continue
            origin = pool_request.request.url.origin
            available = next((c for c in connections if c.can_handle_request(origin) and c.is_available()), None)
            if available is None:
                if len(connections) >= self._max_connections:
                    idle = next((c for c in connections if c.is_idle()), None)
                    if idle is None:
                        continue   # stays queued until a connection frees up
                    connections.remove(idle)
                    closing.append(idle)
                available = self.create_connection(origin)
                connections.append(available)
            pool_request.assign_to_connection(available)
        return closing


    async def _close_connections(self, closing: list) -> None:
        # httpcore enters an anyio cancel scope (shielded) at every request end to close nothing.
        if closing:
            await super()._close_connections(closing)


class LazyCookies(httpx.Cookies):
    """httpx's cookie jar. A response without Set-Cookie is not handed to http.cookiejar, which
    would find no cookie in it after building urllib request/response wrappers for it."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers or "set-cookie2" in response.headers:
            super().extract_cookies(response)


def fast_transport(limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """An HTTP/1.1 ``httpx.AsyncHTTPTransport`` with ``LinearPool`` and the cheap socket check."""
    transport = httpx.AsyncHTTPTransport(limits=limits, http1=True, http2=False)
    stock = getattr(transport, "_pool", None)
    if not httpcore.__version__.startswith(_HTTPCORE_TESTED) or type(stock) is not httpcore.AsyncConnectionPool:
        if not _warned:
            _warned.append(True)
            log.info("httpcore %s: not the 1.0 connection pool crawl/fasthttp.py was written for; using the "
                     "stock pool (same results, more CPU per request)", httpcore.__version__)
        return transport
    transport._pool = LinearPool(
        ssl_context=stock._ssl_context, max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections, keepalive_expiry=limits.keepalive_expiry,
        http1=True, http2=False, network_backend=_Backend())
    return transport


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
