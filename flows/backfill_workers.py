"""Backfill chunks as flow runs of a deployment, shared by every worker that runs it.

Each chunk is one flow run named ``backfill-<site>-<since>-<until>``. Rerunning a backfill
finds the chunk runs of earlier attempts by that name: a completed chunk is not run again, a
chunk still scheduled or running is waited on, and a cancelled, failed or crashed one is
submitted anew (a fresh idempotency key per attempt: reusing the old key would hand back the
old, cancelled run). A chunk whose worker died (SIGKILL, lost machine) stays RUNNING in
Prefect for ever; its run lock in the archive (storage.runlock) tells, and the waiting backfill
marks it Crashed so the rerun takes it again.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

from crawl.backfill import BackfillError
from storage.lake import Archive
from storage.runlock import run_liveness
from storage.sql import query

from .progress import report

#: A chunk claimed by a worker (PENDING) that has not started its first step after this long is
#: taken for dead: its worker died between claiming and starting it (`backfill --stale-after`).
STALE_AFTER_S = 180.0
PAGE_COUNTERS = ("fetched", "not_modified", "failed")
PAGE = 200   # flow runs per API call (the server's default limit)


def chunk_name(site: str, since: datetime, until: datetime) -> str:
    return f"backfill-{site}-{since:%Y%m%d}-{until:%Y%m%d}"


async def resolve_archive(client, deployment: str, site: str, archive: str | None) -> str:
    """The archive the chunk runs write to: --archive, else the deployment's own."""
    from prefect.exceptions import ObjectNotFound
    try:
        dep = await client.read_deployment_by_name(deployment)
    except ObjectNotFound:
        raise BackfillError(f"backfill of {site}: no deployment named {deployment!r} on this Prefect server; "
                            f"register it (`newsarchive deploy`, or workers running `newsarchive serve --site "
                            f"{site}`) and point PREFECT_API_URL at the same server") from None
    found = archive or (dep.parameters or {}).get("archive") or \
        ((dep.job_variables or {}).get("env") or {}).get("NEWSARCHIVE_ARCHIVE")
    if not found:
        raise BackfillError(f"backfill of {site}: deployment {deployment!r} names no archive (parameter 'archive' "
                            f"or job variable env.NEWSARCHIVE_ARCHIVE); pass --archive PATH")
    return str(found)


async def _earlier_runs(client, deployment_id, names: list[str]) -> dict[str, list]:
    from prefect.client.schemas.filters import (DeploymentFilter, DeploymentFilterId, FlowRunFilter,
                                                FlowRunFilterName)
    runs: list = []
    while True:   # paged: the server answers at most PAGE runs per call, a long backfill has more
        page = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=names)),
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            limit=PAGE, offset=len(runs))
        runs += page
        if len(page) < PAGE:
            break
    by_name: dict[str, list] = {}   # newest attempt first
    for fr in sorted(runs, key=lambda r: r.created or datetime.min.replace(tzinfo=timezone.utc), reverse=True):
        by_name.setdefault(fr.name, []).append(fr)
    return by_name


async def submit_chunks(client, deployment: str, site: str, chunks, params: dict, archive: str, logger):
    """Flow run ids per chunk: earlier attempts reused when completed or still going, else a new run."""
    from prefect.deployments import arun_deployment
    dep = await client.read_deployment_by_name(deployment)
    names = [chunk_name(site, s, u) for s, u in chunks]
    earlier = await _earlier_runs(client, dep.id, names)
    out = []
    for (since, until), name in zip(chunks, names):
        attempts = [fr for fr in earlier.get(name, []) if (fr.parameters or {}).get("archive") in (None, archive)]
        last = attempts[0] if attempts else None
        if last is not None and last.state is not None and (last.state.is_completed() or not last.state.is_final()):
            logger.info("chunk %s: %s run %s from an earlier attempt", name,
                        "reusing the completed" if last.state.is_completed() else "waiting on the", last.id)
            out.append((last.id, since, until))
            continue
        fr = await arun_deployment(
            name=deployment, parameters={**params, "since": since.isoformat(), "until": until.isoformat()},
            timeout=0, flow_run_name=name, as_subflow=True,
            idempotency_key=f"{name}-{archive}-attempt{len(attempts) + 1}")
        if attempts:
            logger.info("chunk %s: attempt %d (the last one ended %s)", name, len(attempts) + 1, last.state.name)
        out.append((fr.id, since, until))
    return out


