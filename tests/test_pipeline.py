"""The crawl pipeline without Prefect, against the real replay web and a real archive:
faults are counted and named, nothing already archived is lost, and a rerun completes the crawl."""
from __future__ import annotations

import httpx
import pytest

from crawl.warc import read_record
from pipeline_helpers import config, crawl_once
from replay import Knobs, start_replay
from storage.lake import Archive
from storage.sql import query


async def test_server_errors_are_counted_named_and_recovered_next_run(tmp_path):
    knobs = Knobs(fault_rate_500=0.25, fault_attempts=1000, fault_paths=["/news/", "/world/", "/business/"])
    with start_replay(seed=5, per_site=20, knobs=knobs) as srv:
        arch = Archive(tmp_path / "a")
        runs = await crawl_once(arch, srv, "r1")
        failed = {name: r.counters["failed:http_5xx"] for name, r in runs.items()}
        assert sum(failed.values()) > 0
        for name, r in runs.items():
            assert r.counters["fetched"] + r.counters["failed"] == r.counters["discovered"]
            for msg in r.example_failures.get("http_5xx", []):
                assert msg.startswith(f"{name}: https://") and "500" in msg
        _, rows = query(arch, "SELECT site, count(*) FROM fetch_log WHERE outcome = 'failed' AND kind = 'article' GROUP BY site")
        assert dict(rows) == {k: v for k, v in failed.items() if v}
        stored_first = query(arch, "SELECT count(*) FROM articles")[1][0][0]

        # The site recovers: the next run fetches what failed and keeps everything stored before.
        httpx.post(srv.url + "/__replay__/knobs", json={"fault_rate_500": 0.0})
        runs2 = await crawl_once(arch, srv, "r2")
        assert sum(r.counters["new"] for r in runs2.values()) == sum(failed.values())
        assert sum(r.counters.get("failed", 0) for r in runs2.values()) == 0
        total = query(arch, "SELECT count(*) FROM articles")[1][0][0]
        assert total == stored_first + sum(failed.values())
        assert total == sum(r.counters["discovered"] for r in runs2.values())


async def test_retry_after_429_then_success_and_raw_pages_are_in_warc(tmp_path):
    knobs = Knobs(fault_rate_429=1.0, fault_attempts=1, retry_after_s=3, fault_paths=["/news/politics/"])
    with start_replay(seed=6, per_site=12, knobs=knobs) as srv:
        arch = Archive(tmp_path / "a")
        runs = await crawl_once(arch, srv, "r1", sites=("almayadeen",), cfg=config(retries=2))
        c = runs["almayadeen"].counters
        assert c.get("failed", 0) == 0 and c["fetched"] == c["discovered"]
        assert runs["almayadeen"].fetcher.stats["retries"] >= 1
        _, rows = query(arch, "SELECT url, warc_file, warc_offset, warc_length FROM articles LIMIT 5")
        for url, wf, off, length in rows:
            rec_url, status, headers, body = read_record(arch.warc_dir, type("Ref", (), {
                "filename": wf, "offset": off, "length": length})())
            assert rec_url == url and status == 200 and b"<html" in body.lower()


async def test_ticker_stays_out_of_bodies_and_each_item_is_stored_once(tmp_path):
    clock = {"t": 1_000_000.0}
    from replay import Corpus, build_app
    from replay.server import LoopbackServer
    app = build_app(Corpus(seed=8, per_site=10), Knobs(ticker_period_s=60), clock=lambda: clock["t"])
    with LoopbackServer(app) as srv:
        arch = Archive(tmp_path / "a")
        await crawl_once(arch, srv, "r1", sites=("almayadeen",))
        clock["t"] += 600   # the ticker rotates between runs
        await crawl_once(arch, srv, "r2", sites=("almayadeen",), cfg=config())
    _, rows = query(arch, "SELECT body, ticker FROM article_versions")
    assert rows
    all_items = set()
    for body, ticker in rows:
        assert ticker, "the BREAKING items of the page are recorded"
        assert not any(item in body for item in ticker)
        all_items.update(ticker)
    _, rows = query(arch, "SELECT text, times_seen, first_seen <= last_seen FROM breaking")
    assert all_items <= {r[0] for r in rows}                 # every distinct item, once
    assert any(n > 1 for _, n, _ in rows)
    assert len(rows) == len({r[0] for r in rows}) and all(r[2] for r in rows)
    _, rows = query(arch, "SELECT count(*) FROM breaking_items")
    assert rows[0][0] == len(set(r[0] for r in query(arch, "SELECT text FROM breaking")[1]))
    _, rows = query(arch, "SELECT count(DISTINCT run_id) FROM breaking_sightings")
    assert rows == [(2,)], "home pages give ticker sightings on every run, even when articles are 304"


