"""Backfill flow: a site's archive filled backwards over a date range.

The range is split into chunks; each chunk is one run of the scrape flow (a
separate Prefect flow run and a separate archive snapshot) restricted to that
publication window, with URLs the archive already holds skipped. Killing a
backfill loses nothing: finished batches are staged on disk and committed by
the next run, and the rerun does not refetch what is archived.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow, get_run_logger

from crawl.backfill import split_range

from .progress import report
from .scrape import BATCH_SIZE, scrape


@flow(name="backfill", log_prints=False)
async def backfill(
    site: str,
    date_from: date,
    date_to: date,
    chunk_days: int = 31,
    archive: str | None = None,
    config_path: str | None = None,
    replay_url: str | None = None,
    delay_s: float | None = None,
    batch_size: int = BATCH_SIZE,
) -> dict[str, Any]:
    logger = get_run_logger()
    chunks = split_range(date_from, date_to, chunk_days, site=site)
    logger.info("backfill of %s from %s to %s in %d chunk(s) of %d day(s)",
                site, date_from, date_to, len(chunks), chunk_days)
    report("chunks", total=len(chunks))
    totals: dict[str, int] = {}
    runs = []
    for since, until in chunks:
        result = await scrape.with_options(flow_run_name=f"backfill-{site}-{since:%Y%m%d}-{until:%Y%m%d}")(
            sites=[site], archive=archive, config_path=config_path, replay_url=replay_url,
            delay_s=delay_s, batch_size=batch_size, since=since, until=until, skip_known=True, sitemaps_only=True,
            flow_label="backfill")
        for k, v in result["stats"][site].items():
            totals[k] = totals.get(k, 0) + v
        runs.append({"run_id": result["run_id"], "snapshot": result["snapshot"],
                     "since": since.isoformat(), "until": until.isoformat()})
        report("chunk_done", since=since, until=until, counters=result["stats"][site])
    logger.info("backfill of %s done: %s", site, ", ".join(f"{k}={v}" for k, v in sorted(totals.items())))
    return {"site": site, "chunks": runs, "stats": totals}
