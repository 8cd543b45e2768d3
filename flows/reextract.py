"""Re-extraction flow: current extractors over the raw WARC archive, one snapshot, no network."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from crawl.config import load_config
from crawl.reextract import reextract
from storage.lake import Archive
from storage.search import SearchError, refresh_index

from .report import text_table
from .scrape import new_run_id


@task(name="reextract", cache_policy=NO_CACHE)
def reextract_task(arch: Archive, config, sites: list[str], run_id: str, since: datetime | None,
                   flow_run_id: str | None):
    return reextract(arch, config, sites, run_id, since=since, flow_run_id=flow_run_id)


@flow(name="reextract", log_prints=False)
async def reextract_flow(sites: list[str] | None = None, since: datetime | None = None,
                         archive: str | None = None, config_path: str | None = None) -> dict[str, Any]:
    from prefect.runtime import flow_run

    logger = get_run_logger()
    config = load_config(config_path)
    names = sites or sorted(config.sites)
    for n in names:
        config.site(n)   # unknown site: a clear error before any work
    arch = Archive(archive)
    arch.init()
    run_id = new_run_id()
    snapshot, stats = reextract_task(arch, config, names, run_id, since,
                                     str(flow_run.id) if flow_run.id else None)
    logger.info("re-extraction %s committed as snapshot %s\n%s", run_id, snapshot, text_table(stats))
    try:
        refresh_index(arch)
    except (SearchError, OSError, duckdb.Error) as e:   # derived index: the next refresh catches up
        logger.warning("search index not refreshed: %s; run `newsarchive search --refresh`", e)
    return {"run_id": run_id, "snapshot": snapshot, "stats": {k: dict(v) for k, v in stats.items()}}