async def test_state_is_loaded_for_the_run_s_urls_and_canonical_urls_are_looked_up(tmp_path):
    """The run holds the state of the URLs it fetches only; a page fetched under a tracking-parameter
    URL is recognised under its canonical URL (looked up after the batch), so it is not stored twice."""
    from crawl.pipeline import SiteRun, crawl_batch, load_known
    from crawl.fetch import Fetcher
    from crawl.plan import replay_host_map
    from storage.staging import Staging
    from storage.state import CrawlState, archive_state_loader
    from storage.commit import commit_staging
    from datetime import datetime, timezone
    import extractors
    from pipeline_helpers import no_sleep

    with start_replay(seed=9, per_site=10) as srv:
        arch = Archive(tmp_path / "a")
        first = await crawl_once(arch, srv, "r1", sites=("reuters",))
        n = first["reuters"].counters["new"]
        assert n >= 10
        url = query(arch, "SELECT url FROM articles ORDER BY url LIMIT 1")[1][0][0]
        asked: list[list[str]] = []
        loader = archive_state_loader(arch, ["reuters"])

        def spy(urls):
            asked.append(list(urls))
            return loader(urls)

        cfg = config()
        site = cfg.site("reuters")
        staging = Staging(arch.staging_dir, "r2")
        async with Fetcher(cfg, host_map=replay_host_map(cfg, srv.url), sleep=no_sleep) as fetcher:
            run = SiteRun(site=site, run_id="r2", fetcher=fetcher, staging=staging, state=CrawlState(loaded=set()),
                          extractor=extractors.registry.get(site.extractor), state_loader=spy)
            variant = url + "?utm_source=newsletter&utm_medium=email"
            await load_known(run, [variant])
            assert asked == [[variant]] and run.state.hashes == {}
            await crawl_batch(run, [variant], 0)
        assert asked[1] == [url]                  # the canonical URL, looked up once for the batch
        assert run.counters["unchanged"] == 1 and run.counters["new"] == 0
        assert len(run.state.hashes) == 1          # the run's URLs only, not the archive's
        con = arch.connect()
        now = datetime.now(timezone.utc)
        commit_staging(con, staging, {"run_id": "r2", "flow_name": "test", "sites": ["reuters"],
                                      "started_at": now, "finished_at": now, "status": "completed"},
                       {"reuters": run.counters})
        con.close()
        assert query(arch, "SELECT count(*) FROM article_versions")[1][0][0] == n


@pytest.mark.parametrize("parsed_in", ["workers", "crawl process"])
async def test_every_article_record_reads_back_as_served_and_warcio_checks_every_digest(tmp_path, monkeypatch,
                                                                                         parsed_in):
    """With parse workers or without, each article's fetch-log row names a WARC record of its URL
    holding the bytes the site served, and warcio reads every record of every file with its
    block and payload digests right."""
    from urllib.parse import urlsplit

    from warcio.archiveiterator import ArchiveIterator

    import crawl.pipeline
    if parsed_in == "crawl process":
        monkeypatch.setattr(crawl.pipeline, "job_spec", lambda run: None)
    # The ticker in every page rotates with the wall clock (60 s by default): a re-GET after the
    # next rotation would differ from what the crawl stored, so it stays put for this test.
    with start_replay(seed=7, per_site=12, knobs=Knobs(ticker_period_s=10**9)) as srv:
        arch = Archive(tmp_path / "a")
        runs = await crawl_once(arch, srv, "r1")
        _, rows = query(arch, "SELECT url, warc_file, warc_offset, warc_length FROM fetch_log "
                              "WHERE kind = 'article' AND outcome = 'fetched'")
        assert len(rows) == sum(r.counters["fetched"] for r in runs.values()) > 20
        with httpx.Client() as client:
            for url, wf, off, length in rows:
                ref = type("Ref", (), {"filename": wf, "offset": off, "length": length})()
                rec_url, status, _, body = read_record(arch.warc_dir, ref)
                served = client.get(srv.url + urlsplit(url).path, headers={"Host": urlsplit(url).hostname})
                assert (rec_url, status, body) == (url, 200, served.content)
    records = 0
    for path in sorted(arch.warc_dir.glob("*.warc.gz")):
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh, check_digests="raise"):
                record.content_stream().read()
                records += 1
    assert records >= 2 * len(rows)     # a response and a request record per article, and the rest
