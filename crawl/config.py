"""Site configuration: one TOML file, validated into frozen dataclasses.

A ``[sites.NAME]`` table whose NAME is a defined site (sites/NAME.py) starts from that Site's
defaults and may override any setting, but only with domains the Site knows and with its own
extractor or ``generic``. Any other NAME is a custom site: it lists its own domains and uses the
generic extractor. Errors name the file, the site and the setting, and say how to fix it.
"""
from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sites as site_registry
from newsarchive import __version__
from newsarchive.errors import NewsarchiveError

DEFAULT_CONFIG = "sites.toml (embedded default)"
ENV_CONFIG = "NEWSARCHIVE_CONFIG"
PAGE = "{page}"     # the page-number placeholder of archive_pages URLs
#: Names the installed version, so sites can tell releases apart in their logs.
DEFAULT_USER_AGENT = f"newsarchive/{__version__} (+https://github.com/newsarchive/newsarchive; archive bot)"
MAX_DELAY_S = 3600.0  # longest politeness delay / timeout / backoff accepted (an hour)


class ConfigError(NewsarchiveError, ValueError):
    """A malformed configuration; the message names file, site, setting and fix."""


@dataclass(frozen=True)
class FetchSettings:
    user_agent: str = DEFAULT_USER_AGENT
    timeout_s: float = 20.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    retries: int = 3
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    respect_robots: bool = True


@dataclass(frozen=True)
class Politeness:
    concurrency_per_host: int = 2
    delay_s: float = 1.0     # minimum gap between requests to one host; robots Crawl-delay wins if larger


@dataclass(frozen=True)
class HealthSettings:
    """Drift alarm: a site extractor whose pages fall under these shares is flagged."""
    threshold: float = 0.8        # minimum share of pages with a title, a plausible body and a date
    min_pages: int = 5            # fewer extracted pages in a run: too few to judge
    min_body_chars: int = 200     # a body shorter than this is not plausible