def _death(fr, archive: str, stale_after_s: float) -> str | None:
    """Why a claimed chunk run is dead, or None while it may still be alive."""
    if fr.state is None or not (fr.state.is_running() or fr.state.is_pending()):
        return None
    live = run_liveness(archive, str(fr.id))
    if live == "alive":
        return None
    if live == "dead":
        return (f"its worker died: the run lock in {archive}/locks/runs was released but the run never "
                f"finished")
    age = (datetime.now(timezone.utc) - fr.state.timestamp).total_seconds()
    if age > stale_after_s:
        return (f"its worker died before starting it: {fr.state.name} for {age:.0f} s with no sign of life "
                f"(more than --stale-after {stale_after_s:.0f} s)")
    return None


async def _mark_if_dead(client, fr, archive: str, stale_after_s: float) -> bool:
    """Mark a claimed chunk whose process is gone as Crashed; True if it did."""
    from prefect.states import Crashed
    why = _death(fr, archive, stale_after_s)
    if why is None:
        return False
    fresh = await client.read_flow_run(fr.id)
    if fresh.state is None or fresh.state.type != fr.state.type:
        return False   # it moved on meanwhile
    await client.set_flow_run_state(fr.id, Crashed(message=f"{why}; rerun the backfill to run this chunk again"),
                                    force=True)
    return True


def chunk_counters(archive: str, site: str, flow_run_ids: list[str]) -> dict[str, dict[str, int]]:
    """Counters per flow run id, from the archive's run_stats (what the chunk really committed)."""
    if not flow_run_ids:
        return {}
    ids = ", ".join(f"'{i}'" for i in flow_run_ids)   # UUIDs from the Prefect API
    _, rows = query(Archive(archive), "SELECT r.flow_run_id, s.counter, s.value FROM runs r JOIN run_stats s "
                                      f"USING (run_id) WHERE s.site = '{site}' AND r.flow_run_id IN ({ids})")
    out: dict[str, dict[str, int]] = {}
    for fid, counter, value in rows:
        c = out.setdefault(str(fid), {})
        c[counter] = c.get(counter, 0) + int(value)
    return out


async def wait_for_chunks(client, submitted, archive: str, site: str, poll_s: float,
                          stale_after_s: float = STALE_AFTER_S) -> list[str]:
    """Wait until every chunk run is final; returns the chunks that did not complete, as text."""
    pending = {fid: (since, until) for fid, since, until in submitted}
    failed = []
    while pending:
        for fid in list(pending):
            fr = await client.read_flow_run(fid)
            if await _mark_if_dead(client, fr, archive, stale_after_s):
                fr = await client.read_flow_run(fid)
            if fr.state is None or not fr.state.is_final():
                continue
            since, until = pending.pop(fid)
            if not fr.state.is_completed():
                failed.append(f"{since:%Y-%m-%d}..{until:%Y-%m-%d}: {fr.state.name} {fr.state.message or ''}".strip())
            counters = chunk_counters(archive, site, [str(fid)]).get(str(fid), {})
            pages = sum(counters.get(k, 0) for k in PAGE_COUNTERS)
            report("discovered", site=site, urls=pages)
            report("batch", site=site, pages=pages, counters=counters)
            report("chunk_done", since=since, until=until, counters=counters)
        if pending:
            await asyncio.sleep(poll_s)
    return failed


def totals(per_run: dict[str, dict[str, int]]) -> dict[str, Any]:
    out: dict[str, int] = {}
    for counters in per_run.values():
        for k, v in counters.items():
            out[k] = out.get(k, 0) + v
    return out
