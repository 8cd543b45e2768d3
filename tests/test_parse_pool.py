"""Page parsing in worker processes (crawl/parsepool.py, crawl/parsejob.py): the same records,
hashes, canonical URLs, duplicates and stories as parsing in the crawl process; the crawl goes
on in-process when the pool cannot start (one log line); and no process is left behind when
the crawl is cancelled, SIGKILLed or SIGTERMed (real subprocesses, real signals)."""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import extractors
from crawl import parsejob, parsepool
from crawl.fetch import Fetcher
from crawl.parsepool import ParsePool
from crawl.pipeline import SiteRun, crawl_batch, discover_urls
from crawl.plan import replay_host_map
from dedup.state import DedupState
from pipeline_helpers import config, no_sleep, staged_rows
from replay import Knobs, start_replay
from storage.staging import Staging
from storage.state import CrawlState

ROOT = Path(__file__).resolve().parents[1]
# The replay's breaking ticker (on every page) rotates each 60 s of wall clock: two crawls whose
# records are compared must not straddle a rotation, so it is held still for them.
STILL_TICKER = Knobs(ticker_period_s=10**9)


async def _crawl(tmp: Path, srv, pool: ParsePool, monkeypatch, site_name: str = "reuters"):
    """One site's pages in one batch, through ``pool``, fetched one at a time (a fixed order)."""
    monkeypatch.setattr("crawl.pipeline.shared_pool", lambda: pool)
    cfg = config().with_politeness(delay_s=0.0, concurrency=1)
    async with Fetcher(cfg, host_map=replay_host_map(cfg, srv.url), sleep=no_sleep) as fetcher:
        site = cfg.site(site_name)
        run = SiteRun(site=site, run_id="r1", fetcher=fetcher, extractor=extractors.registry.get(site.extractor),
                      staging=Staging(tmp / "staging", "r1"), state=CrawlState(), dedup=DedupState.load(tmp / "dedup"))
        urls = sorted(d.url for d in await discover_urls(run))
        counters = await crawl_batch(run, urls, 0)
    rows = staged_rows(run.staging, "article_versions")
    return urls, counters, {r["url"]: r for r in rows}


async def test_pages_parsed_in_workers_give_the_rows_of_pages_parsed_here(tmp_path, monkeypatch):
    monkeypatch.setattr(parsejob, "_STALE_CODE", set())   # (earlier tests that patch extractors fill it)
    srv = start_replay(seed=5, per_site=30, knobs=STILL_TICKER)
    pool = ParsePool(1)
    try:
        urls, counters, pooled = await _crawl(tmp_path / "pool", srv, pool, monkeypatch)
        assert pool.pids(), "the pages did not go to a worker"
        _, _, here = await _crawl(tmp_path / "here", srv, ParsePool(0), monkeypatch)
    finally:
        pool.shutdown()
        srv.stop()
    assert counters["extracted"] == len(urls) == len(pooled) > 20
    assert not parsejob._STALE_CODE, "the workers' extractor code differed: pages were parsed here"
    keep = ("content_hash", "url", "title", "body", "story_id", "duplicate_of", "quality", "ticker", "published_at")
    assert {u: {k: r.get(k) for k in keep} for u, r in pooled.items()} == \
           {u: {k: r.get(k) for k in keep} for u, r in here.items()}


