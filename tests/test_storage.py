"""The archive on real DuckLake files: schema, one snapshot per commit, versions, recovery, read-only."""
from datetime import datetime, timedelta, timezone

from pathlib import Path

import pytest

from storage.commit import commit_staging, recover
from storage.lake import Archive, ArchiveError
from storage.schema import SCHEMA_VERSION
from storage.sql import QueryError, execute, query
from storage.staging import Staging
from storage.state import load_state

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


def article(url, body, h, seen=T0, site="ex"):
    return {"url": url, "site": site, "version": 0, "content_hash": h, "title": f"T {url}",
            "summary": None, "authors": ["A. Writer", "Recep Tayyip Erdoğan"], "source": None,
            "published_at": "2022-03-10T06:33:00+00:00", "modified_at": None, "section": "world",
            "tags": ["x"], "language": "en", "dateline": None, "body": body,
            "images": [{"url": "https://i/1.jpg", "caption": "cap"}], "credits": None, "related": [],
            "ticker": ["t1"], "extractor": "generic", "extractor_version": "1", "quality": [],
            "fetched_url": url, "seen_at": seen, "run_id": "r", "warc_file": "w.warc.gz",
            "warc_offset": 0, "warc_length": 10}


def fetch(url, run_id, outcome="fetched", etag='"e1"', h=None, at=T0):
    return {"run_id": run_id, "site": "ex", "kind": "article", "url": url, "final_url": url,
            "outcome": outcome, "status": 200 if outcome == "fetched" else 304, "error_kind": None,
            "error": None, "etag": etag, "last_modified": None, "content_hash": h, "fetched_at": at,
            "elapsed_ms": 1.5, "bytes": 100, "attempts": 1, "warc_file": None, "warc_offset": None,
            "warc_length": None}


def run_row(run_id):
    return {"run_id": run_id, "flow_run_id": None, "flow_name": "test", "sites": ["ex"],
            "started_at": T0, "finished_at": T0, "status": "completed", "newsarchive_version": "t"}


def commit(arch, run_id, articles, fetches):
    st = Staging(arch.staging_dir, run_id)
    st.write_meta(run_row(run_id))
    st.append("article_versions", "ex-0", articles)
    st.append("fetch_log", "ex-0", fetches)
    con = arch.connect()
    try:
        return commit_staging(con, st, run_row(run_id), {"ex": {"fetched": len(fetches)}})
    finally:
        con.close()


@pytest.fixture
def arch(tmp_path):
    a = Archive(tmp_path / "archive")
    assert a.init() == SCHEMA_VERSION
    return a


def test_init_is_idempotent_and_extensions_stay_in_archive(arch, tmp_path):
    assert arch.init() == SCHEMA_VERSION
    cols, rows = query(arch, "SELECT version FROM schema_info ORDER BY version")
    assert rows == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
    cols, rows = query(arch, "SELECT current_setting('extension_directory')")
    assert rows[0][0].startswith(str(arch.root))


def test_concurrent_first_inits_in_several_processes_all_succeed_once(tmp_path):
    """Backfill chunks starting together on several workers all init a fresh archive: each
    process succeeds and every migration is applied exactly once."""
    import subprocess
    import sys
    root = tmp_path / "fresh"
    code = "import sys; from storage.lake import Archive; print(Archive(sys.argv[1]).init())"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(root)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err[-2000:] for _, err in results]
    assert [out.strip() for out, _ in results] == [str(SCHEMA_VERSION)] * 4
    _, rows = query(Archive(root), "SELECT version FROM schema_info ORDER BY version")
    assert rows == [(v,) for v in range(1, SCHEMA_VERSION + 1)]


def test_missing_archive_error_names_path_and_fix(tmp_path):
    with pytest.raises(ArchiveError, match=r"no archive at .*nowhere.*run `newsarchive run` first"):
        Archive(tmp_path / "nowhere").connect(read_only=True)


