"""A shared archive end to end: workers that share nothing but Postgres and an S3 bucket.

Real parts only: Postgres (Debian's package) holds the DuckLake catalog and the locks, moto's
S3 server (PyPI) the parquet data, WARC files, staged batches and indexes; a Prefect server
runs the flows; the replay web is the internet. Each worker is a `newsarchive` process with
its own HOME and cache directory ($NEWSARCHIVE_WORKDIR): what it keeps there is a cache.

The story of the main test, as an operator would live it:
1. worker A starts a run and is SIGKILLed after it has staged batches (in the bucket);
2. worker A (again) runs Reuters while worker B backfills Reuters over the whole window, at
   once; one of them commits A's dead run ("committed 1 staged run(s) left by a crashed
   process");
3. worker A crawls Al Mayadeen, whose syndicated stories are near-copies of Reuters ones
   that worker B stored: A finds them through the shared near-duplicate index;
4. a third host (C, empty cache) searches and queries: it finds both workers' articles,
   every article is stored once, every WARC reference reads back through S3, and no page
   fetched before the kill is lost; it re-extracts Reuters from the WARC objects (ranged GETs).
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from replay import Knobs, start_replay
from tests.services import BIN, postgres, prefect_server, s3_server, stop_group, wait_for

pytestmark = pytest.mark.slow

ARCHIVE = "s3://newsarchive/team-news"


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """Postgres + S3 + a Prefect server; yields the environment every worker starts from."""
    tmp = tmp_path_factory.mktemp("shared")
    with postgres() as pg, s3_server() as s3env, prefect_server(tmp) as api:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSARCHIVE_", "PREFECT_", "AWS_"))}
        env.update(s3env, NEWSARCHIVE_CATALOG=f"{pg}/prefect", NEWSARCHIVE_ARCHIVE=ARCHIVE,
                   PREFECT_API_URL=api, PREFECT_SERVER_ANALYTICS_ENABLED="false", PYTHONUNBUFFERED="1")
        yield tmp, env


def worker_env(shared_env: dict, tmp: Path, name: str) -> dict[str, str]:
    """A host of its own: HOME, cache and Prefect home not shared with any other worker."""
    home = tmp / f"host-{name}"
    home.mkdir(exist_ok=True)
    return {**shared_env, "HOME": str(home), "NEWSARCHIVE_WORKDIR": str(home / "cache"),
            "PREFECT_HOME": str(home / "prefect")}


def newsarchive(env: dict, *args: str, log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen([str(BIN / "newsarchive"), *args], env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def finish(proc: subprocess.Popen, log: Path, timeout: float = 600) -> str:
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_group(proc, signal.SIGKILL)
        raise AssertionError(f"{proc.args} still running after {timeout:.0f} s:\n{log.read_text()[-4000:]}")
    text = log.read_text(errors="replace")
    assert proc.returncode == 0, f"{proc.args} exited {proc.returncode}:\n{text[-6000:]}"
    return text


def s3_keys(env: dict, prefix: str) -> list[str]:
    import boto3
    client = boto3.session.Session().client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                                            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                                            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket="newsarchive", Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def test_two_workers_share_only_postgres_and_the_bucket(shared):
    tmp, base = shared
    a, b, c = (worker_env(base, tmp, n) for n in "abc")
    knobs = Knobs(syndicate_share=0.3)
    with start_replay(seed=11, per_site=60, knobs=knobs) as srv:
        common = ["--replay-url", srv.url, "--batch-size", "5"]

        # 1. A run killed after it staged batches: slow article pages so it is mid-run.
        httpx.post(f"{srv.url}/__replay__/knobs", json={"fault_rate_slow": 1.0, "slow_s": 0.3,
                                                        "fault_attempts": 1_000_000}).raise_for_status()
        killed = newsarchive(a, "run", "--site", "reuters", "--max-articles", "40", *common, log=tmp / "a-killed.log")
        def staged_two() -> bool:
            assert killed.poll() is None, (tmp / "a-killed.log").read_text()[-4000:]
            return len([k for k in s3_keys(base, "team-news/staging/") if re.search(r"/reuters-\d{5}\.tar$", k)]) >= 2
        wait_for(staged_two, 180, "worker A staged two batches of articles in the bucket", tmp / "a-killed.log")
        staged_before_kill = [k for k in s3_keys(base, "team-news/staging/") if "/batches/" in k]
        stop_group(killed, signal.SIGKILL)
        dead_run = staged_before_kill[0].split("/")[2]
        httpx.post(f"{srv.url}/__replay__/knobs", json={"fault_rate_slow": 0.0}).raise_for_status()
        httpx.post(f"{srv.url}/__replay__/reset").raise_for_status()

        # 2. At once: A runs Reuters (a few articles), B backfills Reuters over the whole window.
        run_a = newsarchive(a, "run", "--site", "reuters", "--max-articles", "8", *common, log=tmp / "a-run.log")
        fill_b = newsarchive(b, "backfill", "--site", "reuters", "--from", "2020-01-01", "--to", "2026-12-31",
                             "--chunk-days", "1000", *common, log=tmp / "b-backfill.log")
        out_a, out_b = finish(run_a, tmp / "a-run.log"), finish(fill_b, tmp / "b-backfill.log")
        assert "committed 1 staged run(s) left by a crashed process" in out_a + out_b
        # One politeness budget across hosts (crawl/hostgate.py PgHostGate): the sites allow 2
        # requests in flight per host, and two workers crawling Reuters at once kept to it.
        inflight = httpx.get(f"{srv.url}/__replay__/stats").json()["max_inflight_by_host"]
        assert inflight and max(inflight.values()) <= 2, inflight

        # 3. A crawls Al Mayadeen: syndicated copies of Reuters stories B stored.
        out_a2 = finish(newsarchive(a, "run", "--site", "almayadeen", *common, log=tmp / "a-alm.log"),
                        tmp / "a-alm.log")

    a_runs = set(re.findall(r"run (\S+) -> snapshot", out_a + out_a2))
    assert len(a_runs) == 2, out_a + out_a2

    # 4. Host C (an empty cache) reads the archive.
    def sql(statement: str) -> list[dict]:
        done = subprocess.run([str(BIN / "newsarchive"), "sql", "--format", "json", statement], env=c,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    assert sql("SELECT url FROM articles GROUP BY url HAVING count(*) > 1") == []
    assert sql("SELECT url, content_hash FROM article_versions GROUP BY ALL HAVING count(*) > 1") == []
    runs = {r["run_id"]: r["status"] for r in sql("SELECT run_id, status FROM runs")}
    assert runs.get(dead_run) == "recovered", runs
    b_runs = {r for r in runs if r not in a_runs and r != dead_run}
    assert b_runs, runs
    # Nothing fetched before the kill is lost: every article page it staged is in the archive.
    staged = {r["url"] for r in sql(f"SELECT url FROM fetch_log WHERE run_id = '{dead_run}' AND kind = 'article' "
                                    f"AND content_hash IS NOT NULL")}
    assert len(staged) >= 10, "the killed run's two staged batches of 5 pages were committed"
    stored = {r["url"] for r in sql("SELECT url FROM article_versions")} | \
             {r["fetched_url"] for r in sql("SELECT fetched_url FROM article_versions")}
    assert staged <= stored, staged - stored

    # Every WARC reference reads back through S3 (one ranged GET each), from host C.
    versions = sql("SELECT fetched_url, warc_file, warc_offset, warc_length FROM article_versions")
    with pytest.MonkeyPatch.context() as mp:
        for k, v in c.items():
            mp.setenv(k, v)
        from crawl.warc import WarcRef
        from crawl.warc_store import read_archived
        from storage.lake import Archive
        arch = Archive(ARCHIVE)
        for v in versions:
            url, status, _, body = read_archived(arch, WarcRef(v["warc_file"], v["warc_offset"], v["warc_length"]))
            assert url == v["fetched_url"] and status == 200 and body
    assert not any("/staging/" in k for k in s3_keys(base, "team-news/staging/")), "committed runs left staging"

    # Search on host C finds articles stored by both workers.
    for runs_of in (a_runs, b_runs):
        title = sql(f"SELECT title, url FROM articles WHERE run_id IN ({', '.join(repr(r) for r in runs_of)}) "
                    f"ORDER BY url LIMIT 1")[0]
        done = subprocess.run([str(BIN / "newsarchive"), "search", title["title"], "--format", "json", "--limit", "50"],
                              env=c, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert title["url"] in {h["url"] for h in json.loads(done.stdout)}, (title, done.stdout[:2000])

    # Near-duplicates across workers: A's Al Mayadeen copies of Reuters articles that B stored.
    cross = sql("SELECT d.url, o.run_id FROM duplicates d JOIN article_versions o ON o.url = d.duplicate_of "
                "WHERE d.site = 'almayadeen'")
    assert any(r["run_id"] in b_runs for r in cross), cross

    # Re-extraction on host C reads every raw page back from the bucket (one ranged GET each).
    done = subprocess.run([str(BIN / "newsarchive"), "reextract", "--site", "reuters"], env=c,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    pages = re.search(r"^pages\s+(\d+)", done.stdout, re.M)
    reuters = sql("SELECT count(*) AS n FROM article_versions WHERE site = 'reuters'")[0]["n"]
    assert pages and int(pages.group(1)) == reuters, done.stdout[-3000:]
    assert "warc_unreadable" not in done.stdout
