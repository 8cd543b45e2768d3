"""httpx transports of the crawler.

``HTTP11Transport``: HTTP/1.1 for ``httpx.AsyncClient`` on asyncio directly, for less CPU per
request than httpx's stock transport (issue 12: httpcore's anyio locks and cancel scopes, h11's
events and its pool's bookkeeping were ~40 % of the crawl process's CPU). One
``asyncio.Protocol`` per connection; responses parsed by ``httptools`` (llhttp, the C parser
uvicorn uses); a request written as one bytes buffer. Only the public ``httpx.AsyncBaseTransport``
API is used, so httpx stays the client API (redirects, cookies, content decoding, timeouts).

* Keep-alive pool per (scheme, host, port), at most ``max_connections`` connections; idle ones
  expire after ``keepalive_expiry`` seconds, and one the server closes (EOF seen by the protocol)
  leaves the pool at once. A GET/HEAD whose reused connection closes before any byte of the
  response (the server dropped it meanwhile) is sent once more on a new connection.
* Bodies framed by Content-Length, chunked or the end of the connection; none for HEAD, 1xx, 204,
  304. A ``Connection: close`` or HTTP/1.0 response closes its connection after the body, and so
  does a response stream closed before its end (the rest of the body is still on the wire).
  Reading pauses while more than 256 KiB of body wait unread.
* Timeouts (``request.extensions["timeout"]``): pool, connect, write, read (no byte for that
  long while waiting for one); raised as httpx's own exceptions, as are connection failures
  (``ConnectError``, ``ReadError``, ``RemoteProtocolError`` with llhttp's message for a malformed
  response). A cancelled request closes its connection.
* https with httpx's default SSL context (certifi), ALPN "http/1.1".

Not supported: proxies, HTTP/2, pipelining, protocol upgrades (a 101 is a protocol error).

``HostMapTransport``: sends chosen hosts to another address (the local replay web).
"""
from __future__ import annotations

import asyncio
import collections
import math
import ssl
from collections.abc import Mapping

import httptools
import httpx

_PAUSE_READING_AT = 256 * 1024          # unread body bytes buffered per connection
_RETRYABLE_METHODS = frozenset({"GET", "HEAD"})
_DEFAULT_PORTS = {b"http": 80, b"https": 443}
_default_ssl: list[ssl.SSLContext] = []  # one for every transport: loading certifi costs ~20 ms


def default_ssl_context() -> ssl.SSLContext:
    """httpx's default context (certifi roots, hostname check), offering only HTTP/1.1 by ALPN."""
    if not _default_ssl:
        ctx = httpx.create_ssl_context()
        ctx.set_alpn_protocols(["http/1.1"])
        _default_ssl.append(ctx)
    return _default_ssl[0]


class HTTP11Transport(httpx.AsyncBaseTransport):
    """HTTP/1.1 keep-alive transport on asyncio + httptools (see the module docstring)."""

    def __init__(self, *, max_connections: int = 10, keepalive_expiry: float = 30.0,
                 ssl_context: ssl.SSLContext | None = None, connect_to: Mapping[str, str] | None = None):
        """``connect_to`` ({"www.reuters.com": "http://127.0.0.1:8765"}): requests for those hosts
        are sent to that address instead (the replay web), their URL, ``Host`` header and
        everything above the transport unchanged; done where the connection is opened, so no
        URL or request is rebuilt per request (``HostMapTransport`` did: ~10 % of a replay
        crawl's CPU)."""
        if max_connections < 1:
            raise ValueError(f"max_connections={max_connections}: a pool needs at least 1 connection")
        self.max_connections = max_connections
        self.keepalive_expiry = keepalive_expiry
        self._ssl_context = ssl_context
        self._connect_to: dict[str, httpx.URL] = {h.lower(): _map_target(h, t) for h, t in (connect_to or {}).items()}
        self._pools: dict[tuple[bytes, bytes, int | None], _Pool] = {}

    def _pool_for(self, url: httpx.URL) -> _Pool:
        key = (url.raw_scheme, url.raw_host, url.port)
        pool = self._pools.get(key)
        if pool is None:
            scheme = url.raw_scheme
            if scheme not in _DEFAULT_PORTS:
                raise httpx.UnsupportedProtocol(f"{url}: only http:// and https:// URLs can be fetched")
            target = self._connect_to.get(url.host.lower()) if self._connect_to else None
            if target is not None:
                scheme = target.raw_scheme
                host, port = target.raw_host.decode("ascii"), target.port or _DEFAULT_PORTS[scheme]
                prefix = target.raw_path.split(b"?", 1)[0].rstrip(b"/")
            else:
                host, port, prefix = url.raw_host.decode("ascii"), url.port or _DEFAULT_PORTS[scheme], b""
            ctx = (self._ssl_context or default_ssl_context()) if scheme == b"https" else None
            pool = self._pools[key] = _Pool(host, port, ctx, self.max_connections, self.keepalive_expiry)
            pool.path_prefix = prefix
        return pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout") or {}
        pool = self._pool_for(request.url)
        data = await _request_bytes(request, pool.path_prefix)
        head = request.method == "HEAD"
        may_retry = request.method in _RETRYABLE_METHODS
        fresh = False
        while True:
            conn = await pool.acquire(timeout.get("pool"), timeout.get("connect"), fresh)
            try:
                await conn.send(request, data, head, timeout.get("write"))
                await conn.receive_headers(timeout.get("read"))
            except _Stale as stale:
                pool.discard(conn)
                if may_retry and conn.served and not fresh:   # a kept-alive connection the server dropped
                    fresh = True
                    continue
                raise stale.error from None
            except BaseException:          # errors, timeouts, cancellation: the connection is unusable
                pool.discard(conn)
                raise
            return httpx.Response(
                conn.status, headers=conn.headers, stream=_ResponseStream(pool, conn, timeout.get("read")),
                extensions={"http_version": conn.http_version, "reason_phrase": conn.reason})

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()