def test_each_commit_is_one_snapshot_and_unchanged_content_adds_no_rows(arch):
    s1 = commit(arch, "r1", [article("https://e/1", "one", "h1"), article("https://e/2", "two", "h2")],
                [fetch("https://e/1", "r1", h="h1"), fetch("https://e/2", "r1", h="h2")])
    # Re-crawl: same hashes -> no article rows, fetch log still grows.
    s2 = commit(arch, "r2", [article("https://e/1", "one", "h1", seen=T0 + timedelta(hours=1))],
                [fetch("https://e/1", "r2", h="h1", at=T0 + timedelta(hours=1)),
                 fetch("https://e/2", "r2", outcome="not_modified", at=T0 + timedelta(hours=1))])
    assert s2 == s1 + 1
    _, rows = query(arch, "SELECT count(*) FROM article_versions")
    assert rows == [(2,)]
    _, rows = query(arch, "SELECT count(*) FROM fetch_log")
    assert rows == [(4,)]
    _, rows = query(arch, f"SELECT count(*) FROM article_versions AT (VERSION => {s1})")
    assert rows == [(2,)]
    _, rows = query(arch, f"SELECT commit_message, commit_extra_info FROM lake.snapshots() WHERE snapshot_id = {s2}")
    assert rows[0][0] == "test r2" and '"run_id": "r2"' in rows[0][1]
    assert not (arch.staging_dir / "r2").exists()


def test_changed_content_is_a_new_version_and_articles_shows_latest(arch):
    commit(arch, "r1", [article("https://e/1", "old body", "h1")], [fetch("https://e/1", "r1")])
    commit(arch, "r2", [article("https://e/1", "new body", "h9", seen=T0 + timedelta(days=1))],
           [fetch("https://e/1", "r2")])
    _, rows = query(arch, "SELECT url, version, body, authors, published_at FROM articles")
    assert len(rows) == 1
    url, version, body, authors, published = rows[0]
    assert (version, body) == (2, "new body")
    assert authors == ["A. Writer", "Recep Tayyip Erdoğan"]
    assert published == datetime(2022, 3, 10, 6, 33, tzinfo=timezone.utc)
    _, rows = query(arch, "SELECT version, changed FROM article_versions ORDER BY version")
    assert rows == [(1, []), (2, ["body"])]
    _, rows = query(arch, "SELECT typeof(published_at), typeof(authors), typeof(body) FROM articles")
    assert rows == [("TIMESTAMP WITH TIME ZONE", "VARCHAR[]", "VARCHAR")]


def test_state_comes_back_from_the_archive(arch):
    commit(arch, "r1", [article("https://e/1", "one", "h1")], [fetch("https://e/1", "r1", etag='"abc"', h="h1")])
    con = arch.connect(read_only=True)
    try:
        state = load_state(con, ["ex"])
    finally:
        con.close()
    assert state.validators == {"https://e/1": ('"abc"', None)}
    assert state.hashes == {"https://e/1": "h1"}


def test_state_loads_only_the_urls_asked_for_and_covers_absent_ones(arch):
    commit(arch, "r1", [article("https://e/1", "one", "h1"), article("https://e/2", "two", "h2")],
           [fetch("https://e/1", "r1", etag='"a1"', h="h1"), fetch("https://e/2", "r1", etag='"a2"', h="h2")])
    con = arch.connect(read_only=True)
    try:
        state = load_state(con, ["ex"], ["https://e/2", "https://e/new"])
    finally:
        con.close()
    assert state.validators == {"https://e/2": ('"a2"', None)}
    assert state.hashes == {"https://e/2": "h2"}
    assert state.fetched_hashes == {"https://e/2": "h2"}
    # Asked-for URLs are covered whether the archive has them or not; others are not.
    assert state.covers("https://e/new") and state.covers("https://e/2")
    assert not state.covers("https://e/1")


def test_state_of_many_urls_and_of_a_url_with_a_newline(arch):
    # The URLs asked for go to DuckDB as one newline-joined string (a list parameter costs
    # ~0.13 ms per URL); a URL holding a newline takes the list path and is still found.
    odd = "https://e/odd\npath"
    commit(arch, "r1", [article("https://e/1", "one", "h1"), article(odd, "odd", "h3")],
           [fetch("https://e/1", "r1", etag='"a1"', h="h1"), fetch(odd, "r1", etag='"a3"', h="h3")])
    many = [f"https://e/x{i}" for i in range(3000)] + ["https://e/1"]
    con = arch.connect(read_only=True)
    try:
        state = load_state(con, ["ex"], many)
        with_odd = load_state(con, ["ex"], ["https://e/1", odd])
    finally:
        con.close()
    assert state.validators == {"https://e/1": ('"a1"', None)} and state.hashes == {"https://e/1": "h1"}
    assert state.covers("https://e/x2999") and not state.covers(odd)
    assert with_odd.validators == {"https://e/1": ('"a1"', None), odd: ('"a3"', None)}
    assert with_odd.hashes == {"https://e/1": "h1", odd: "h3"}
    con = arch.connect(read_only=True)
    try:
        none = load_state(con, ["ex"], [])
    finally:
        con.close()
    assert (none.validators, none.hashes, none.loaded) == ({}, {}, set())


