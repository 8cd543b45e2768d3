"""No kill loses anything: a real crawl subprocess SIGKILLed at named points, then one normal run.

Each case runs the scrape flow in a subprocess against the replay web with
``NEWSARCHIVE_TEST_KILL_AT=<point>[:<n>]`` (storage.staging.kill_point: the process SIGKILLs
itself the n-th time it reaches the point), checks the kill left the state the case is about,
runs the flow once more in this process, and then asserts on the archive:

- every article of the replay corpus is there exactly once (article_versions, one row per URL);
- every WARC reference (articles and fetch log) reads back the response it names;
- no fetch-log row keeps an ETag/Last-Modified for a page whose article row is missing;
- the counters of each run say what it wrote (new + changed == its article rows).
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from crawl.warc import WarcRef, read_record
from replay import Corpus
from storage.lake import Archive
from storage.sql import query

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

SEED, PER_SITE = 31, 30
REPO = Path(__file__).resolve().parents[1]

# The killed crawl. Two points are outside storage/ and hooked here: "fetch" (right after a
# response is written to the WARC file, before its page is staged) and "index-save" (after
# the near-duplicate index is saved, before the story index).
DRIVER = r"""
import asyncio, os, sys
from storage.staging import ENV_KILL_AT, kill_point
point = os.environ.get(ENV_KILL_AT, "").split(":")[0]
if point == "fetch":
    import crawl.warc
    real_write = crawl.warc.WarcWriter.write
    def write(self, *a, **k):
        ref = real_write(self, *a, **k)
        kill_point("fetch")
        return ref
    crawl.warc.WarcWriter.write = write
if point == "index-save":
    import dedup.state
    real_save = dedup.state.save_stories
    def save_stories(*a, **k):
        kill_point("index-save")
        return real_save(*a, **k)
    dedup.state.save_stories = save_stories
