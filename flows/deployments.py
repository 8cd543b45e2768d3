"""Prefect deployments: one scheduled scrape deployment per site (cron from the site config)."""
from __future__ import annotations

from prefect.types.entrypoint import EntrypointType

from crawl.config import Config

from .scrape import scrape


def build_deployments(config: Config, *, archive: str, config_path: str | None = None,
                      sites: list[str] | None = None, replay_url: str | None = None):
    out = []
    for name in sites or sorted(config.sites):
        site = config.site(name)
        params = {"sites": [name], "archive": archive, "config_path": config_path}
        if replay_url:
            params.update(replay_url=replay_url, delay_s=0.0)
        out.append(scrape.to_deployment(
            name=f"scrape-{name}", cron=site.schedule, parameters=params,
            description=f"Scheduled crawl of {name} ({', '.join(site.domains)})",
            tags=["newsarchive", name],
            # The installed package's module path, not a file path relative to the current
            # directory: a worker started anywhere finds the flow.
            entrypoint_type=EntrypointType.MODULE_PATH,
        ))
    return out