def _map_target(host: str, target: str) -> httpx.URL:
    url = httpx.URL(target)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"host map entry {host!r} -> {target!r}: the target must be an "
                         f"http(s) base URL such as 'http://127.0.0.1:8765'")
    return url


async def _request_bytes(request: httpx.Request, path_prefix: bytes = b"") -> bytes:
    """The request line (its path under ``path_prefix``), headers and body as one buffer."""
    lines = [b"%b %b%b HTTP/1.1\r\n" % (request.method.encode("ascii"), path_prefix, request.url.raw_path)]
    lines += [b"%b: %b\r\n" % pair for pair in request.headers.raw]
    lines.append(b"\r\n")
    head = b"".join(lines)
    # One line break per line: a CR or LF inside a value (an ETag echoed from a server, say)
    # would start a header or a request of its own.
    if head.count(b"\n") != len(lines) or head.count(b"\r") != len(lines):
        raise httpx.LocalProtocolError(f"a request header for {request.url} contains a line break; not sent "
                                       f"(fix the header value)", request=request)
    headers = request.headers
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    if not chunked and "content-length" not in headers:
        return head
    body = b"".join([part async for part in request.stream])
    if chunked:
        body = (b"%x\r\n%b\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
    return head + body


class _Stale(Exception):
    """The connection closed before any byte of the response arrived."""

    def __init__(self, error: httpx.TransportError):
        super().__init__(str(error))
        self.error = error


class _Pool:
    """Connections to one origin: idle ones (most recently used taken first), a cap on how many
    exist (idle, in use or connecting), requests waiting for one in arrival order."""

    def __init__(self, host: str, port: int, ssl_context: ssl.SSLContext | None, max_connections: int,
                 keepalive_expiry: float):
        self.host, self.port = host, port
        self.path_prefix = b""      # prepended to request paths (a connect_to target's base path)
        self.origin = f"{'https' if ssl_context else 'http'}://{host}:{port}"
        self.loop = asyncio.get_running_loop()
        self._ssl = ssl_context
        self._max = max_connections
        self._expiry = keepalive_expiry
        self._idle: collections.deque[_Connection] = collections.deque()
        self._open = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._closed = False

    async def acquire(self, pool_timeout: float | None, connect_timeout: float | None,
                      fresh: bool) -> _Connection:
        """An idle connection (unless ``fresh``), else a new one once there is room under the cap."""
        deadline: float | None = None
        while True:
            if not fresh:
                conn = self._take_idle()
                if conn is not None:
                    conn.in_use = True
                    return conn
            if self._open < self._max:
                break
            if fresh and self._idle:          # make room: idle ones are as old as the one that failed
                self._close_idle(self._idle.popleft())
                continue
            deadline = await self._wait_turn(pool_timeout, deadline)
        self._open += 1
        try:
            return await self._connect(connect_timeout)
        except BaseException:
            self._open -= 1
            self._wake_one()
            raise

    def _take_idle(self) -> _Connection | None:
        idle = self._idle
        if not idle:
            return None
        expired_before = self.loop.time() - self._expiry
        while idle and idle[0].idle_since < expired_before:
            self._close_idle(idle.popleft())
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
            self._open -= 1            # not expected: a connection closed while idle leaves at once
        return None

    def _close_idle(self, conn: _Connection) -> None:
        conn.close(abort=True)         # nothing to flush; no wait for a TLS close_notify
        self._open -= 1
        self._wake_one()

    async def _wait_turn(self, timeout: float | None, deadline: float | None) -> float | None:
        if deadline is None and timeout is not None:
            deadline = self.loop.time() + timeout
        waiter = self.loop.create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout_at(deadline):
                try:
                    await waiter
                except BaseException:
                    if waiter.done() and not waiter.cancelled():
                        self._wake_one()      # woken, but leaving: pass the turn on
                    else:
                        self._waiters.remove(waiter)
                    raise
        except TimeoutError:
            raise httpx.PoolTimeout(f"no free connection to {self.origin} within the pool timeout ({timeout} s): "
                                    f"all {self._max} connections stayed busy") from None
        return deadline

    def _wake_one(self) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _connect(self, timeout: float | None) -> _Connection:
        try:
            async with asyncio.timeout(timeout):
                _, conn = await self.loop.create_connection(
                    lambda: _Connection(self), self.host, self.port, ssl=self._ssl,
                    server_hostname=self.host if self._ssl else None)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {self.origin} took longer than the connect timeout "
                                       f"({timeout} s)") from None
        except OSError as exc:    # refused, unreachable, DNS, TLS (ssl.SSLError is an OSError)
            raise httpx.ConnectError(f"cannot connect to {self.origin}: {exc}") from exc
        return conn

    def release(self, conn: _Connection) -> None:
        """Back to the pool after a complete response, or closed if it cannot carry another."""
        conn.in_use = False
        conn.served += 1
        if conn.closed or not conn.reusable or self._closed:
            self.discard(conn)
            return
        conn.idle_since = self.loop.time()
        self._idle.append(conn)
        self._wake_one()

    def discard(self, conn: _Connection) -> None:
        """Close a connection that will not be reused (failed, its response not read to the end, or
        not keep-alive)."""
        conn.in_use = False
        conn.close(abort=not conn.message_done)
        self._open -= 1
        self._wake_one()

    def forget_idle(self, conn: _Connection) -> None:
        """An idle connection closed by the server."""
        try:
            self._idle.remove(conn)
        except ValueError:
            return
        self._open -= 1
        self._wake_one()

    def close(self) -> None:
        self._closed = True
        while self._idle:
            self._close_idle(self._idle.pop())


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection, one exchange at a time. The protocol callbacks (asyncio's and
    llhttp's) fill in the current response; the requesting task waits on ``_waiter``."""

    def __init__(self, pool: _Pool):
        self._pool = pool
        self._loop = pool.loop
        self._transport: asyncio.Transport | None = None
        self.in_use = True             # by the request that opened it, then as the pool hands it out
        self.closed = False            # EOF, error, or closed here: never reused
        self.served = 0                # responses completed on it
        self.idle_since = 0.0
        self._write_paused = False
        self._drain: asyncio.Future[None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._deadline = math.inf      # of the current wait for a byte (read timeout)
        self._read_timeout: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = math.inf
        self._begin(None, False)

    def _begin(self, request: httpx.Request | None, head: bool) -> None:
        """Reset the per-exchange state (a new parser: llhttp cannot be told a HEAD response has no body)."""
        if request is not None:
            self._parser = httptools.HttpResponseParser(self)
            # As h11 did: bare LF line ends; Transfer-Encoding wins over Content-Length (RFC 9112 6.3).
            self._parser.set_dangerous_leniencies(lenient_optional_cr_before_lf=True, lenient_chunked_length=True)
        else:
            self._parser = None
        self._request = request
        self._head = head
        self._got_bytes = False
        self._stale = False
        self._interim = False
        self.status = 0
        self.reason = b""
        self.http_version = b"HTTP/1.1"
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_done = False
        self.message_done = False
        self.reusable = False
        self._until_close = False
        self._body: list[bytes] = []
        self._body_size = 0
        self._reading_paused = False
        self._error: httpx.TransportError | None = None

    # -- the requesting task's side ------------------------------------------------------------
    async def send(self, request: httpx.Request, data: bytes, head: bool, write_timeout: float | None) -> None:
        if self.closed:
            raise _Stale(httpx.RemoteProtocolError(f"{self._pool.origin} closed the connection before the request "
                                                   f"was sent", request=request))
        self._begin(request, head)
        self._transport.write(data)
        if self._write_paused:
            self._drain = self._loop.create_future()
            try:
                async with asyncio.timeout(write_timeout):
                    await self._drain
            except TimeoutError:
                raise httpx.WriteTimeout(f"sending the request to {self._pool.origin} took longer than the write "
                                         f"timeout ({write_timeout} s)", request=request) from None

    async def receive_headers(self, read_timeout: float | None) -> None:
        while not self.headers_done:
            error = self._error
            if error is not None:
                raise _Stale(error) if self._stale else error
            await self._wait(read_timeout)

    async def read_body(self, read_timeout: float | None) -> bytes | None:
        """The body bytes received since the last call, or None at the end of the body."""
        while True:
            body = self._body
            if body:
                chunk = body[0] if len(body) == 1 else b"".join(body)
                self._body = []
                self._body_size = 0
                if self._reading_paused:
                    self._reading_paused = False
                    self._transport.resume_reading()
                return chunk
            if self.message_done:
                return None
            if self._error is not None:
                raise self._error
            await self._wait(read_timeout)

    def _wait(self, timeout: float | None) -> asyncio.Future[None]:
        """A future set by the next parser event; fails the exchange after ``timeout`` without one.
        One timer per connection, moved only when a wait needs it earlier (not one per wait)."""
        waiter = self._waiter = self._loop.create_future()
        self._read_timeout = timeout
        if timeout is None:
            self._deadline = math.inf
        else:
            deadline = self._deadline = self._loop.time() + timeout
            if deadline < self._timer_when:
                if self._timer is not None:
                    self._timer.cancel()
                self._timer = self._loop.call_at(deadline, self._on_timer)
                self._timer_when = deadline
        return waiter

    def _on_timer(self) -> None:
        self._timer, self._timer_when = None, math.inf
        waiter = self._waiter
        if waiter is None or waiter.done() or self._deadline == math.inf:
            return
        if self._loop.time() + 1e-6 < self._deadline:      # a later wait: check again then
            self._timer = self._loop.call_at(self._deadline, self._on_timer)
            self._timer_when = self._deadline
            return
        self._fail(httpx.ReadTimeout(f"no response data from {self._pool.origin} within the read timeout "
                                     f"({self._read_timeout} s)", request=self._request))

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _fail(self, error: httpx.TransportError) -> None:
        if self._error is None:
            self._error = error
        self.close(abort=True)
        self._wake()

    def close(self, abort: bool = False) -> None:
        """Close the socket (``abort``: at once, unread data dropped, no TLS close_notify wait)."""
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer, self._timer_when = None, math.inf
        if self._transport is not None:
            self._transport.abort() if abort else self._transport.close()

    # -- asyncio's callbacks -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.in_use or self._parser is None or self.message_done:
            self.close()               # bytes nobody asked for: the connection is out of step
            if not self.in_use:
                self._pool.forget_idle(self)
            return
        self._got_bytes = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError(f"{self._pool.origin} switched protocols (HTTP 101) though no "
                                                 f"upgrade was asked for", request=self._request))
        except httptools.HttpParserError as exc:
            if self.message_done:      # bytes after a complete response
                self.close()
            else:
                self._fail(httpx.RemoteProtocolError(f"malformed HTTP response from {self._pool.origin}: {exc}",
                                                     request=self._request))

    def eof_received(self) -> bool:
        self._closed_by_peer(None)
        return False                   # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed_by_peer(exc)
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def _closed_by_peer(self, exc: Exception | None) -> None:
        if self.closed:                # closed here, or EOF already seen
            return
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer, self._timer_when = None, math.inf
        if not self.in_use:
            self._pool.forget_idle(self)
            return
        if self.message_done or self._error is not None or self._request is None:
            return
        origin, request = self._pool.origin, self._request
        if self.headers_done and self._until_close and exc is None:
            self.message_done = True           # a body delimited by the end of the connection
        elif not self._got_bytes:
            self._stale = True
            self._error = (httpx.ReadError(f"{origin} reset the connection before responding: {exc}", request=request)
                           if exc else httpx.RemoteProtocolError(f"{origin} closed the connection without sending a "
                                                                 f"response", request=request))
        elif exc is not None:
            self._error = httpx.ReadError(f"{origin}: connection lost in the middle of the response: {exc}",
                                          request=request)
        else:
            self._error = httpx.RemoteProtocolError(
                f"{origin} closed the connection before the end of the response "
                f"({'body' if self.headers_done else 'headers'} incomplete)", request=request)
        self._wake()

    # -- llhttp's callbacks --------------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self.message_done:
            raise httptools.HttpParserError("a second response to one request")

    def on_status(self, reason: bytes) -> None:
        self.reason = reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self._parser
        status = parser.get_status_code()
        if status < 200:               # 100 Continue, 103 Early Hints: the real response follows
            self._interim = True
            self.headers = []
            return
        self.status = status
        version = parser.get_http_version()
        keep_alive = version == "1.1"
        if not keep_alive:
            self.http_version = b"HTTP/" + version.encode("ascii")
        framed = False
        for name, value in self.headers:
            name = name.lower()
            if name == b"content-length":
                framed = True
            elif name == b"transfer-encoding":
                framed = framed or value.rstrip().lower().endswith(b"chunked")
            elif name == b"connection" and b"close" in value.lower():
                keep_alive = False
        no_body = self._head or status == 204 or status == 304
        self._until_close = not (no_body or framed)
        self.reusable = keep_alive and not self._until_close
        self.headers_done = True
        if self._head:
            self.message_done = True
        self._wake()

    def on_body(self, data: bytes) -> None:
        if self.message_done:          # a body sent with a HEAD response
            self.reusable = False
            return
        self._body.append(data)
        self._body_size += len(data)
        if self._body_size > _PAUSE_READING_AT and not self._reading_paused:
            self._reading_paused = True
            self._transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        self.message_done = True
        self._wake()


class _ResponseStream(httpx.AsyncByteStream):
    """A response body; the connection goes back to the pool when it has all been received, and
    is closed if the stream is closed before that."""

    def __init__(self, pool: _Pool, conn: _Connection, read_timeout: float | None):
        self._pool = pool
        self._conn: _Connection | None = conn
        self._read_timeout = read_timeout
        if conn.message_done and not conn._body:
            self._finish()

    def _finish(self) -> None:
        conn, self._conn = self._conn, None
        self._pool.release(conn)

    def __aiter__(self) -> _ResponseStream:
        return self

    async def __anext__(self) -> bytes:
        conn = self._conn
        if conn is None:
            raise StopAsyncIteration
        try:
            chunk = await conn.read_body(self._read_timeout)
        except BaseException:
            self._conn = None
            self._pool.discard(conn)
            raise
        if chunk is None:
            self._finish()
            raise StopAsyncIteration
        if conn.message_done and not conn._body:      # that was the last of it
            self._finish()
        return chunk

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.discard(conn)


class HostMapTransport(httpx.AsyncBaseTransport):
    """Sends chosen hosts to another address (the local replay web).

    ``HostMapTransport({"english.almayadeen.net": "http://127.0.0.1:8765"})`` sends
    requests for that host to 127.0.0.1:8765 while keeping the original ``Host``
    header, so the replay server can route by Host, and everything above the
    transport (redirect handling, WARC records, results) keeps seeing the real
    site URL.  Other hosts pass through to the inner transport unchanged.
    """

    def __init__(self, mapping: Mapping[str, str], inner: httpx.AsyncBaseTransport | None = None):
        self._map: dict[str, httpx.URL] = {host.lower(): _map_target(host, target)
                                           for host, target in mapping.items()}
        self._inner = inner if inner is not None else httpx.AsyncHTTPTransport()

    @property
    def mapping(self) -> dict[str, str]:
        return {h: str(u) for h, u in self._map.items()}

    def target_for(self, url: httpx.URL | str) -> httpx.URL | None:
        host = httpx.URL(url).host.lower() if isinstance(url, str) else url.host.lower()
        return self._map.get(host)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = self._map.get(request.url.host.lower())
        if target is None:
            return await self._inner.handle_async_request(request)
        prefix = target.raw_path.split(b"?", 1)[0].rstrip(b"/")
        mapped = request.url.copy_with(
            scheme=target.scheme,
            host=target.host,
            port=target.port,
            raw_path=prefix + request.url.raw_path if prefix else request.url.raw_path,
        )
        headers = request.headers.copy()
        if "host" not in headers:  # httpx always sets it; keep the real site's host regardless
            headers["Host"] = request.url.netloc.decode("ascii")
        forwarded = httpx.Request(request.method, mapped, headers=headers,
                                  stream=request.stream, extensions=request.extensions)
        response = await self._inner.handle_async_request(forwarded)
        # httpx's client sets response.request to the original (real-URL) request afterwards.
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
