"""Backfill flow: a site's archive filled backwards over a date range.

The range is split into chunks; each chunk is one run of the scrape flow (a
separate Prefect flow run and a separate archive snapshot) restricted to that
publication window, with URLs the archive already holds skipped. Killing a
backfill loses nothing: finished batches are staged on disk and committed by
the next run, and the rerun does not refetch what is archived.

By default the chunks run one after the other in this process. With
``deployment`` (e.g. "scrape/scrape-reuters", as `newsarchive serve` registers
it) every chunk is submitted as a flow run of that deployment, so every worker
serving it (several `newsarchive serve` processes, or a work pool) shares the
chunks; this flow waits for them and sums their counters from the archive.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from prefect import flow, get_run_logger

from crawl.backfill import BackfillError, split_range

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
    deployment: str | None = None,
    poll_s: float = 2.0,
    stale_after_s: float = 180.0,
) -> dict[str, Any]:
    logger = get_run_logger()
    chunks = split_range(date_from, date_to, chunk_days, site=site)
    logger.info("backfill of %s from %s to %s in %d chunk(s) of %d day(s)%s", site, date_from, date_to,
                len(chunks), chunk_days, f" on the workers of {deployment}" if deployment else "")
    report("chunks", total=len(chunks))
    params = {"sites": [site], "archive": archive, "config_path": config_path, "replay_url": replay_url,
              "delay_s": delay_s, "batch_size": batch_size, "skip_known": True, "sitemaps_only": True,
              "flow_label": "backfill"}
    if deployment:
        # Unset values are left to the deployment's own defaults (its archive, config, ...).
        given = {k: v for k, v in params.items() if v is not None}
        return await _on_workers(deployment, site, chunks, given, archive, poll_s, stale_after_s, logger)
    totals: dict[str, int] = {}
    runs = []
    for since, until in chunks:
        result = await scrape.with_options(flow_run_name=f"backfill-{site}-{since:%Y%m%d}-{until:%Y%m%d}")(
            **params, since=since, until=until)
        for k, v in result["stats"][site].items():
            totals[k] = totals.get(k, 0) + v
        runs.append({"run_id": result["run_id"], "snapshot": result["snapshot"],
                     "since": since.isoformat(), "until": until.isoformat()})
        report("chunk_done", since=since, until=until, counters=result["stats"][site])
    logger.info("backfill of %s done: %s", site, ", ".join(f"{k}={v}" for k, v in sorted(totals.items())))
    return {"site": site, "chunks": runs, "stats": totals}


async def _on_workers(deployment: str, site: str, chunks: list[tuple[datetime, datetime]], params: dict,
                      archive: str | None, poll_s: float, stale_after_s: float, logger) -> dict[str, Any]:
    from prefect.client.orchestration import get_client

    from . import backfill_workers as bw

    async with get_client() as client:
        archive = await bw.resolve_archive(client, deployment, site, archive)
        submitted = await bw.submit_chunks(client, deployment, site, chunks, params, archive, logger)
        failed = await bw.wait_for_chunks(client, submitted, archive, site, poll_s, stale_after_s)
    ids = [str(fid) for fid, _, _ in submitted]
    totals = bw.totals(bw.chunk_counters(archive, site, ids))
    if failed:
        raise BackfillError(f"backfill of {site}: {len(failed)} chunk run(s) of {deployment} did not complete; "
                            f"rerun the same backfill to run just those again (completed chunks are kept): "
                            + "; ".join(failed))
    logger.info("backfill of %s done on workers: %s", site, ", ".join(f"{k}={v}" for k, v in sorted(totals.items())))
    return {"site": site, "chunks": [{"flow_run_id": i} for i in ids], "stats": totals}
