"""What a scrape run crawls, decided before it starts, and how it ended: plain Python.

``plan_scrape`` turns the run's options (sites, config file, replay web, politeness override,
publication window) into a validated plan; ``Outcome`` turns the per-site crawls into the run's
counters, errors, drift alarms and status. The Prefect flow (flows/scrape.py) only wires them
to tasks, logs, artifacts and states.
"""
from __future__ import annotations

import dataclasses
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import extractors

from .config import Config, ConfigError, SiteConfig, load_config
from .health import DriftAlarm, check as check_health
from .pipeline import SiteRun

#: A replay web shared by several workers (`--replay-url`, or this variable on each worker).
ENV_REPLAY_URL = "NEWSARCHIVE_REPLAY_URL"
#: Counters that prove a site answered at least once.
REACHED = ("fetched", "not_modified", "discovery_fetched", "discovery_not_modified")


def replay_host_map(config: Config, replay_url: str | None) -> dict[str, str]:
    """Every configured domain mapped to the replay web, so archived URLs stay the real ones."""
    if not replay_url:
        return {}
    return {d: replay_url for s in config.sites.values() for d in s.domains}


@dataclass(frozen=True)
class ScrapeOptions:
    sites: list[str] | None = None
    config_path: str | None = None
    replay_url: str | None = None
    delay_s: float | None = None
    since: datetime | None = None
    until: datetime | None = None
    sitemaps_only: bool = False


@dataclass
class ScrapePlan:
    config: Config
    sites: list[SiteConfig]
    replay_url: str | None
    since: datetime | None
    until: datetime | None
    paginate: bool = False          # backfill: also walk the sites' archive listings back in time
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.sites]

    @property
    def host_map(self) -> dict[str, str]:
        return replay_host_map(self.config, self.replay_url)

    @property
    def window_since(self) -> datetime | None:
        """The earliest publication date the run reads (which story months to load)."""
        if self.since is None and self.sites and all(s.lookback_days for s in self.sites):
            return self.started - timedelta(days=max(s.lookback_days for s in self.sites))
        return self.since

    def site_since(self, site: SiteConfig) -> datetime | None:
        if self.since is not None or not site.lookback_days:
            return self.since
        return self.started - timedelta(days=site.lookback_days)

    def site_run(self, site: SiteConfig, run_id: str, **parts) -> SiteRun:
        return SiteRun(site=site, run_id=run_id, extractor=extractors.registry.get(site.extractor),
                       health_settings=self.config.health, since=self.site_since(site), until=self.until,
                       paginate=self.paginate, **parts)


def plan_scrape(opts: ScrapeOptions) -> ScrapePlan:
    """Load and check the config for the run; a replay web crawls with no politeness delay."""
    config = load_config(opts.config_path)
    replay_url = opts.replay_url or os.environ.get(ENV_REPLAY_URL) or None
    delay_s = 0.0 if replay_url and opts.delay_s is None else opts.delay_s
    if delay_s is not None:
        config = config.with_politeness(delay_s=delay_s)
    selected = [config.site(n) for n in (opts.sites or sorted(config.sites))]
    if opts.sitemaps_only:
        for s in selected:
            if not (s.sitemaps or s.archive_pages):
                raise ConfigError(f"{config.source}: [sites.{s.name}] has no sitemaps and no archive_pages; a "
                                  f"backfill discovers old articles through date-bucketed sitemaps and paginated "
                                  f"archive listings: add the site's sitemap index or archive_pages")
        # Feeds and start pages list today's news, not the window's.
        selected = [dataclasses.replace(s, start_pages=(), feeds=()) for s in selected]
    return ScrapePlan(config, selected, replay_url, opts.since, opts.until, paginate=opts.sitemaps_only)


@dataclass
class Outcome:
    """How the run's site crawls ended."""
    stats: dict[str, Counter]
    errors: list[str]
    alarms: list[DriftAlarm]
    unreachable: list[str]

    @classmethod
    def of(cls, plan: ScrapePlan, runs: list[SiteRun], results: list[Counter]) -> "Outcome":
        stats = {r.site.name: c for r, c in zip(runs, results)}
        alarms = [a for a in (check_health(r.health, plan.config.health) for r in runs) if a]
        unreachable = [site for site, c in stats.items() if not any(c.get(k) for k in REACHED)]
        return cls(stats, [e for r in runs for e in r.errors], alarms, unreachable)

    @property
    def all_unreachable(self) -> bool:
        return bool(self.unreachable) and len(self.unreachable) == len(self.stats)

    @property
    def status(self) -> str:
        if self.all_unreachable:
            return "unreachable"
        return "drift" if self.alarms else "completed_with_errors" if self.errors else "completed"

    def unreachable_message(self, runs: list[SiteRun]) -> str:
        reasons = "; ".join(f"{r.site.name}: {r.errors[0] if r.errors else 'no response'}"
                            for r in runs if r.site.name in self.unreachable)
        return (f"nothing could be fetched from {', '.join(self.unreachable)} ({reasons}); check the network, "
                f"the site's domains in the config, or --replay-url / ${ENV_REPLAY_URL}")
