"""The run lifecycle (crawl/lifecycle.py) and the article steps (crawl/steps.py) without Prefect:
a run that dies is committed by the next one, and re-extracting a crawled page gives its record."""
from __future__ import annotations

import asyncio

from crawl.lifecycle import ArchiveRun
from crawl.reextract import reextract
from crawl.steps import ARTICLE_STEPS
from pipeline_helpers import config, crawl_once
from replay import start_replay
from storage.lake import Archive
from storage.sql import query

RECORD = ("SELECT url, version, content_hash, title, body, story_id, duplicate_of, ticker "
          "FROM article_versions ORDER BY url, version")


def test_steps_run_in_the_documented_order():
    assert [s.__name__ for s in ARTICLE_STEPS] == [
        "canonicalise", "keep_ticker_apart", "strip_ticker_lines", "strip_boilerplate", "hash_content",
        "version", "near_duplicate", "story"]


def test_reextracting_crawled_pages_gives_the_same_records(tmp_path):
    arch = Archive(tmp_path / "a")
    with start_replay(seed=11, per_site=40) as srv:
        asyncio.run(crawl_once(arch, srv, "crawl-1", dedup=True))
    before = query(arch, RECORD)[1]
    assert len(before) >= 80
    result, stats = reextract(arch, config(), ["almayadeen", "reuters"])
    for site, c in stats.items():
        assert c["pages"] >= 40, (site, c)
        assert c["unchanged"] == c["extracted"] == c["pages"], (site, c)
        assert c["new"] == c["changed"] == 0, (site, c)
    assert query(arch, RECORD)[1] == before, "re-extraction wrote no new version: the records are equal"
    assert set(result.timings) == {"open", "load_dedup", "extract", "commit", "save_dedup", "search_refresh"}


def test_a_run_that_dies_is_committed_by_the_next_one(tmp_path):
    arch = Archive(tmp_path / "a")
    row = {"run_id": "x", "site": "reuters", "kind": "article", "url": "https://www.reuters.com/a/",
           "final_url": "https://www.reuters.com/a/", "outcome": "failed", "status": 500}
    try:
        with ArchiveRun(arch, flow_label="test", sites=["reuters"], refresh_search=False) as dying:
            dying.staging.append_batch("reuters-00000", {"fetch_log": [{**row, "run_id": dying.run_id}]})
            raise KeyboardInterrupt   # killed mid-run, after one staged batch
    except KeyboardInterrupt:
        pass
    with ArchiveRun(arch, flow_label="test", sites=["reuters"], refresh_search=False) as nxt:
        assert nxt.recovered == [dying.run_id]
        done = nxt.commit({}, "completed")
    assert query(arch, "SELECT run_id, status FROM runs ORDER BY run_id")[1] == sorted(
        [(dying.run_id, "recovered"), (done.run_id, "completed")])
    assert query(arch, "SELECT count(*) FROM fetch_log")[1] == [(1,)]


def test_reextraction_decodes_an_archived_page_as_the_crawl_did(tmp_path):
    # A page served with a UTF-8 byte order mark: the crawl drops the mark when it decodes the
    # page (crawl/fetch.py decode_body); re-extraction reads the same bytes back from the WARC and
    # must hand the extractor the same text, or a re-extracted record could differ from the crawl's.
    from types import SimpleNamespace

    from crawl.fetch import decode_body
    from crawl.reextract import _archived_response
    from crawl.warc import WarcWriter
    arch = Archive(tmp_path / "a")
    arch.init()
    body = "\ufeff<html><body><h1>Título</h1><p>Café talks</p></body></html>".encode("utf-8")
    with WarcWriter(arch.warc_dir, prefix="t") as warc:
        ref = warc.write("https://news.example/a/1", status=200, body=body,
                         headers={"Content-Type": "text/html; charset=utf-8"})
    run = SimpleNamespace(site=SimpleNamespace(name="generic"))   # read only on an unreadable record
    r = _archived_response(arch, run, "https://news.example/a/1", None, ref)
    crawl_charset, crawl_text = decode_body(body, "text/html; charset=utf-8")
    assert (r.text, r.encoding) == (crawl_text, crawl_charset)
    assert r.text.startswith("<html>") and "Título" in r.text


def _uuid7(ms: int, rng) -> str:
    """A UUIDv7 as a Prefect server on Postgres gives flow runs: 48 bits of Unix ms first."""
    import uuid
    return str(uuid.UUID(int=(ms << 80) | (0x7 << 76) | (rng.getrandbits(12) << 64) | (0b10 << 62)
                         | rng.getrandbits(62)))


def test_two_flow_runs_created_together_get_two_runs(tmp_path):
    # Two deployments' runs of one schedule tick: UUIDv7 ids created in the same millisecond share
    # their first 8 digits. Each must get its own run id and staging (one failed on the other's
    # staging lock when run ids took the first 8).
    import random
    import time

    from crawl.lifecycle import new_run_id
    rng = random.Random(12)
    ms = int(time.time() * 1000)
    a, b = _uuid7(ms, rng), _uuid7(ms, rng)
    assert a[:8] == b[:8] and a != b
    assert new_run_id(a).split("-", 1)[1] != new_run_id(b).split("-", 1)[1]
    arch = Archive(tmp_path / "a")
    with ArchiveRun(arch, flow_label="t", sites=["reuters"], flow_run_id=a, refresh_search=False) as ra, \
            ArchiveRun(arch, flow_label="t", sites=["almayadeen"], flow_run_id=b, refresh_search=False) as rb:
        assert ra.run_id != rb.run_id and ra.staging.dir != rb.staging.dir
        ra.commit({}, "completed")
        rb.commit({}, "completed")
    assert sorted(r[0] for r in query(arch, "SELECT flow_run_id FROM runs")[1]) == sorted([a, b])
