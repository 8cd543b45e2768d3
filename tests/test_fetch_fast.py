"""The fetcher's cheaper httpx setup (crawl/fasthttp.py, crawl/transport.py) keeps httpx's
behaviour: connection pools per host capped at the host's concurrency with keep-alive,
server-closed idle connections replaced, cookies kept; and looks_like_text counts exactly the
characters its definition names."""
from __future__ import annotations

import asyncio
import random
import socketserver
import threading
from collections import Counter

import httpx
import pytest

from crawl import fetch
from crawl.config import Config, FetchSettings, Politeness, SiteConfig
from crawl.fasthttp import PerHostTransport
from crawl.fetch import Fetcher
from crawl.transport import HTTP11Transport


# -- a raw HTTP/1.1 keep-alive server that counts connections --------------------------------
class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, close_after_response: bool = False):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.close_after_response = close_after_response
        self.lock = threading.Lock()
        self.connections: Counter = Counter()       # Host header of the first request -> connections
        self.open: Counter = Counter()
        self.max_open: Counter = Counter()
        self.requests = 0
        self.closed = threading.Event()
        self.cookies_seen: list[str | None] = []
        self.release = threading.Event()             # page responses wait for this
        self.release.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        srv: _Server = self.server
        host = None
        try:
            while True:
                head = []
                while (line := self.rfile.readline()) not in (b"\r\n", b""):
                    head.append(line.decode("latin-1").strip())
                if not head:
                    return
                headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
                path = head[0].split()[1]
                with srv.lock:
                    srv.requests += 1
                    srv.cookies_seen.append(headers.get("cookie"))
                    if host is None:
                        host = headers.get("host", "").split(":")[0]
                        srv.connections[host] += 1
                        srv.open[host] += 1
                        srv.max_open[host] = max(srv.max_open[host], srv.open[host])
                if path != "/robots.txt":
                    srv.release.wait(10)
                status, extra = ("404 Not Found", "") if path == "/robots.txt" else ("200 OK", "")
                if path == "/set-cookie":
                    extra = "Set-Cookie: session=abc; Path=/\r\n"
                body = b"<html><body>page</body></html>"
                self.wfile.write(f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n{extra}"
                                 f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                self.wfile.flush()
                if srv.close_after_response:     # an idle keep-alive connection the server drops
                    return
        finally:
            with srv.lock:
                if host is not None:
                    srv.open[host] -= 1
            srv.closed.set()


@pytest.fixture
def server():
    servers = []

    def make(**kw) -> _Server:
        srv = _Server(**kw)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def _config(concurrency: int) -> Config:
    sites = {name: SiteConfig(name=name, domains=(f"{name}.example",), extractor="generic",
                              start_pages=(f"https://{name}.example/",),
                              politeness=Politeness(concurrency_per_host=concurrency, delay_s=0.0))
             for name in ("one", "two")}
    return Config(sites=sites, fetch=FetchSettings(retries=0, timeout_s=10.0), source="<test>")


# -- pools ---------------------------------------------------------------------------------
async def test_each_host_gets_its_own_keep_alive_pool_capped_at_its_concurrency(server):
    srv = server()
    srv.release.clear()        # hold responses so that requests pile up on each host
    host_map = {"one.example": srv.url, "two.example": srv.url}
    async with Fetcher(_config(3), host_map=host_map) as fetcher:
        assert isinstance(fetcher._client._transport, PerHostTransport)
        urls = [f"http://{h}/a/{i}" for i in range(30) for h in ("one.example", "two.example")]
        task = asyncio.create_task(_fetch_all(fetcher, urls))
        deadline = asyncio.get_running_loop().time() + 10
        while sum(srv.open.values()) < 6:       # both hosts at their cap of 3
            assert asyncio.get_running_loop().time() < deadline, f"open connections: {srv.open}"
            await asyncio.sleep(0.01)
        srv.release.set()
        results = await task
        # Each host's requests went through its own HTTP11Transport, the host map applied where it
        # connects (no HostMapTransport rewriting every request).
        transports = fetcher._client._transport._by_host.values()
        assert {type(t) for t in transports} == {HTTP11Transport}
        assert all(t._connect_to.keys() == host_map.keys() for t in transports)
    assert [r.outcome for r in results] == ["fetched"] * 60
    assert srv.max_open == {"one.example": 3, "two.example": 3}
    # Keep-alive: 31 requests per host (robots.txt + 30 pages) over its 3 connections.
    assert srv.connections == {"one.example": 3, "two.example": 3}
    assert srv.requests == 62


async def _fetch_all(fetcher: Fetcher, urls: list[str]):
    return [r async for r in fetcher.fetch_many(urls)]


async def test_an_idle_connection_the_server_closed_is_replaced_not_reused(server):
    srv = server(close_after_response=True)
    async with httpx.AsyncClient(transport=HTTP11Transport(max_connections=2)) as client:
        first = await client.get(srv.url + "/a")
        assert await asyncio.to_thread(srv.closed.wait, 10)
        second = await client.get(srv.url + "/b")     # would fail on the dead socket if reused
    assert (first.status_code, second.status_code) == (200, 200)
    assert sum(srv.connections.values()) == 2


async def test_cookies_set_by_a_site_are_still_sent_back(server):
    srv = server()
    host_map = {"one.example": srv.url}
    async with Fetcher(_config(1), host_map=host_map) as fetcher:
        await fetcher.fetch("http://one.example/plain")
        await fetcher.fetch("http://one.example/set-cookie")
        await fetcher.fetch("http://one.example/after")
    assert srv.cookies_seen[-3:] == [None, None, "session=abc"]


# -- looks_like_text ------------------------------------------------------------------------
def test_looks_like_text_counts_exactly_the_characters_it_names():
    rng = random.Random(7)
    alphabet = [chr(c) for c in range(0x250)] + ["\ufffd", "\ud800", "\U0001f600", "\u00a0"]
    for n in (1, 2, 99, 100, 101, 5_000, 70_000):
        for share in (0.0, 0.005, 0.0101, 0.02, 0.5, 1.0):
            text = "".join(rng.choice(alphabet) if rng.random() < share else rng.choice("ab é\n")
                           for _ in range(n))
            head = text[:65536]
            expected = sum(1 for ch in head if ch in fetch._NOT_TEXT)
            assert fetch._not_text_count(head.encode("utf-8", "surrogatepass")) == expected
            assert fetch.looks_like_text(text) == ("\x00" not in head and expected <= len(head) * 0.01)
