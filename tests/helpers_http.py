"""A small Starlette app that misbehaves on demand, for fetcher tests.

Served on loopback by ``LoopbackServer`` and mounted under fake hosts with
``HostMapTransport``; it routes robots.txt by the Host header.
"""
from __future__ import annotations

import asyncio
import collections
import gzip
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from crawl.config import Config, FetchSettings, Politeness, SiteConfig
from replay.server import LoopbackServer

HOSTS = ["news.example", "delay.example", "down.example", "nobots.example", "locked.example",
         "elsewhere.example"]
SITE_DOMAINS = ("news.example", "delay.example", "down.example", "nobots.example", "locked.example")

ROBOTS = {
    "news.example": "User-agent: *\nDisallow: /private\n\nUser-agent: badbot\nDisallow: /\n",
    "delay.example": "User-agent: *\nAllow: /\nCrawl-delay: 3\n",
}

ARABIC = "مرحبا بالعالم، هذه صفحة أخبار تجريبية. " * 20
FRENCH = ("Le café de la gare était fermé; déjà, à côté, la crème brûlée coûtait très cher. "
          "Noël approche et les élèves préparent une fête où l'on mangera des pâtés. ") * 10


@dataclass
class AppState:
    hits: collections.Counter = field(default_factory=collections.Counter)   # "host path" -> count
    inflight: int = 0
    max_inflight: int = 0
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    request_headers: dict = field(default_factory=dict)                      # path -> last headers

    def count(self, host: str, path: str) -> int:
        return self.hits[f"{host} {path}"]


