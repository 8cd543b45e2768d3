"""Backfill: date windows, idempotence with scheduled runs, and resuming after SIGKILL."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from crawl.backfill import BackfillError, split_range
from replay import Corpus
from storage.lake import Archive
from storage.sql import query


def test_split_range_newest_first_and_covering():
    chunks = split_range(date(2022, 1, 1), date(2022, 3, 15), 31, today=date(2026, 1, 1))
    assert chunks[0][1] == datetime(2022, 3, 15, 23, 59, 59, 999999, tzinfo=timezone.utc)
    assert chunks[-1][0] == datetime(2022, 1, 1, tzinfo=timezone.utc)
    spans = sorted(chunks)
    for (a, b), (c, d) in zip(spans, spans[1:]):
        assert (c - b).total_seconds() < 1e-3   # consecutive, no gap, no overlap
    assert split_range(date(2022, 1, 1), date(2022, 1, 1), 7, today=date(2026, 1, 1))[0][0].date() == date(2022, 1, 1)


@pytest.mark.parametrize("args, message", [
    ((date(2022, 2, 1), date(2022, 1, 1), 7), "--from 2022-02-01 is after --to 2022-01-01; swap them"),
    ((date(2030, 1, 1), date(2030, 2, 1), 7), "--from 2030-01-01 is in the future"),
    ((date(2022, 1, 1), date(2022, 2, 1), 0), "--chunk-days must be >= 1"),
])
def test_split_range_errors(args, message):
    with pytest.raises(BackfillError) as e:
        split_range(*args, today=date(2026, 1, 1), site="reuters")
    assert str(e.value).startswith("backfill of reuters: ") and message in str(e.value)


def expected_urls(corpus: Corpus, site: str, since: datetime, until: datetime) -> set[str]:
    return {a.url for a in corpus.articles(site) if since <= a.published <= until}


@pytest.mark.slow
@pytest.mark.prefect
async def test_backfill_window_then_scheduled_run_stores_each_article_once(prefect_harness, tmp_path):
    from flows.backfill import backfill
    from flows.scrape import scrape
    from replay import start_replay

    corpus = Corpus(seed=21, per_site=400)
    since = datetime(2021, 1, 1, tzinfo=timezone.utc)
    until = datetime(2021, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
    want = expected_urls(corpus, "almayadeen", since, until)
    assert len(want) >= 20
    arch = Archive(tmp_path / "a")
    with start_replay(seed=21, per_site=400) as srv:
        result = await backfill(site="almayadeen", date_from=date(2021, 1, 1), date_to=date(2021, 12, 31),
                                chunk_days=120, archive=str(arch.root), replay_url=srv.url, delay_s=0.0)
        assert len(result["chunks"]) == 4
        _, rows = query(arch, "SELECT url FROM articles")
        assert {r[0] for r in rows} == want
        # The same backfill again fetches nothing: everything is already archived.
        again = await backfill(site="almayadeen", date_from=date(2021, 1, 1), date_to=date(2021, 12, 31),
                               chunk_days=120, archive=str(arch.root), replay_url=srv.url, delay_s=0.0)
        assert again["stats"].get("fetched", 0) == 0 and again["stats"]["skipped:known"] == len(want)
        # A scheduled run over everything adds the rest and nothing twice.
        await scrape(archive=str(arch.root), replay_url=srv.url, delay_s=0.0, sites=["almayadeen"])
    _, rows = query(arch, "SELECT count(*), count(DISTINCT url) FROM article_versions")
    assert rows[0][0] == rows[0][1] == len(list(corpus.articles("almayadeen")))


@pytest.mark.slow
@pytest.mark.prefect
def test_backfill_killed_mid_chunk_resumes_without_refetching(prefect_harness, tmp_path):
    from prefect.settings import get_current_settings

    arch = tmp_path / "a"
    env = {**os.environ, "PREFECT_API_URL": str(get_current_settings().api.url),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    cmd = [sys.executable, "-m", "flows.cli", "--archive", str(arch), "backfill", "--site", "reuters",
           "--from", "2019-01-01", "--to", "2026-11-20", "--chunk-days", "4000", "--replay",
           "--replay-articles", "300", "--batch-size", "10", "--no-progress"]
    proc = subprocess.Popen(cmd + ["--delay", "0.02"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    staged = arch / "staging"
    deadline = time.monotonic() + 120
    try:
        # Kill it once a few batches are staged but the chunk has not committed.
        while time.monotonic() < deadline:
            files = list(staged.glob("*/batches/*/article_versions.jsonl"))   # one directory per staged batch
            if sum(1 for f in files for _ in f.open()) >= 30:
                break
            assert proc.poll() is None, "backfill finished before it could be killed; slow it down"
            time.sleep(0.05)
        else:
            pytest.fail("backfill staged nothing within 120 s")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not (arch / "catalog.sqlite").exists() or query(Archive(arch), "SELECT count(*) FROM articles")[1][0][0] == 0

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    a = Archive(arch)
    _, rows = query(a, "SELECT status, count(*) FROM runs GROUP BY status")
    assert dict(rows) == {"recovered": 1, "completed": 1}
    _, rows = query(a, "SELECT url FROM articles")
    want = {x.url for x in Corpus(seed=1, per_site=300).articles("reuters")}
    assert want <= {r[0] for r in rows}
    _, rows = query(a, "SELECT count(*) FROM (SELECT url FROM fetch_log WHERE kind = 'article' "
                       "AND outcome = 'fetched' GROUP BY url HAVING count(*) > 1)")
    assert rows == [(0,)], "an URL archived before the kill was fetched again"


@pytest.mark.slow
@pytest.mark.prefect
async def test_backfill_chunks_are_shared_by_two_serving_workers(prefect_harness, tmp_path):
    from prefect.settings import get_current_settings

    from flows.backfill import backfill
    from replay import start_replay

    arch = tmp_path / "a"
    env = {**os.environ, "PREFECT_API_URL": str(get_current_settings().api.url),
           "PREFECT_RUNNER_POLL_FREQUENCY": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    workers = [subprocess.Popen([sys.executable, "-m", "flows.cli", "--archive", str(arch), "serve",
                                 "--site", "reuters"], env=env, stdout=subprocess.DEVNULL,
                                stderr=log.open("w")) for log in logs]
    try:
        from prefect.client.orchestration import get_client
        from prefect.exceptions import ObjectNotFound
        deadline = time.monotonic() + 90
        async with get_client() as client:      # wait until the workers registered the deployment
            while True:
                try:
                    await client.read_deployment_by_name("scrape/scrape-reuters")
                    break
                except ObjectNotFound:
                    assert time.monotonic() < deadline, "workers did not register scrape/scrape-reuters"
                    await asyncio.sleep(0.5)
        corpus = Corpus(seed=23, per_site=200)
        since = datetime(2020, 1, 1, tzinfo=timezone.utc)
        until = datetime(2023, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
        want = expected_urls(corpus, "reuters", since, until)
        with start_replay(seed=23, per_site=200) as srv:
            result = await backfill(site="reuters", date_from=date(2020, 1, 1), date_to=date(2023, 12, 31),
                                    chunk_days=366, archive=str(arch), replay_url=srv.url, delay_s=0.0,
                                    deployment="scrape/scrape-reuters", poll_s=0.5)
    except Exception:
        for log in logs:     # what the workers said, in the failure report
            print(f"--- {log.name}\n" + log.read_text(errors="replace")[-6000:])
        raise
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(timeout=30)
    assert len(result["chunks"]) == 4
    async with get_client() as client:
        dep = await client.read_deployment_by_name("scrape/scrape-reuters")
    assert dep.paused is False, "stopping the serving workers paused the deployment for everyone"
    # `newsarchive deploy` would take the served deployment over for a work pool: it refuses.
    refused = subprocess.run([sys.executable, "-m", "flows.cli", "--archive", str(arch), "deploy"], env=env,
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "is served by `newsarchive serve`" in refused.stderr, refused.stderr
    a = Archive(arch)
    _, rows = query(a, "SELECT url FROM articles")
    assert want <= {r[0] for r in rows}
    _, rows = query(a, "SELECT count(DISTINCT flow_run_id), count(*) FROM runs WHERE flow_name = 'backfill'")
    assert rows == [(4, 4)], "one archive run (and snapshot) per chunk flow run"
    assert result["stats"]["new"] >= len(want) and result["stats"].get("failed", 0) == 0
