"""A backfill on workers, rerun after chunks were cancelled or failed, reruns just those chunks
(flows/backfill_workers.py), against the real Prefect test server: no worker needed, the
chunk runs only have to exist."""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import pytest

from crawl.backfill import split_range
from flows import backfill_workers as bw

pytestmark = pytest.mark.prefect
LOG = logging.getLogger("test")


async def test_rerun_replaces_cancelled_and_failed_chunks_and_keeps_the_others(prefect_harness, tmp_path,
                                                                               monkeypatch):
    monkeypatch.setattr(bw, "PAGE", 3)   # earlier attempts read over several pages, as a long backfill's are
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled, Completed, Failed

    from flows.deployments import build_deployments
    from crawl.config import load_config

    archive = str(tmp_path / "archive")
    # build_deployments is sync code (as `serve` calls it): in a thread, away from this event loop.
    (dep,) = await asyncio.to_thread(build_deployments, load_config(), archive=archive, sites=["reuters"])
    await dep.aapply()
    chunks = split_range(datetime(2020, 1, 1).date(), datetime(2023, 12, 31).date(), 366, site="reuters")
    assert len(chunks) == 4
    async with get_client() as client:
        first = await bw.submit_chunks(client, "scrape/scrape-reuters", "reuters", chunks, {"sites": ["reuters"]},
                                       archive, LOG)
        ids = [fid for fid, _, _ in first]
        assert len(set(ids)) == 4
        await client.set_flow_run_state(ids[0], Cancelled(), force=True)
        await client.set_flow_run_state(ids[1], Failed(message="boom"), force=True)
        await client.set_flow_run_state(ids[2], Completed(), force=True)
        # ids[3] stays Scheduled: a chunk still waiting for a worker.

        again = await bw.submit_chunks(client, "scrape/scrape-reuters", "reuters", chunks, {"sites": ["reuters"]},
                                       archive, LOG)
        new_ids = [fid for fid, _, _ in again]
        assert new_ids[0] not in ids and new_ids[1] not in ids, "cancelled and failed chunks run again"
        assert new_ids[2] == ids[2], "a completed chunk is not run twice"
        assert new_ids[3] == ids[3], "a chunk still scheduled is waited on, not duplicated"
        runs = [await client.read_flow_run(i) for i in new_ids[:2]]
        assert [r.name for r in runs] == [bw.chunk_name("reuters", *chunks[0]), bw.chunk_name("reuters", *chunks[1])]
        assert all(r.state.is_scheduled() for r in runs)


async def test_a_chunk_claimed_but_never_started_is_marked_crashed_after_stale_after(prefect_harness, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.states import Pending

    from flows.deployments import build_deployments
    from crawl.config import load_config

    archive = str(tmp_path / "archive")
    # build_deployments is sync code (as `serve` calls it): in a thread, away from this event loop.
    (dep,) = await asyncio.to_thread(build_deployments, load_config(), archive=archive, sites=["reuters"])
    await dep.aapply()
    chunks = split_range(datetime(2021, 1, 1).date(), datetime(2021, 12, 31).date(), 366, site="reuters")
    async with get_client() as client:
        (sub,) = await bw.submit_chunks(client, "scrape/scrape-reuters", "reuters", chunks, {}, archive, LOG)
        await client.set_flow_run_state(sub[0], Pending(), force=True)   # a worker claimed it, then died
        fr = await client.read_flow_run(sub[0])
        assert not await bw._mark_if_dead(client, fr, archive, stale_after_s=3600), "not stale yet"
        assert await bw._mark_if_dead(client, fr, archive, stale_after_s=0)
        fr = await client.read_flow_run(sub[0])
        assert fr.state.type.value == "CRASHED" and "--stale-after" in fr.state.message