from flows.scrape import scrape
asyncio.run(scrape(archive=sys.argv[1], replay_url=sys.argv[2], delay_s=0.0, batch_size=10))
"""


@pytest.fixture(scope="module")
def replay_kills():
    from replay import start_replay

    srv = start_replay(seed=SEED, per_site=PER_SITE)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def corpus_urls() -> set[str]:
    """Every article the replay web serves: the generated corpus plus the captured Reuters pages
    (served beside it when ../shared is there)."""
    from replay.captured import load_captured

    corpus = Corpus(seed=SEED, per_site=PER_SITE)
    generated = {a.url for site in ("almayadeen", "reuters") for a in corpus.articles(site)}
    return generated | {c.url for c in load_captured().values()}


def killed_crawl(arch: Archive, replay_url: str, kill_at: str) -> None:
    """Run the crawl in a subprocess that SIGKILLs itself at ``kill_at``; fail if it did not."""
    from prefect.settings import get_current_settings

    env = {**os.environ, "PREFECT_API_URL": str(get_current_settings().api.url),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "NEWSARCHIVE_TEST_KILL_AT": kill_at}
    proc = subprocess.run([sys.executable, "-c", DRIVER, str(arch.root), replay_url], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == -signal.SIGKILL, (
        f"the crawl was not killed at {kill_at} (exit {proc.returncode}): {proc.stderr[-3000:]}")


def staged_runs(arch: Archive) -> list[Path]:
    return [p for p in arch.staging_dir.iterdir() if p.is_dir() and p.name != "quarantine"] \
        if arch.staging_dir.exists() else []


def committed_runs(arch: Archive) -> int:
    if not arch.catalog.exists():
        return 0
    return query(arch, "SELECT count(*) FROM runs")[1][0][0]


def orphan_data_files(arch: Archive) -> set[str]:
    """Parquet files in data/ that the catalog does not know (left by a commit killed midway)."""
    on_disk = {str(p.relative_to(arch.data_dir)) for p in arch.data_dir.rglob("*.parquet")}
    _, rows = query(arch, "SELECT path FROM __ducklake_metadata_lake.ducklake_data_file "
                          "UNION ALL SELECT path FROM __ducklake_metadata_lake.ducklake_delete_file")
    known = {r[0] for r in rows}
    return {f for f in on_disk if f.rsplit("/", 1)[-1] not in {k.rsplit("/", 1)[-1] for k in known}}


def assert_archive_whole(arch: Archive, corpus_urls: set[str]) -> None:
    _, rows = query(arch, "SELECT url, count(*) FROM article_versions GROUP BY url")
    counts = dict(rows)
    assert set(counts) == corpus_urls, (
        f"missing {sorted(corpus_urls - set(counts))[:5]}, extra {sorted(set(counts) - corpus_urls)[:5]}")
    assert {n for n in counts.values()} == {1}, {u: n for u, n in counts.items() if n != 1}

    _, refs = query(arch, "SELECT fetched_url, warc_file, warc_offset, warc_length, 200 FROM article_versions "
                          "UNION ALL SELECT final_url, warc_file, warc_offset, warc_length, status FROM fetch_log "
                          "WHERE warc_file IS NOT NULL")
    assert len(refs) >= 2 * len(corpus_urls)
    for url, name, offset, length, status in refs:
        got_url, got_status, _, body = read_record(arch.warc_dir, WarcRef(name, offset, length))
        assert (got_url, got_status) == (url, status), (name, offset)
        assert status != 200 or body

    _, rows = query(arch, """
        SELECT f.url FROM fetch_log f
        WHERE f.kind = 'article' AND (f.etag IS NOT NULL OR f.last_modified IS NOT NULL)
          AND NOT EXISTS (SELECT 1 FROM article_versions a
                          WHERE (a.url = f.url OR a.fetched_url = f.final_url)
                            AND (f.content_hash IS NULL OR a.content_hash = f.content_hash))""")
    assert rows == [], f"validators committed without their article: {rows[:5]}"

    _, rows = query(arch, """
        SELECT r.run_id, coalesce(s.claimed, 0), (SELECT count(*) FROM article_versions a WHERE a.run_id = r.run_id)
        FROM runs r LEFT JOIN (SELECT run_id, sum(value) AS claimed FROM run_stats
                               WHERE counter IN ('new', 'changed') GROUP BY run_id) s USING (run_id)""")
    for run_id, claimed, written in rows:
        assert claimed == written, f"run {run_id} counts {claimed} new/changed articles but wrote {written}"


async def normal_run(arch: Archive, replay_url: str) -> dict:
    from flows.scrape import scrape

    return await scrape(archive=str(arch.root), replay_url=replay_url, delay_s=0.0, batch_size=10)


def check_staged_batches(arch: Archive) -> None:
    (run,) = staged_runs(arch)
    assert list((run / "batches").glob("*-0000*/article_versions.jsonl")), "no article batch was staged"
    assert committed_runs(arch) == 0


def check_torn_temp_file(arch: Archive) -> None:
    (run,) = staged_runs(arch)
    torn = [f for f in (run / "batches").glob(".tmp-*/*.jsonl") if not f.read_bytes().endswith(b"\n")]
    assert torn, "the kill did not leave a half-written line"
    check_staged_batches(arch)


def check_commit_killed(arch: Archive) -> None:
    check_staged_batches(arch)
    assert orphan_data_files(arch), "the commit was killed before writing any data file"


def check_committed_not_cleaned(arch: Archive) -> None:
    assert committed_runs(arch) == 1 and len(staged_runs(arch)) == 1


def check_index_half_saved(arch: Archive) -> None:
    assert committed_runs(arch) == 1 and staged_runs(arch) == []
    assert (arch.root / "index" / "neardup" / "meta.json").exists()
    assert not (arch.root / "index" / "stories" / "meta.json").exists()


CASES = {
    # point: (NEWSARCHIVE_TEST_KILL_AT, what the kill must have left)
    "during fetch": ("fetch:100", check_staged_batches),   # ~64 discovery fetches first
    "mid-write of a staged line": ("staging-mid-line:5", check_torn_temp_file),
    "after a batch is staged": ("batch-staged:5", check_staged_batches),
    "during commit, before the transaction commits": ("commit-before", check_commit_killed),
    "after commit, before staging cleanup": ("commit-after", check_committed_not_cleaned),
    "during index save": ("index-save", check_index_half_saved),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_kill_then_one_run_loses_nothing(prefect_harness, replay_kills, corpus_urls, tmp_path, case):
    kill_at, check_left = CASES[case]
    arch = Archive(tmp_path / "archive")
    killed_crawl(arch, replay_kills.url, kill_at)
    check_left(arch)

    result = await normal_run(arch, replay_kills.url)
    assert staged_runs(arch) == [] and not (arch.staging_dir / "quarantine").exists()
    assert_archive_whole(arch, corpus_urls)
    _, rows = query(arch, "SELECT status, count(*) FROM runs GROUP BY status ORDER BY status")
    statuses = dict(rows)
    assert statuses.pop("completed") == (2 if kill_at in ("commit-after", "index-save") else 1)
    assert statuses == ({} if kill_at in ("commit-after", "index-save") else {"recovered": 1})
    assert not result["errors"]


async def test_orphaned_data_files_of_a_killed_commit_are_collected_by_compact(
        prefect_harness, replay_kills, corpus_urls, tmp_path):
    from datetime import timedelta

    from storage.compact import compact

    arch = Archive(tmp_path / "archive")
    killed_crawl(arch, replay_kills.url, "commit-before")
    orphans = orphan_data_files(arch)
    assert orphans
    await normal_run(arch, replay_kills.url)
    # Within the grace period they are kept (they could be a running commit's files).
    report = compact(arch, grace=timedelta(0))
    assert report.orphans_deleted == 0 and orphan_data_files(arch) == orphans
    report = compact(arch, grace=timedelta(0), orphan_grace=timedelta(0))
    assert report.orphans_deleted == len(orphans)
    assert orphan_data_files(arch) == set()
    assert_archive_whole(arch, corpus_urls)


def to_old_layout_with_torn_tail(run: Path) -> tuple[Path, str]:
    """Rewrite a staged run as older versions left it (one file per table and batch, appended
    line by line) with the last article line cut short, as a kill mid-append did.
    Returns the torn file and the URL of the article cut short."""
    for batch in sorted((run / "batches").iterdir()):
        for f in batch.glob("*.jsonl"):
            (run / f.stem).mkdir(exist_ok=True)
            f.rename(run / f.stem / f"{batch.name}.jsonl")
        batch.rmdir()
    (run / "batches").rmdir()
    victim = max((run / "article_versions").glob("*.jsonl"), key=lambda f: len(f.read_text().splitlines()))
    text = victim.read_text("utf-8")
    last = text.rstrip("\n").rsplit("\n", 1)[-1]
    victim.write_text(text[: len(text) - 1 - len(last) // 2], "utf-8")
    return victim, json.loads(last)["url"]


async def test_torn_line_of_an_older_staging_is_dropped_and_its_page_refetched(
        prefect_harness, replay_kills, corpus_urls, tmp_path):
    """The reported failure: a kill mid-append left `...reuters-00001.jsonl` with a torn last
    line and every later run failed with `Malformed JSON`. Now the line is dropped with a
    warning naming the file, the rest is committed and the torn page is fetched again."""
    arch = Archive(tmp_path / "archive")
    killed_crawl(arch, replay_kills.url, "batch-staged:5")
    (run,) = staged_runs(arch)
    victim, torn_url = to_old_layout_with_torn_tail(run)
    # Prefect reconfigures the root logger when a flow starts (caplog's handler goes), so listen
    # on the package's own logger.
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logging.getLogger("newsarchive").addHandler(handler)
    try:
        result = await normal_run(arch, replay_kills.url)
    finally:
        logging.getLogger("newsarchive").removeHandler(handler)
    warned = [r.getMessage() for r in records if "torn line" in r.getMessage()]
    assert len(warned) == 1 and str(victim) in warned[0] and "fetched again by the next run" in warned[0]
    _, rows = query(arch, f"SELECT a.run_id FROM article_versions a WHERE url = '{torn_url}'")
    assert rows == [(result["run_id"],)], "the torn page was not fetched again by the next run"
    _, rows = query(arch, "SELECT status FROM runs ORDER BY started_at")
    assert rows == [("recovered",), ("completed",)]
    assert_archive_whole(arch, corpus_urls)


async def test_two_runs_at_once_store_each_article_once_and_count_what_they_wrote(
        prefect_harness, replay_kills, corpus_urls, tmp_path):
    """The reported failure: the second of two concurrent runs claimed 3,002 new articles in
    run_stats but wrote none (the first had committed them). Counters now say what was written."""
    import asyncio

    arch = Archive(tmp_path / "archive")
    Archive(arch.root).init()   # both runs open an existing archive
    first, second = await asyncio.gather(normal_run(arch, replay_kills.url), normal_run(arch, replay_kills.url))
    assert_archive_whole(arch, corpus_urls)   # includes: each run's new + changed == its article rows
    new = sum(c.get("new", 0) for r in (first, second) for c in r["stats"].values())
    assert new == len(corpus_urls)
    for r in (first, second):
        for site, c in r["stats"].items():
            assert c["stored"] == c.get("new", 0) + c.get("changed", 0), (site, c)
