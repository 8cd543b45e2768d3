"""robots.txt policy per host, parsed with protego (RFC 9309 semantics).

A ``RobotsCache`` fetches each host's robots.txt once (per Fetcher) through a
caller-supplied coroutine, so the robots request goes through the same
politeness, retries and WARC capture as every other request.

Status handling (RFC 9309 section 2.3.1):
  * 2xx                -> parse the rules
  * 401 / 403          -> disallow the whole host (error_kind "robots")
  * other 4xx (404...) -> "unavailable": allow everything
  * 5xx, 429 after retries, network errors, redirect loops
                       -> "unreachable": disallow the whole host for this run
                          (error_kind "robots_unavailable"; retried next run)
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from protego import Protego

# RFC 9309: crawlers must parse at least 500 KiB; we parse that much and ignore the rest.
MAX_ROBOTS_BYTES = 512 * 1024


@dataclass
class RobotsFetch:
    """What fetching robots.txt produced; supplied by the caller's fetch coroutine."""
    status: int | None          # None: no HTTP response (timeout, connect error, redirect loop...)
    body: bytes = b""
    error: str | None = None    # why there is no usable response


@dataclass
class RobotsPolicy:
    origin: str                      # scheme://host[:port]
    robots_url: str
    mode: str                        # "rules" | "allow_all" | "disallow_all" | "unavailable"
    status: int | None = None
    reason: str | None = None        # human explanation for disallow_all / unavailable
    parser: Protego | None = field(default=None, repr=False)

    @property
    def error_kind(self) -> str | None:
        if self.mode == "unavailable":
            return "robots_unavailable"
        return None

    def can_fetch(self, url: str, user_agent: str) -> bool:
        if self.mode == "allow_all":
            return True
        if self.mode in ("disallow_all", "unavailable"):
            return False
        assert self.parser is not None
        return self.parser.can_fetch(url, user_agent)

    def crawl_delay(self, user_agent: str) -> float | None:
        """Seconds between requests asked for by Crawl-delay (or Request-rate), None if silent."""
        if self.parser is None:
            return None
        delay = self.parser.crawl_delay(user_agent)
        rate = self.parser.request_rate(user_agent)
        if rate is not None and rate.requests:
            per_request = rate.seconds / rate.requests
            delay = per_request if delay is None else max(delay, per_request)
        return delay


def robots_url_for(url: str) -> tuple[str, str]:
    """(origin, robots.txt URL) for any URL."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    return origin, origin + "/robots.txt"


def policy_from_fetch(origin: str, robots_url: str, got: RobotsFetch) -> RobotsPolicy:
    status = got.status
    if status is None:
        return RobotsPolicy(origin, robots_url, "unavailable", None,
                            got.error or "robots.txt could not be fetched")
    if 200 <= status < 300:
        text = got.body[:MAX_ROBOTS_BYTES].decode("utf-8", errors="replace")
        if text.startswith("\ufeff"):
            text = text[1:]
        return RobotsPolicy(origin, robots_url, "rules", status, None, Protego.parse(text))
    if status in (401, 403):
        return RobotsPolicy(origin, robots_url, "disallow_all", status,
                            f"robots.txt answered HTTP {status}, which means the whole host is off limits")
    if status == 429 or status >= 500:
        return RobotsPolicy(origin, robots_url, "unavailable", status,
                            got.error or f"robots.txt answered HTTP {status}")
    if 400 <= status < 500:
        return RobotsPolicy(origin, robots_url, "allow_all", status)
    # 1xx/3xx left after redirect handling: treat like unreachable.
    return RobotsPolicy(origin, robots_url, "unavailable", status,
                        got.error or f"robots.txt answered HTTP {status}")


class RobotsCache:
    """Fetch-once cache of robots policies keyed by origin; concurrent callers share one fetch."""

    def __init__(self, fetch: Callable[[str], Awaitable[RobotsFetch]]):
        self._fetch = fetch
        self._policies: dict[str, RobotsPolicy] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def cached(self, url: str) -> RobotsPolicy | None:
        return self._policies.get(robots_url_for(url)[0])

    async def policy(self, url: str) -> RobotsPolicy:
        origin, robots_url = robots_url_for(url)
        policy = self._policies.get(origin)
        if policy is not None:
            return policy
        lock = self._locks.setdefault(origin, asyncio.Lock())
        async with lock:
            policy = self._policies.get(origin)
            if policy is None:
                got = await self._fetch(robots_url)
                policy = policy_from_fetch(origin, robots_url, got)
                self._policies[origin] = policy
        return policy

    async def can_fetch(self, url: str, user_agent: str) -> bool:
        return (await self.policy(url)).can_fetch(url, user_agent)

    async def crawl_delay(self, url: str, user_agent: str) -> float | None:
        return (await self.policy(url)).crawl_delay(user_agent)