def make_app(state: AppState):
    def host(request: Request) -> str:
        return request.headers.get("host", "").split(":")[0]

    async def robots(request: Request):
        h = host(request)
        if h == "down.example":
            return PlainTextResponse("down", status_code=503)
        if h == "nobots.example":
            return PlainTextResponse("no robots here", status_code=404)
        if h == "locked.example":
            return PlainTextResponse("forbidden", status_code=403)
        return PlainTextResponse(ROBOTS.get(h, ""))

    async def page(request: Request):
        if request.headers.get("if-none-match") == '"v1"':
            return Response(status_code=304, headers={"ETag": '"v1"'})
        return Response("<html><head><title>Page</title></head><body>hello</body></html>",
                        media_type="text/html; charset=utf-8",
                        headers={"ETag": '"v1"', "Last-Modified": "Mon, 01 Jun 2026 10:00:00 GMT"})

    async def private(request: Request):
        return PlainTextResponse("secret")

    async def redirect(request: Request):
        kind = request.path_params["kind"]
        target = {
            "rel": "b",                                 # /r/rel -> /r/b (relative)
            "b": "/page",
            "offsite": "https://elsewhere.example/x",
            "loop": "/r/loop",
            "private": "/private/x",
        }[kind]
        return Response(status_code=302, headers={"Location": target})

    async def flaky(request: Request):
        key, n = request.path_params["key"], int(request.path_params["n"])
        if state.hits[f"flaky {key}"] <= n:
            return PlainTextResponse("oops", status_code=500)
        return PlainTextResponse(f"ok after {n}")

    async def always500(request: Request):
        return PlainTextResponse("broken", status_code=500)

    async def ratelimited(request: Request):
        key = request.path_params["key"]
        if state.hits[f"rl {key}"] == 1:
            if key.startswith("date"):
                when = datetime.now(timezone.utc) + timedelta(seconds=600)
                value = format_datetime(when, usegmt=True)
            else:
                value = "2"
            return PlainTextResponse("slow down", status_code=429, headers={"Retry-After": value})
        return PlainTextResponse("ok")

    async def hang(request: Request):
        for _ in range(500):  # at most ~5 s, normally released by the test or a disconnect
            if state.release.is_set() or await request.is_disconnected():
                break
            await asyncio.sleep(0.01)
        return PlainTextResponse("late")

    async def big(request: Request):
        return PlainTextResponse("x" * 200_000)

    async def big_stream(request: Request):
        async def gen():
            for _ in range(1000):
                yield b"y" * 1000
        return StreamingResponse(gen(), media_type="text/plain")

    async def gz(request: Request):
        body = gzip.compress(("<p>compressed " + "z" * 500 + "</p>").encode())
        return Response(body, media_type="text/html; charset=utf-8", headers={"Content-Encoding": "gzip"})

    async def charset(request: Request):
        kind = request.path_params["kind"]
        if kind == "header":
            return Response(f"<html><body>{ARABIC}</body></html>".encode("cp1256"),
                            headers={"Content-Type": "text/html; charset=windows-1256"})
        if kind == "meta":
            html = f'<html><head><meta charset="windows-1256"></head><body>{ARABIC}</body></html>'
            return Response(html.encode("cp1256"), headers={"Content-Type": "text/html"})
        if kind == "httpequiv":
            html = ('<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
                    f'</head><body>{FRENCH}</body></html>')
            return Response(html.encode("latin-1"), headers={"Content-Type": "text/html"})
        html = f"<html><head></head><body><p>{FRENCH}</p></body></html>"
        return Response(html.encode("latin-1"), headers={"Content-Type": "text/html"})

    async def slow(request: Request):
        with state.lock:
            state.inflight += 1
            state.max_inflight = max(state.max_inflight, state.inflight)
        try:
            await asyncio.sleep(0.03)
        finally:
            with state.lock:
                state.inflight -= 1
        return PlainTextResponse("slow ok")

    async def echo(request: Request):
        state.request_headers[request.url.path] = dict(request.headers)
        return PlainTextResponse("echo")

    starlette = Starlette(routes=[
        Route("/robots.txt", robots),
        Route("/page", page),
        Route("/private/{rest:path}", private),
        Route("/private", private),
        Route("/r/{kind}", redirect),
        Route("/flaky/{key}/{n}", flaky),
        Route("/always500", always500),
        Route("/ratelimited/{key}", ratelimited),
        Route("/hang", hang),
        Route("/big", big),
        Route("/big-stream", big_stream),
        Route("/gzip", gz),
        Route("/charset/{kind}", charset),
        Route("/slow/{i}", slow),
        Route("/echo", echo),
    ])

    async def app(scope, receive, send):
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            h = headers.get(b"host", b"").decode().split(":")[0]
            path = scope["path"]
            with state.lock:
                state.hits[f"{h} {path}"] += 1
                if path.startswith("/flaky/"):
                    state.hits[f"flaky {path.split('/')[2]}"] += 1
                if path.startswith("/ratelimited/"):
                    state.hits[f"rl {path.split('/')[2]}"] += 1
            if path == "/truncated":
                # Declares 100 bytes, sends 50, then gives up: the client sees a short body.
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"100")]})
                await send({"type": "http.response.body", "body": b"a" * 50, "more_body": True})
                return
        await starlette(scope, receive, send)

    return app


@dataclass
class FakeTime:
    """Injected clock + sleep: sleeping records the wait (and, if ``advance``, moves the clock) without waiting.

    With ``advance=False`` the clock stands still, so for concurrent tasks each recorded wait is
    the distance from "now" to the start slot that task reserved.
    """
    now: float = 1000.0
    waits: list = field(default_factory=list)
    advance: bool = True

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.advance:
            self.now += seconds
        await asyncio.sleep(0)


def make_config(*, delay_s: float = 0.0, concurrency: int = 2, **fetch) -> Config:
    fetch.setdefault("retries", 3)
    fetch.setdefault("timeout_s", 5.0)
    site = SiteConfig(name="example", domains=SITE_DOMAINS, extractor="generic",
                      start_pages=("https://news.example/",),
                      politeness=Politeness(concurrency_per_host=concurrency, delay_s=delay_s))
    return Config(sites={"example": site}, fetch=FetchSettings(**fetch), source="<test>")


class Served:
    def __init__(self, server: LoopbackServer, state: AppState):
        self.server = server
        self.state = state
        self.host_map = {h: server.url for h in HOSTS}


@pytest.fixture(scope="module")
def served():
    state = AppState()
    with LoopbackServer(make_app(state)) as server:
        yield Served(server, state)
        state.release.set()