@dataclass(frozen=True)
class SiteConfig:
    name: str
    domains: tuple[str, ...]
    extractor: str
    start_pages: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()
    sitemaps: tuple[str, ...] = ()
    schedule: str = "0 * * * *"
    timezone: str = "UTC"
    politeness: Politeness = field(default_factory=Politeness)
    max_articles: int | None = None   # cap per run (None: everything discovered)
    lookback_days: int | None = None  # only sitemaps/entries changed in the last N days (None: all)
    # Backfill only: listing URLs with a {page} placeholder that page back in time (crawl/pagination.py).
    archive_pages: tuple[str, ...] = ()
    max_archive_pages: int = 200      # listing pages fetched per archive listing per run (a safety cap)
    # Canonical URLs use https (every site we know serves it); false keeps http:// URLs as they are.
    force_https: bool = True

    def owns(self, url: str) -> bool:
        host = (urlsplit(url).hostname or "").lower()
        return any(host == d or host.endswith("." + d) for d in self.domains)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Config:
    sites: dict[str, SiteConfig]
    fetch: FetchSettings = field(default_factory=FetchSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    source: str = DEFAULT_CONFIG

    def site(self, name: str) -> SiteConfig:
        try:
            return self.sites[name]
        except KeyError:
            raise ConfigError(
                f"{self.source}: no site named {name!r}; configured sites: "
                f"{', '.join(sorted(self.sites)) or '(none)'}"
            ) from None

    def with_politeness(self, delay_s: float | None = None, concurrency: int | None = None) -> "Config":
        """A copy with every site's politeness overridden (used by --replay and benchmarks)."""
        if delay_s is not None:
            _check_range(delay_s, "delay_s", *_RANGES[Politeness]["delay_s"], f"{self.source} (override)",
                         "politeness")
        if concurrency is not None:
            _check_range(concurrency, "concurrency_per_host", *_RANGES[Politeness]["concurrency_per_host"],
                         f"{self.source} (override)", "politeness")
        sites = {}
        for name, s in self.sites.items():
            p = s.politeness
            p = replace(
                p,
                delay_s=p.delay_s if delay_s is None else delay_s,
                concurrency_per_host=p.concurrency_per_host if concurrency is None else concurrency,
            )
            sites[name] = replace(s, politeness=p)
        return replace(self, sites=sites)


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Load and validate a config file; ``None`` means $NEWSARCHIVE_CONFIG or the embedded default."""
    if path is None:
        path = os.environ.get(ENV_CONFIG) or None
    if path is None:
        text = resources.files("crawl").joinpath("sites.toml").read_text("utf-8")
        source = DEFAULT_CONFIG
    else:
        p = Path(path)
        source = str(p)
        try:
            text = p.read_text("utf-8")
        except FileNotFoundError:
            raise ConfigError(f"config file {source} does not exist; pass an existing file with --config "
                              f"or unset {ENV_CONFIG} to use the embedded default") from None
        except UnicodeDecodeError as e:
            raise ConfigError(f"{source}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}); "
                              f"save the file as UTF-8") from None
        except OSError as e:
            raise ConfigError(f"config file {source} cannot be read ({e.strerror or e}); pass a readable "
                              f"TOML file with --config") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: not valid TOML ({e}); fix the syntax at that line") from None
    if source == DEFAULT_CONFIG:
        raw = _with_every_site(raw)
    return parse_config(raw, source)


def _with_every_site(raw: dict[str, Any]) -> dict[str, Any]:
    """The embedded default crawls every defined site (sites/*.py): a new site module is crawled
    without a line here; its [sites.NAME] table in crawl/sites.toml only overrides settings."""
    tables = dict(raw.get("sites") or {})
    for name in site_registry.names():
        tables.setdefault(name, {})
    return {**raw, "sites": tables}


def parse_config(raw: dict[str, Any], source: str = "<config>") -> Config:
    _check_keys(raw, {"fetch", "health", "sites"}, source, "top level")
    fetch = _build(FetchSettings, raw.get("fetch", {}), source, "[fetch]")
    _check_header_value(fetch.user_agent, "user_agent", source, "[fetch]")
    health = _build(HealthSettings, raw.get("health", {}), source, "[health]")
    sites_raw = raw.get("sites")
    if not isinstance(sites_raw, dict) or not sites_raw:
        raise ConfigError(f"{source}: no [sites.NAME] tables; add at least one site")
    sites = {name: _parse_site(name, body, source) for name, body in sites_raw.items()}
    owner: dict[str, str] = {}
    for s in sites.values():
        for d in s.domains:
            if d in owner:
                raise ConfigError(f"{source}: domain {d!r} is listed by sites {owner[d]!r} and {s.name!r}; "
                                  f"a domain belongs to one site")
            owner[d] = s.name
    return Config(sites=sites, fetch=fetch, health=health, source=source)


_SITE_KEYS = {f.name for f in fields(SiteConfig)} - {"name"}


def _parse_site(name: str, body: Any, source: str) -> SiteConfig:
    where = f"[sites.{name}]"
    if not isinstance(body, dict):
        raise ConfigError(f"{source}: {where} must be a table")
    _check_keys(body, _SITE_KEYS, source, where)
    defined = site_registry.find(name)
    if defined is not None:
        body = _over_site_defaults(defined, body, source, where)
    for key in ("domains", "extractor"):
        if key not in body:
            raise ConfigError(f"{source}: {where} is missing {key!r}; add e.g. "
                              + ('domains = ["example.com"]' if key == "domains" else 'extractor = "generic"'))
    domains = tuple(_str_list(body, "domains", source, where))
    if not domains:
        raise ConfigError(f"{source}: {where} domains is empty; list the hosts this site serves")
    for d in domains:
        if "/" in d or ":" in d or " " in d or d != d.lower():
            raise ConfigError(f"{source}: {where} domain {d!r} is not a bare lowercase host name "
                              f"(write 'www.example.com', not a URL)")
    politeness = _build(Politeness, body.get("politeness", {}), source, f"{where}.politeness")
    for key in ("timezone", "schedule"):
        if key in body and not isinstance(body[key], str):
            raise ConfigError(f"{source}: {where} {key} = {body[key]!r} must be a string, e.g. "
                              + ("timezone = 'Asia/Beirut'" if key == "timezone" else "schedule = '*/30 * * * *'"))
    force_https = _typed(body, "force_https", bool, source, where) if "force_https" in body else True
    site = SiteConfig(
        name=name,
        domains=domains,
        extractor=_typed(body, "extractor", str, source, where),
        start_pages=tuple(_str_list(body, "start_pages", source, where)),
        feeds=tuple(_str_list(body, "feeds", source, where)),
        sitemaps=tuple(_str_list(body, "sitemaps", source, where)),
        schedule=body.get("schedule", "0 * * * *"),
        timezone=body.get("timezone", "UTC"),
        politeness=politeness,
        max_articles=body.get("max_articles"),
        lookback_days=body.get("lookback_days"),
        archive_pages=tuple(_str_list(body, "archive_pages", source, where)),
        max_archive_pages=body.get("max_archive_pages", 200),
        force_https=force_https,
    )
    _check_site_urls(site, source, where, defined is not None)
    if not (site.start_pages or site.feeds or site.sitemaps):
        raise ConfigError(f"{source}: {where} has no start_pages, feeds or sitemaps; give at least one")
    try:
        ZoneInfo(site.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{source}: {where} timezone {site.timezone!r} is not an IANA zone "
                          f"(e.g. 'Asia/Beirut', 'UTC')") from None
    _check_cron(site.schedule, source, where)
    for key in ("max_articles", "lookback_days", "max_archive_pages"):
        value = getattr(site, key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ConfigError(f"{source}: {where} {key} must be a positive integer")
    from extractors import registry  # late import: config must load without parsing anything
    if site.extractor not in registry.names():
        raise ConfigError(f"{source}: {where} extractor {site.extractor!r} is unknown; "
                          f"known extractors: {', '.join(registry.names())}")
    if defined is None:
        _check_custom_site(site, source, where)
    return site


def _over_site_defaults(defined: site_registry.Site, body: dict, source: str, where: str) -> dict:
    """The TOML table laid over the Site's defaults, after refusing what the Site cannot serve:
    a domain its extractor and URL rules do not know, or another site's extractor."""
    if "domains" in body:
        for d in _str_list(body, "domains", source, where):
            if d not in defined.domains:
                raise ConfigError(
                    f"{source}: {where} domain {d!r} is not a domain of site {defined.name!r}, whose extractor "
                    f"and URL rules know only {list(defined.domains)} ({defined.module_file}); remove it, or "
                    f"add it to the Site's domains if it serves the same pages")
    extractor = body.get("extractor", defined.extractor)
    if extractor not in (defined.extractor, "generic"):
        raise ConfigError(f"{source}: {where} extractor {extractor!r} does not fit site {defined.name!r}; use "
                          f"{defined.extractor!r} (its own, {defined.module_file}) or 'generic', or drop the setting")
    merged = {**defined.config_defaults(), **body}
    if isinstance(body.get("politeness"), dict):   # override politeness key by key
        merged["politeness"] = {**defined.politeness, **body["politeness"]}
    return merged


def _check_custom_site(site: SiteConfig, source: str, where: str) -> None:
    """A table that names no defined site may not borrow a defined site's domains or extractor:
    both are written for that site's name (its URL rules are looked up by name)."""
    for d in site.domains:
        owner = site_registry.for_host(d)
        if owner is not None:
            raise ConfigError(f"{source}: {where} domain {d!r} belongs to site {owner.name!r} "
                              f"({owner.module_file}); configure it under [sites.{owner.name}] instead")
    owner = site_registry.for_extractor(site.extractor)
    if owner is not None:
        raise ConfigError(f"{source}: {where} extractor {site.extractor!r} is written for site {owner.name!r} "
                          f"and knows only its domains; name the table [sites.{owner.name}] or use "
                          f"extractor = 'generic'")


def _check_site_urls(site: SiteConfig, source: str, where: str, defined: bool) -> None:
    """Every configured URL is http(s), on the site's domains, and archive listings page."""
    for key in ("start_pages", "feeds", "sitemaps", "archive_pages"):
        for url in getattr(site, key):
            if key == "archive_pages" and PAGE not in url:
                raise ConfigError(f"{source}: {where} archive_pages entry {url!r} has no {PAGE} placeholder; "
                                  f"put {PAGE} where the page number goes, e.g. "
                                  f"'https://{site.domains[0]}/news?page={PAGE}'")
            fetched = url.replace(PAGE, "1")   # check the URL that will be fetched, not the template
            parts = urlsplit(fetched)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(f"{source}: {where} {key} entry {url!r} is not an http(s) URL")
            if not site.owns(fetched):
                fix = "use a URL on those domains or remove it" if defined else "add its host to domains or remove it"
                raise ConfigError(f"{source}: {where} {key} entry {url!r} is outside the site's domains "
                                  f"{list(site.domains)}; {fix}")


def every_seconds(schedule: str) -> int | None:
    """Seconds of an ``@every 30s|10m|2h`` schedule; None when it is not one (or under 10 s)."""
    import re
    m = re.fullmatch(r"@every\s+(\d+)\s*([smh])", schedule.strip())
    if not m:
        return None
    seconds = int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]
    return seconds if seconds >= 10 else None


def _check_cron(expr: Any, source: str, where: str) -> None:
    from datetime import datetime

    from cronsim import CronSim, CronSimError  # cronsim ships with prefect
    if not isinstance(expr, str):
        raise ConfigError(f"{source}: {where} schedule must be a cron string like '*/30 * * * *'")
    if expr.startswith("@every"):
        if every_seconds(expr) is None:
            raise ConfigError(f"{source}: {where} schedule {expr!r} is not a valid interval; "
                              f"write '@every 30s', '@every 10m' or '@every 2h' (at least 10 s)")
        return
    try:
        CronSim(expr, datetime(2026, 1, 1))
    except CronSimError as e:
        raise ConfigError(f"{source}: {where} schedule {expr!r} is not a valid cron expression ({e}); "
                          f"use five fields, e.g. '*/30 * * * *'") from None


def _check_keys(d: dict, allowed: set[str], source: str, where: str) -> None:
    unknown = set(d) - allowed
    if unknown:
        raise ConfigError(f"{source}: {where} has unknown setting(s) {', '.join(sorted(unknown))}; "
                          f"allowed: {', '.join(sorted(allowed))}")


# Allowed values of every number: (low, low inclusive, high); all must also be finite.
_RANGES: dict[type, dict[str, tuple[float, bool, float]]] = {
    FetchSettings: {"timeout_s": (0, False, MAX_DELAY_S), "max_bytes": (1, True, 1_000_000_000),
                    "max_redirects": (0, True, 50), "retries": (0, True, 20),
                    "backoff_base_s": (0, True, MAX_DELAY_S), "backoff_max_s": (0, True, MAX_DELAY_S)},
    Politeness: {"concurrency_per_host": (1, True, 64), "delay_s": (0, True, MAX_DELAY_S)},
    HealthSettings: {"threshold": (0, True, 1), "min_pages": (1, True, 1_000_000),
                     "min_body_chars": (0, True, 1_000_000)},
}


def _build(cls, raw: Any, source: str, where: str):
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {where} must be a table")
    _check_keys(raw, {f.name for f in fields(cls)}, source, where)
    kwargs = {}
    for f in fields(cls):
        if f.name in raw:
            default = getattr(cls(), f.name)
            kwargs[f.name] = _typed(raw, f.name, type(default), source, where)
            if f.name in _RANGES.get(cls, {}):
                _check_range(kwargs[f.name], f.name, *_RANGES[cls][f.name], source, where, default)
    return cls(**kwargs)


def _check_range(value: float, key: str, low: float, low_inclusive: bool, high: float, source: str,
                 where: str, example: Any = None) -> None:
    """One line naming the setting, the allowed range and an example (nan and inf never pass)."""
    ok = math.isfinite(value) and (low <= value if low_inclusive else low < value) and value <= high
    if not ok:
        bound = f"within {low:g}..{high:g}" if low_inclusive else f"> {low:g} and <= {high:g}"
        hint = f"; e.g. {key} = {example!r}" if example is not None else ""
        raise ConfigError(f"{source}: {where} {key} = {value!r} is out of range: it must be a finite "
                          f"number {bound}{hint}")


def _check_header_value(value: str, key: str, source: str, where: str) -> None:
    """Header values go on the wire as they are: printable ASCII only (a newline in the user agent
    made every request fail, reported as 'robots.txt unreachable')."""
    bad = next((c for c in value if not " " <= c <= "~"), None)
    if not value.strip() or bad is not None:
        what = f"contains {bad!r}" if bad is not None else "is empty"
        raise ConfigError(f"{source}: {where} {key} {what}; it is sent as an HTTP header, so use printable "
                          f"ASCII on one line, e.g. {key} = 'mybot/1.0 (+https://example.org/bot)'")


def _typed(d: dict, key: str, typ: type, source: str, where: str):
    value = d[key]
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise ConfigError(f"{source}: {where} {key} = {value!r} must be of type {typ.__name__}")
    return value


def _str_list(d: dict, key: str, source: str, where: str) -> list[str]:
    value = d.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{source}: {where} {key} must be a list of strings")
    return value
