"""Prefect deployments: one scheduled scrape deployment per site, named ``scrape/scrape-<site>``.

Two ways register them, and they must not fight over the names:

* ``newsarchive serve``: the deployments run in the serving process (a Prefect runner);
* ``newsarchive deploy``: ``deploy/prefect.yaml`` registers them for a work pool, run by
  Prefect workers (``prefect worker start --pool newsarchive``).

The schedule of both comes from the site config (one place): ``schedule`` is a cron string
(UTC) or ``@every 30s|10m|2h``.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from crawl.config import Config, SiteConfig, every_seconds

from .scrape import scrape

FLOW_NAME = "scrape"


def deployment_name(site: str) -> str:
    return f"scrape-{site}"


def schedule_kwargs(site: SiteConfig) -> dict[str, Any]:
    """``to_deployment`` keyword arguments for the site's schedule."""
    seconds = every_seconds(site.schedule)
    if seconds is not None:
        return {"interval": timedelta(seconds=seconds)}
    return {"cron": site.schedule}


def schedule_objects(site: SiteConfig):
    """The site's schedule as a Prefect schedule object (for deployments registered from prefect.yaml)."""
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule
    seconds = every_seconds(site.schedule)
    if seconds is not None:
        return IntervalSchedule(interval=timedelta(seconds=seconds))
    return CronSchedule(cron=site.schedule, timezone="UTC")


def build_deployments(config: Config, *, archive: str, config_path: str | None = None,
                      sites: list[str] | None = None, replay_url: str | None = None):
    from prefect.types.entrypoint import EntrypointType
    out = []
    for name in sites or sorted(config.sites):
        site = config.site(name)
        params = {"sites": [name], "archive": archive, "config_path": config_path}
        if replay_url:
            params.update(replay_url=replay_url, delay_s=0.0)
        out.append(scrape.to_deployment(
            name=deployment_name(name), parameters=params, **schedule_kwargs(site),
            description=f"Scheduled crawl of {name} ({', '.join(site.domains)})",
            tags=["newsarchive", name],
            # The installed package's module path, not a file path relative to the current
            # directory: a worker started anywhere finds the flow.
            entrypoint_type=EntrypointType.MODULE_PATH,
        ))
    return out


async def registered(names: list[str]) -> dict[str, str | None]:
    """Deployments among ``names`` already on the server: name -> its work pool (None: a `serve`
    process runs it). `serve` and `deploy` check it so neither silently takes the other's over."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    found: dict[str, str | None] = {}
    async with get_client() as client:
        for name in names:
            try:
                d = await client.read_deployment_by_name(f"{FLOW_NAME}/{name}")
            except ObjectNotFound:
                continue
            found[name] = d.work_pool_name or None
    return found
