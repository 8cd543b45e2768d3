"""robots.txt policy (protego) and the fetch-once cache."""
from __future__ import annotations

import asyncio

from crawl.robots import RobotsCache, RobotsFetch, policy_from_fetch, robots_url_for

ORIGIN, ROBOTS = "https://news.example", "https://news.example/robots.txt"
TXT = b"""User-agent: *
Disallow: /private
Allow: /private/open
Crawl-delay: 2

User-agent: newsarchive
Disallow: /no-archive
Request-rate: 1/5s
"""


def policy(status, body=b"", error=None):
    return policy_from_fetch(ORIGIN, ROBOTS, RobotsFetch(status, body, error))


def test_robots_url_for():
    assert robots_url_for("https://News.Example:8443/a/b?c") == ("https://news.example:8443",
                                                                "https://news.example:8443/robots.txt")


def test_rules_and_user_agent_groups():
    p = policy(200, TXT)
    assert p.mode == "rules" and p.error_kind is None
    other = "SomeBot/1.0"
    assert not p.can_fetch("https://news.example/private/x", other)
    assert p.can_fetch("https://news.example/private/open/x", other)
    assert p.can_fetch("https://news.example/news", other)
    assert p.crawl_delay(other) == 2.0
    from crawl.config import DEFAULT_USER_AGENT
    ours = DEFAULT_USER_AGENT
    assert not p.can_fetch("https://news.example/no-archive/1", ours)
    assert p.can_fetch("https://news.example/private/x", ours)     # the specific group replaces '*'
    assert p.crawl_delay(ours) == 5.0                              # Request-rate 1/5s


def test_status_matrix():
    assert policy(404).mode == "allow_all" and policy(410).can_fetch(ORIGIN + "/x", "a")
    for status in (401, 403):
        p = policy(status)
        assert p.mode == "disallow_all" and not p.can_fetch(ORIGIN + "/x", "a") and p.error_kind is None
    for status in (500, 503, 429):
        p = policy(status)
        assert p.mode == "unavailable" and p.error_kind == "robots_unavailable"
        assert not p.can_fetch(ORIGIN + "/x", "a")
    p = policy(None, error="timeout")
    assert p.mode == "unavailable" and "timeout" in p.reason


def test_bom_and_empty():
    assert not policy(200, b"\xef\xbb\xbfUser-agent: *\nDisallow: /\n").can_fetch(ORIGIN + "/x", "a")
    assert policy(200, b"").can_fetch(ORIGIN + "/x", "a")


async def test_cache_fetches_once_per_origin():
    calls = []

    async def fetch(url):
        calls.append(url)
        await asyncio.sleep(0)
        return RobotsFetch(200, TXT)

    cache = RobotsCache(fetch)
    results = await asyncio.gather(*(cache.can_fetch(f"https://news.example/private/{i}", "x") for i in range(5)))
    assert results == [False] * 5
    assert await cache.crawl_delay("https://news.example/", "x") == 2.0
    await cache.policy("http://news.example/")        # another origin (scheme) -> its own robots.txt
    assert calls == [ROBOTS, "http://news.example/robots.txt"]
    assert cache.cached("https://news.example/zzz").mode == "rules"
