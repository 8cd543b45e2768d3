"""Re-extraction flow: current extractors over the raw WARC archive, one snapshot, no network.

Orchestration only: the work and the run lifecycle are crawl/reextract.py and crawl/lifecycle.py.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from crawl.config import load_config
from crawl.reextract import reextract
from storage.lake import Archive

from .report import text_table
from .runlog import crawl_logs_to_run_log


@task(name="reextract", cache_policy=NO_CACHE)
def reextract_task(arch: Archive, config, sites: list[str], since: datetime | None, flow_run_id: str | None):
    return reextract(arch, config, sites, since=since, flow_run_id=flow_run_id)


@flow(name="reextract", log_prints=False)
async def reextract_flow(sites: list[str] | None = None, since: datetime | None = None,
                         archive: str | None = None, config_path: str | None = None) -> dict[str, Any]:
    from prefect.runtime import flow_run

    config = load_config(config_path)
    names = sites or sorted(config.sites)
    for n in names:
        config.site(n)   # unknown site: a clear error before any work
    with crawl_logs_to_run_log():
        result, stats = reextract_task(Archive(archive), config, names, since,
                                       str(flow_run.id) if flow_run.id else None)
    get_run_logger().info("re-extraction %s committed as snapshot %s\n%s", result.run_id, result.snapshot,
                          text_table(stats))
    return {"run_id": result.run_id, "snapshot": result.snapshot, "timings": result.timings,
            "stats": {k: dict(v) for k, v in stats.items()}}