def test_crashed_run_staging_is_recovered_by_the_next_run(arch):
    st = Staging(arch.staging_dir, "dead-run")
    st.write_meta(run_row("dead-run"))
    st.append("article_versions", "ex-0", [article("https://e/7", "seven", "h7")])
    st.append("fetch_log", "ex-0", [fetch("https://e/7", "dead-run")])
    con = arch.connect()
    try:
        assert recover(arch, con) == ["dead-run"]
        _, rows = execute(con, "SELECT status FROM runs WHERE run_id = 'dead-run'")
        assert rows == [("recovered",)]
        _, rows = execute(con, "SELECT url FROM articles")
        assert rows == [("https://e/7",)]
        assert recover(arch, con) == []
    finally:
        con.close()


def test_read_only_by_default_with_a_hint(arch):
    with pytest.raises(QueryError, match="read-only; add --write"):
        query(arch, "DELETE FROM runs")
    query(arch, "DELETE FROM runs", write=True)


def test_newer_schema_is_refused(arch):
    query(arch, "INSERT INTO schema_info VALUES (99, now())", write=True)
    with pytest.raises(ArchiveError, match="schema version 99, newer than this newsarchive"):
        arch.init()


def sighting(run_id, key, text, url, n=1, at=T0):
    return {"run_id": run_id, "site": "ex", "key": key, "text": text, "first_seen": at,
            "last_seen": at, "times_seen": n, "first_url": url}


def test_breaking_items_are_stored_once_with_first_and_last_seen(arch):
    later = T0 + timedelta(hours=2)
    for run_id, rows in (("r1", [sighting("r1", "k1", "Item one", "https://e/1", 3),
                                 sighting("r1", "k2", "Item two", "https://e/1")]),
                         ("r2", [sighting("r2", "k1", "ITEM ONE", "https://e/9", 2, later)])):
        st = Staging(arch.staging_dir, run_id)
        st.append("breaking_sightings", "ex", rows)
        con = arch.connect()
        commit_staging(con, st, run_row(run_id), {})
        con.close()
    _, rows = query(arch, "SELECT text, first_seen, last_seen, times_seen, first_url FROM breaking ORDER BY text")
    assert rows == [("Item one", T0, later, 5, "https://e/1"), ("Item two", T0, T0, 1, "https://e/1")]
    _, rows = query(arch, "SELECT count(*) FROM breaking_items")
    assert rows == [(2,)]


def test_near_duplicates_are_kept_but_not_in_articles(arch):
    dup = article("https://e/copy", "one", "hc")
    dup["duplicate_of"] = "https://e/1"
    commit(arch, "r1", [article("https://e/1", "one", "h1"), dup], [fetch("https://e/1", "r1")])
    _, rows = query(arch, "SELECT url FROM articles")
    assert rows == [("https://e/1",)]
    _, rows = query(arch, "SELECT url, duplicate_of FROM duplicates")
    assert rows == [("https://e/copy", "https://e/1")]
    # A revision of the copy stays a duplicate.
    dup2 = article("https://e/copy", "one, edited", "hc2", seen=T0 + timedelta(days=1))
    commit(arch, "r2", [dup2], [fetch("https://e/copy", "r2")])
    _, rows = query(arch, "SELECT version, duplicate_of FROM duplicates")
    assert rows == [(2, "https://e/1")]