async def test_jobs_dropped_by_a_pool_stop_are_parsed_here(tmp_path, monkeypatch):
    """A pool that stops (another page over budget, a worker exit) cancels its queued jobs; their
    pages are parsed in the crawl process, never surfacing as a cancelled batch."""
    monkeypatch.setattr(parsejob, "_STALE_CODE", set())

    class DroppingPool(ParsePool):
        """Every other job (a page, or the pages of one loop iteration) comes back cancelled, as
        ProcessPoolExecutor.shutdown(cancel_futures=True) leaves the queued ones."""
        submitted = dropped = 0

        def submit(self, fn, *args):
            job = super().submit(fn, *args)
            self.submitted += 1
            if job is not None and self.submitted % 2 == 0:
                cancelled = concurrent.futures.Future()
                cancelled.cancel()
                job = parsepool.PoolJob(cancelled, self, self.generation, job.spec_code)
                self.dropped += len(args[0]) if fn is parsepool._call_each else 1   # pages, not jobs
            return job

    srv = start_replay(seed=5, per_site=30, knobs=STILL_TICKER)
    pool = DroppingPool(1)
    try:
        urls, counters, pooled = await _crawl(tmp_path / "pool", srv, pool, monkeypatch)
        _, _, here = await _crawl(tmp_path / "here", srv, ParsePool(0), monkeypatch)
    finally:
        pool.shutdown()
        srv.stop()
    assert pool.dropped > 10
    assert counters["extracted"] == len(urls) == len(pooled) > 20
    keep = ("content_hash", "url", "title", "body", "story_id", "duplicate_of", "ticker")
    assert {u: {k: r.get(k) for k in keep} for u, r in pooled.items()} == \
           {u: {k: r.get(k) for k in keep} for u, r in here.items()}


async def test_an_extractor_patched_in_the_crawl_process_is_not_parsed_by_stale_workers(tmp_path, monkeypatch):
    reuters = extractors.registry.get("reuters")
    real_parse = type(reuters).parse

    def patched(self, html, url):
        art = real_parse(self, html, url)
        art.title = "patched: " + (art.title or "")
        return art

    monkeypatch.setattr(type(reuters), "parse", patched)
    monkeypatch.setattr(parsejob, "_STALE_CODE", set())
    srv = start_replay(seed=5, per_site=10)
    pool = ParsePool(1)
    try:
        urls, counters, rows = await _crawl(tmp_path, srv, pool, monkeypatch)
    finally:
        pool.shutdown()
        srv.stop()
    assert len(rows) == len(urls) > 3
    assert all(r["title"].startswith("patched: ") for r in rows.values())
    assert len(parsejob._STALE_CODE) == 1


async def test_the_crawl_goes_on_in_process_when_the_pool_cannot_start(tmp_path, monkeypatch, caplog):
    def no_processes(self):
        raise OSError("[Errno 38] Function not implemented: '/dev/shm'")

    monkeypatch.setattr(ParsePool, "_start", no_processes)
    pool = ParsePool(1)
    srv = start_replay(seed=5, per_site=12)
    try:
        with caplog.at_level(logging.INFO, logger="newsarchive.crawl"):
            urls, counters, rows = await _crawl(tmp_path, srv, pool, monkeypatch)
    finally:
        srv.stop()
    assert counters["extracted"] == len(urls) == len(rows) > 5
    lines = [r for r in caplog.records if "parse worker pool" in r.getMessage()]
    assert len(lines) == 1 and "/dev/shm" in lines[0].getMessage() and parsepool.ENV_WORKERS in lines[0].getMessage()
    assert pool.disabled is not None and pool.submit(len, "x") is None


def test_warm_starts_a_worker_before_the_first_page_and_is_a_no_op_after():
    pool = ParsePool(1)
    try:
        assert pool.pids() == []
        thread = pool.warm()
        thread.join(timeout=60)
        assert not thread.is_alive()
        deadline = time.monotonic() + 30
        while not pool.pids() and time.monotonic() < deadline:   # the no-op job brought one up
            time.sleep(0.01)
        started = pool.pids()
        assert len(started) == 1 and _running(started[0])
        assert pool.warm() is None                                 # already running
        assert pool.submit(sum, [1, 2]).future.result(timeout=30) == 3 and pool.pids() == started
    finally:
        pool.shutdown()
    assert ParsePool(0).warm() is None                             # NEWSARCHIVE_PARSE_WORKERS=0: nothing starts


def test_a_page_over_budget_kills_its_workers_and_later_pages_get_new_ones():
    pool = ParsePool(1)
    try:
        job = pool.submit(time.sleep, 120)
        deadline = time.monotonic() + 30
        while not pool.pids() and time.monotonic() < deadline:
            time.sleep(0.01)
        stuck = pool.pids()
        pool.broken(job.generation, "test: over budget", kill=True)
        assert all(_gone(pid) for pid in stuck)
        assert pool.submit(sum, [1, 2, 3]).future.result(timeout=30) == 6
        assert pool.restarts == 1 and pool.disabled is None
    finally:
        pool.shutdown()


