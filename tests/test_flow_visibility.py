"""What an operator sees in Prefect: an unreachable site fails the run with the reason, and the
crawl's own log lines are in the flow run's log."""
from __future__ import annotations

import asyncio
import time

import pytest

from storage.lake import Archive
from storage.sql import query
from tests.services import free_port

pytestmark = pytest.mark.prefect


async def _logs(flow_run_id) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    async with get_client() as client:
        return await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))


async def test_unreachable_site_fails_the_run_with_the_reason(prefect_harness, tmp_path):
    from flows.scrape import scrape
    dead = f"http://127.0.0.1:{free_port()}"      # nothing listens there
    state = await scrape(sites=["reuters"], archive=str(tmp_path / "a"), replay_url=dead, return_state=True)
    assert state.is_failed(), state
    assert "nothing could be fetched from reuters" in state.message
    assert "--replay-url" in state.message
    _, rows = query(Archive(tmp_path / "a"), "SELECT status FROM runs")
    assert rows == [("unreachable",)]
    _, rows = query(Archive(tmp_path / "a"), "SELECT count(*), count(*) FILTER (outcome = 'failed') FROM fetch_log")
    assert rows[0][0] > 0 and rows[0][0] == rows[0][1], "the failed attempts are kept in the fetch log"


async def test_crawl_log_lines_reach_the_run_log(prefect_harness, replay_web, tmp_path):
    from flows.scrape import scrape
    state = await scrape(sites=["almayadeen"], archive=str(tmp_path / "a"), replay_url=replay_web.url,
                         return_state=True)
    assert state.is_completed()
    # Logs reach the API in batches, shortly after the run: wait for them, within a deadline.
    deadline = time.monotonic() + 60
    while True:
        logs = await _logs(state.state_details.flow_run_id)
        names = {log.name for log in logs}
        if "crawl.discovery" in names or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert "crawl.discovery" in names, sorted(names)
    assert any("almayadeen: discovered" in log.message for log in logs)


async def test_a_run_publishes_its_counters_and_report_artifacts(prefect_harness, replay_web, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from flows.scrape import scrape
    state = await scrape(sites=["reuters"], archive=str(tmp_path / "a"), replay_url=replay_web.url,
                         return_state=True)
    async with get_client() as client:
        arts = await client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])))
    by_key = {a.key: a.data for a in arts}
    assert "fetched" in by_key["scrape-run-stats"] and "reuters" in by_key["scrape-run-stats"]
    report = by_key["scrape-run-report"]
    assert "Fetch outcomes of run" in report and "reuters" in report
    assert "http://127.0.0.1:8766/run/" in report