def test_a_run_still_going_in_another_process_is_not_recovered(arch, tmp_path):
    import subprocess
    import sys
    import time
    st = Staging(arch.staging_dir, "live-run")
    st.write_meta(run_row("live-run"))
    st.append("fetch_log", "ex-0", [fetch("https://e/8", "live-run")])
    # Another process holds the run's lock, as a running flow does.
    holder = subprocess.Popen([sys.executable, "-c",
        "import sys, time; sys.path.insert(0, sys.argv[1]); from storage.staging import Staging; "
        "from pathlib import Path; s = Staging(Path(sys.argv[2]), 'live-run').hold(); print('held', flush=True); "
        "time.sleep(60)", str(Path(__file__).resolve().parents[1]), str(arch.staging_dir)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        con = arch.connect()
        try:
            assert recover(arch, con) == []
            assert st.is_alive()
        finally:
            con.close()
    finally:
        holder.kill()
        holder.wait()
    # Its process died: now the staged rows are committed.
    con = arch.connect()
    try:
        assert not st.is_alive()
        assert recover(arch, con) == ["live-run"]
    finally:
        con.close()


def test_concurrent_commits_all_land(arch):
    """Three writers committing at once (as runs on several workers do): every run lands."""
    import threading
    errors = []

    def writer(i):
        try:
            for j in range(4):
                rid = f"w{i}-{j}"
                commit(arch, rid, [article(f"https://e/{rid}", "body", rid)], [fetch(f"https://e/{rid}", rid)])
        except Exception as e:   # pragma: no cover - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert query(arch, "SELECT count(*) FROM runs")[1] == [(12,)]
    assert query(arch, "SELECT count(*), count(DISTINCT url) FROM articles")[1] == [(12, 12)]


def test_a_batch_is_staged_whole_or_not_at_all(arch):
    st = Staging(arch.staging_dir, "r1")
    st.append_batch("ex-00000", {"fetch_log": [fetch("https://e/1", "r1", h="h1")],
                                 "article_versions": [article("https://e/1", "one", "h1")]})
    # What a kill during the next batch's write leaves: a hidden temporary directory, never read.
    tmp = st.dir / "batches" / ".tmp-ex-00001-dead"
    tmp.mkdir()
    (tmp / "fetch_log.jsonl").write_text('{"url": "https://e/2", "etag": "\\"e2\\""}\n{"url": "htt')
    assert [p.parent.name for p in st.files("fetch_log")] == ["ex-00000"]
    # The same part staged twice (one append per table) keeps both.
    st.append("fetch_log", "ex-00000", [fetch("https://e/3", "r1")])
    assert len(st.files("fetch_log")) == 2 and len(st.files("article_versions")) == 1
    con = arch.connect()
    try:
        commit_staging(con, st, run_row("r1"), {})
    finally:
        con.close()
    assert query(arch, "SELECT url FROM fetch_log ORDER BY url")[1] == [("https://e/1",), ("https://e/3",)]
    assert not st.dir.exists()


def old_layout(arch, run_id, articles, fetches) -> Staging:
    """A staged run as versions before atomic batches wrote it: ``<table>/<part>.jsonl``."""
    import json
    st = Staging(arch.staging_dir, run_id)
    st.write_meta(run_row(run_id))
    for table, rows in (("fetch_log", fetches), ("article_versions", articles)):
        (st.dir / table).mkdir(parents=True)
        (st.dir / table / "ex-00001.jsonl").write_text(
            "".join(json.dumps(r, default=str) + "\n" for r in rows), "utf-8")
    return st


def test_state_hashes_are_the_articles_views_latest_versions_and_not_duplicates(arch):
    # load_state reads article_versions itself (binding the view cost ~0.1 s per query): what it
    # finds must be exactly the view's rows, old versions and duplicates left out.
    dup = dict(article("https://e/3", "two", "h2"), duplicate_of="https://e/2")
    commit(arch, "r1", [article("https://e/1", "one", "h1"), article("https://e/2", "two", "h2"), dup],
           [fetch(u, "r1", h=h) for u, h in (("https://e/1", "h1"), ("https://e/2", "h2"), ("https://e/3", "h2"))])
    commit(arch, "r2", [article("https://e/1", "one, changed", "h9", seen=T0 + timedelta(days=1)),
                        article("https://e/4", "four", "h4", site="other")],
           [fetch("https://e/1", "r2", h="h9", at=T0 + timedelta(days=1))])
    _, versions = query(arch, "SELECT url, version, duplicate_of FROM article_versions ORDER BY url, version")
    assert [(u, v) for u, v, _ in versions] == [("https://e/1", 1), ("https://e/1", 2), ("https://e/2", 1),
                                                ("https://e/3", 1), ("https://e/4", 1)]
    assert versions[3][2] == "https://e/2"
    urls = ["https://e/1", "https://e/2", "https://e/3", "https://e/4", "https://e/absent"]
    _, view = query(arch, "SELECT url, content_hash FROM articles WHERE site = 'ex'")
    con = arch.connect(read_only=True)
    try:
        some, every = load_state(con, ["ex"], urls), load_state(con, ["ex"])
    finally:
        con.close()
    assert some.hashes == every.hashes == dict(view) == {"https://e/1": "h9", "https://e/2": "h2"}


def test_a_torn_line_is_dropped_with_a_warning_and_its_validators_not_kept(arch, caplog):
    """The reported failure: a kill mid-append tore the last article line; every later run then
    failed with `Malformed JSON`, and the page's ETag (staged before it) made it 304 for ever."""
    st = old_layout(arch, "dead", [article("https://e/1", "one", "h1"), article("https://e/2", "two", "h2")],
                    [fetch("https://e/1", "dead", etag='"a1"', h="h1"), fetch("https://e/2", "dead", etag='"a2"', h="h2")])
    path = st.dir / "article_versions" / "ex-00001.jsonl"
    text = path.read_text("utf-8")
    path.write_text(text[: len(text) - 200], "utf-8")        # the second line cut short
    con = arch.connect()
    try:
        with caplog.at_level("WARNING", logger="newsarchive"):
            assert recover(arch, con) == ["dead"]
    finally:
        con.close()
    (msg,) = [r.getMessage() for r in caplog.records if "torn" in r.getMessage()]
    assert str(path) in msg and "line 2" in msg and "url https://e/2" in msg and "fetched again" in msg
    assert query(arch, "SELECT url FROM articles")[1] == [("https://e/1",)]
    _, rows = query(arch, "SELECT url, etag, content_hash FROM fetch_log ORDER BY url")
    assert rows == [("https://e/1", '"a1"', "h1"), ("https://e/2", None, None)]
    con = arch.connect(read_only=True)
    try:
        state = load_state(con, ["ex"], ["https://e/1", "https://e/2"])
    finally:
        con.close()
    assert state.validators == {"https://e/1": ('"a1"', None)}   # e/2 is fetched again, unconditionally


def test_validators_committed_without_their_article_by_older_versions_are_not_used(arch):
    commit(arch, "r1", [article("https://e/1", "one", "h1")], [fetch("https://e/1", "r1", etag='"a1"', h="h1")])
    # What the old recovery committed: the fetch row (with its ETag) of a page whose article was lost.
    execute_write = "INSERT INTO fetch_log (run_id, site, kind, url, final_url, outcome, etag, content_hash, " \
                    "fetched_at) VALUES ('r0', 'ex', 'article', 'https://e/lost', 'https://e/lost', 'fetched', " \
                    "'\"l1\"', 'hl', TIMESTAMPTZ '2026-11-01 12:00:00+00')"
    query(arch, execute_write, write=True)
    con = arch.connect(read_only=True)
    try:
        state = load_state(con, ["ex"])
    finally:
        con.close()
    assert state.validators == {"https://e/1": ('"a1"', None)}
    assert "https://e/lost" not in state.fetched_hashes


def test_a_staged_run_that_cannot_be_committed_is_quarantined_and_runs_go_on(arch, caplog):
    bad = Staging(arch.staging_dir, "bad-run")
    bad.write_meta(run_row("bad-run"))
    row = fetch("https://e/9", "bad-run")
    row["warc_offset"] = "not a number"
    bad.append("fetch_log", "ex-0", [row])
    good = Staging(arch.staging_dir, "good-run")
    good.write_meta(run_row("good-run"))
    good.append("article_versions", "ex-0", [article("https://e/7", "seven", "h7")])
    con = arch.connect()
    try:
        with caplog.at_level("WARNING", logger="newsarchive"):
            assert recover(arch, con) == ["good-run"]
        assert recover(arch, con) == []
    finally:
        con.close()
    assert (arch.staging_dir / "quarantine" / "bad-run" / "run.json").exists()
    (msg,) = [r.getMessage() for r in caplog.records if "quarantine" in r.getMessage()]
    assert msg.startswith("staged run bad-run cannot be committed") and "\n" not in msg


def test_a_torn_run_json_does_not_stop_recovery(arch):
    st = Staging(arch.staging_dir, "torn-meta")
    st.append("article_versions", "ex-0", [article("https://e/5", "five", "h5")])
    (st.dir / "run.json").write_text('{"run_id": "torn-me', "utf-8")
    con = arch.connect()
    try:
        assert recover(arch, con) == ["torn-meta"]
    finally:
        con.close()
    assert query(arch, "SELECT run_id, status FROM runs")[1] == [("torn-meta", "recovered")]
    # A recovered run's counters say what it wrote.
    assert query(arch, "SELECT counter, value FROM run_stats ORDER BY counter")[1] == [
        ("changed", 0), ("new", 1), ("stored", 1)]


def test_counters_say_what_was_written_when_another_run_committed_first(arch):
    """Two runs at once crawl the same pages; the second commits nothing new, and says so."""
    commit(arch, "first", [article("https://e/1", "one", "h1")], [fetch("https://e/1", "first", h="h1")])
    st = Staging(arch.staging_dir, "second")
    st.append_batch("ex-0", {"article_versions": [article("https://e/1", "one", "h1"), article("https://e/2", "two", "h2")],
                             "fetch_log": [fetch("https://e/1", "second", h="h1"), fetch("https://e/2", "second", h="h2")]})
    stats = {"ex": {"fetched": 2, "new": 2, "stored": 2}}
    con = arch.connect()
    try:
        commit_staging(con, st, run_row("second"), stats)
    finally:
        con.close()
    assert stats == {"ex": {"fetched": 2, "new": 1, "changed": 0, "stored": 1, "unchanged": 1}}
    _, rows = query(arch, "SELECT counter, value FROM run_stats WHERE run_id = 'second' ORDER BY counter")
    assert dict(rows) == stats["ex"]
    assert query(arch, "SELECT count(*) FROM article_versions")[1] == [(2,)]


def test_kill_point_kills_at_the_nth_time_only(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    code = ("import sys; from pathlib import Path; from storage.staging import Staging\n"
            "st = Staging(Path(sys.argv[1]), 'r')\n"
            "for i in range(3): st.append('fetch_log', f'p{i}', [{'url': f'u{i}'}, {'url': 'x'}])\n")
    env = {**os.environ, "NEWSARCHIVE_TEST_KILL_AT": "staging-mid-line:2"}
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    st = Staging(tmp_path, "r")
    assert [p.parent.name for p in st.files("fetch_log")] == ["p0"]
    assert st.files("fetch_log")[0].read_text().count("\n") == 2      # the first time: written whole
    (torn,) = (st.dir / "batches").glob(".tmp-p1-*/fetch_log.jsonl")  # the second: killed mid-line
    assert not torn.read_text().endswith("\n")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "b")], timeout=60)
    assert proc.returncode == 0 and len(Staging(tmp_path / "b", "r").files("fetch_log")) == 3


def test_staged_lines_hold_what_json_would_have_written():
    """Staged rows are written by orjson (storage/staging.py ``_json_line``): the values read back
    are json's for every kind of value a row holds, and what orjson refuses is written by json."""
    import json
    from datetime import date

    from storage.staging import _default, _json_line
    rows = [
        {"run_id": "r", "fetched_at": datetime(2026, 12, 7, 5, 1, 10, 41000, tzinfo=timezone.utc),
         "naive": datetime(2026, 1, 1), "day": date(2026, 2, 3), "ms": 12.5, "tiny": 1e-7, "big": 1e300,
         "none": None, "ok": True, "n": -3, "tags": ("a", "b"), "uniq": {"x"},
         "tz": datetime(2026, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=5, minutes=30))),
         "body": "caf\u00e9 \u201cquoted\u201d\n\n\u0627\u0644\u0645\u064a\u0627\u062f\u064a\u0646 \u2028 \\ \"", "emoji": "\U0001f600"},
        {"huge": 2 ** 70, "keys": {1: "int key"}},     # orjson refuses both: json writes the line
    ]
    for row in rows:
        line = _json_line(row)
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        assert json.loads(line) == json.loads(json.dumps(row, default=_default, ensure_ascii=False))