# -- calls of one loop iteration sent as one job (ParsePool.submit_soon) -------------------------
class CountingPool(ParsePool):
    """Counts the jobs that reach the executor."""
    sent = 0

    def submit(self, fn, *args):
        self.sent += 1
        return super().submit(fn, *args)


async def test_calls_made_in_one_loop_iteration_go_to_a_worker_as_one_job_with_results_of_their_own():
    pool = CountingPool(1)
    try:
        jobs = [pool.submit_soon(sum, [i, 1]) for i in range(5)] + [pool.submit_soon(int, "not a number")]
        assert pool.sent == 0                      # sent once the calls queued in this iteration have run
        results = [await asyncio.wrap_future(j.future) for j in jobs[:5]]
        with pytest.raises(ValueError, match="not a number"):
            await asyncio.wrap_future(jobs[5].future)
        assert results == [1, 2, 3, 4, 5] and pool.sent == 1
        assert {id(j.batch) for j in jobs} == {id(jobs[0].batch)} and jobs[0].batch.size == 6

        many = [pool.submit_soon(abs, -i) for i in range(40)]     # at most MAX_BATCH calls per job
        assert [await asyncio.wrap_future(j.future) for j in many] == list(range(40))
        assert pool.sent == 1 + 3 and sorted(b.size for b in {id(j.batch): j.batch for j in many}.values()) \
            == [8, parsepool.MAX_BATCH, parsepool.MAX_BATCH]

        dropped = pool.submit_soon(abs, -1)        # abandoned before it was sent: never sent
        pool.abandon([dropped])
        await asyncio.sleep(0)
        assert dropped.future.cancelled() and pool.sent == 4
    finally:
        pool.shutdown()


async def test_a_stuck_page_sent_with_others_fails_alone_and_the_others_are_parsed_by_new_workers(monkeypatch):
    """A job of several pages over budget does not say which page is stuck: its workers are killed
    (not counted as a restart), each page goes again alone, and only the stuck one is failed
    extract_timeout; none of them is parsed in the crawl process."""
    from types import SimpleNamespace
    from collections import Counter
    from crawl.fetch import FetchResult

    parsed_here: list[str] = []

    async def parse_here(run, r):
        parsed_here.append(r.url)
        return None

    monkeypatch.setattr(parsejob, "apply_parsed", lambda run, r, parsed: parsed)
    monkeypatch.setattr(parsejob, "extract_page_off_loop", parse_here)
    errors: list[str] = []
    run = SimpleNamespace(extract_budget_s=1.0, site=SimpleNamespace(name="test"), counters=Counter(),
                          note_error=lambda kind, message: errors.append(message))
    pages = [FetchResult(f"https://example.test/{n}", f"https://example.test/{n}", "test", "fetched") for n in "abc"]
    pool = ParsePool(1)
    try:
        # tuple(["a", None]) is a worker's (parsed, facts); time.sleep(120) a page that never ends.
        jobs = [pool.submit_soon(tuple, ["a", None]), pool.submit_soon(time.sleep, 120),
                pool.submit_soon(tuple, ["c", None])]
        started = time.monotonic()
        results = [await parsejob.extract_in_pool(run, r, job) for r, job in zip(pages, jobs)]
        took = time.monotonic() - started
        assert jobs[0].batch.size == 3 and jobs[0].batch.suspect
    finally:
        pool.shutdown()
    assert results == [("a", None), (None, None), ("c", None)]
    assert run.counters["failed:extract_timeout"] == 1 and pages[1].error_kind == "extract_timeout"
    assert pages[0].outcome == pages[2].outcome == "fetched"
    assert len(errors) == 1 and errors[0].startswith("test: https://example.test/b not stored")
    assert parsed_here == [] and pool.restarts == 1 and pool.disabled is None
    assert took < 30, f"two budgets of 1 s and two worker starts took {took:.1f}s"


async def test_abandoning_a_running_batch_kills_its_worker():
    pool = ParsePool(1)
    try:
        job = pool.submit_soon(time.sleep, 120)
        await asyncio.sleep(0)
        deadline = time.monotonic() + 30
        while not (job.batch and job.batch.future.running()) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        stuck = pool.pids()
        assert stuck and job.batch.future.running()
        pool.abandon([job])
        assert all(_gone(pid) for pid in stuck) and job.future.cancelled()
        assert pool.submit(sum, [2, 2]).future.result(timeout=30) == 4 and pool.restarts == 0
    finally:
        pool.shutdown()


# -- no orphans ---------------------------------------------------------------------------
CRAWLER = textwrap.dedent("""
    import asyncio, json, os, sys, tempfile, time
    from pathlib import Path
    sys.path[:0] = [{root!r}, {tests!r}]
    import extractors
    from crawl.fetch import Fetcher
    from crawl.parsepool import shared_pool
    from crawl.pipeline import SiteRun, crawl_batch, discover_urls
    from crawl.plan import replay_host_map
    from pipeline_helpers import config, no_sleep
    from replay import start_replay
    from storage.staging import Staging
    from storage.state import CrawlState

    async def main(mode):
        cfg = config()
        srv = start_replay(seed=3, per_site=60)
        async with Fetcher(cfg, host_map=replay_host_map(cfg, srv.url), sleep=no_sleep) as fetcher:
            site = cfg.site("reuters")
            run = SiteRun(site=site, run_id="r1", fetcher=fetcher, extractor=extractors.registry.get("reuters"),
                          staging=Staging(Path(tempfile.mkdtemp()) / "staging", "r1"), state=CrawlState())
            urls = [d.url for d in await discover_urls(run)]
            task = asyncio.create_task(crawl_batch(run, urls, 0))
            deadline = time.monotonic() + 60
            while not shared_pool().pids() or fetcher.stats["fetched"] < 5:
                assert time.monotonic() < deadline and not task.done()
                await asyncio.sleep(0.01)
            busy = shared_pool().submit(time.sleep, 120)      # a worker busy for longer than the test
            print(json.dumps(shared_pool().pids()), flush=True)
            if mode == "cancel":
                sys.stdin.readline()           # the test has noted this process's children
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
                shared_pool().abandon([busy])
                print("cancelled", flush=True)
                return
            await asyncio.sleep(3600)

    if __name__ == "__main__":         # workers import this module again (forkserver, as spawn)
        asyncio.run(main(sys.argv[1]))
""")


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process now (not exited, not a zombie)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _gone(pid: int, timeout: float = 15.0) -> bool:
    """Whether ``pid`` exits (or is a zombie waiting to be reaped) within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def _start_crawler(tmp_path: Path, mode: str):
    script = tmp_path / "crawler.py"
    script.write_text(CRAWLER.format(root=str(ROOT), tests=str(ROOT / "tests")), "utf-8")
    proc = subprocess.Popen([sys.executable, str(script), mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "NEWSARCHIVE_PARSE_WORKERS": "1"})
    line = proc.stdout.readline()
    assert line, f"the crawler exited early ({proc.wait()})"
    workers = json.loads(line)
    family = _descendants(proc.pid)
    assert workers and set(workers) <= family
    return proc, family


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_no_process_outlives_a_killed_crawl(tmp_path, sig):
    proc, family = _start_crawler(tmp_path, "wait")
    proc.send_signal(sig)
    assert proc.wait(timeout=30) == -sig
    left = [pid for pid in family if not _gone(pid)]
    assert not left, f"left running after {sig.name}: {left}"


def test_a_cancelled_crawl_exits_promptly_and_leaves_no_process(tmp_path):
    proc, family = _start_crawler(tmp_path, "cancel")
    started = time.monotonic()
    proc.stdin.write("go\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "cancelled"
    assert proc.wait(timeout=60) == 0
    assert time.monotonic() - started < 60      # not held by the worker sleeping 120 s
    left = [pid for pid in family if not _gone(pid)]
    assert not left, f"left running after the cancelled crawl exited: {left}"
