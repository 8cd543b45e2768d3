"""Full-text search: derived index file, incremental refresh by snapshot, BM25 hits with snippets."""
import random
from datetime import date, timedelta

import pytest
from click.testing import CliRunner

import storage.search as search_mod
from archive_builders import article, build_news_archive, commit_run
from storage.compact import compact
from storage.lake import Archive
from storage.search import SearchError, index_path, refresh_index, search, snippet
from test_archive_snapshots import group


@pytest.fixture
def news(tmp_path):
    return build_news_archive(tmp_path / "archive")


def urls(hits):
    return [h.url for h in hits]


def test_no_index_yet_says_how_to_build_it(news):
    arch, _ = news
    with pytest.raises(SearchError, match=r"no search index at .*search\.duckdb; run `newsarchive search --refresh`"):
        search(arch, "lavrov")


def test_bm25_over_title_and_body_with_snippets_and_filters(news):
    arch, (s1, s2) = news
    report = refresh_index(arch)
    assert (report.mode, report.snapshot_id, report.indexed) == ("full", s2, 6)
    assert index_path(arch).exists()
    hits = search(arch, "lavrov kuleba")
    assert set(urls(hits)) == {"https://reuters.example/0", "https://almayadeen.example/2"}
    top = hits[0]
    assert top.score >= hits[1].score > 0
    assert "Lavrov" in top.snippet and top.published_at.year == 2022 and top.site in ("reuters", "almayadeen")
    assert urls(search(arch, "kuleba", site="almayadeen")) == ["https://almayadeen.example/2"]
    assert urls(search(arch, "kuleba", date_to="2022-03-10")) == ["https://reuters.example/0"]
    assert urls(search(arch, "kuleba", date_from=date(2022, 3, 11), date_to="2022-03-11")) == ["https://almayadeen.example/2"]
    assert len(search(arch, "minister", limit=1)) == 1
    assert urls(search(arch, "erdogan")) == ["https://almayadeen.example/3"]   # accents folded: Erdoğan
    assert urls(search(arch, "sanction")) == ["https://reuters.example/1"]     # stemmed: sanctions
    assert search(arch, "zeppelin") == []


def test_incremental_refresh_indexes_only_changed_articles(news):
    arch, (s1, s2) = news
    refresh_index(arch)
    assert refresh_index(arch).mode == "up-to-date"
    s3 = commit_run(arch, "run-3", [
        article("https://reuters.example/0", title="Lavrov meets Kuleba in Antalya",
                body="Rewritten: the ministers met in Turkey.", seen=search_mod.datetime(2026, 11, 3, tzinfo=search_mod.timezone.utc)),
        article("https://reuters.example/50", title="Zeppelin returns", body="An airship flew over Berlin.")])
    report = refresh_index(arch)
    assert (report.mode, report.previous_snapshot, report.snapshot_id, report.indexed) == ("incremental", s2, s3, 2)
    assert urls(search(arch, "zeppelin")) == ["https://reuters.example/50"]
    assert search(arch, "ceasefire") == []           # only in the replaced version of article 0
    assert urls(search(arch, "rewritten")) == ["https://reuters.example/0"]
    assert len(search(arch, "antalya")) == 1          # no duplicate hit from the older segment


def test_a_run_that_changed_no_article_refreshes_the_index_too(news):
    """A scheduled run that finds nothing new commits a snapshot (its run row, its fetch log) with
    no article in the change feed: the refresh moves the index to it, with nothing to index, and
    search still answers (it once failed: fts's tables made and dropped in one transaction)."""
    arch, (s1, s2) = news
    refresh_index(arch)
    s3 = commit_run(arch, "run-nothing-new", [])
    report = refresh_index(arch)
    assert (report.mode, report.previous_snapshot, report.snapshot_id, report.indexed) == ("incremental", s2, s3, 0)
    assert refresh_index(arch).mode == "up-to-date"
    assert set(urls(search(arch, "lavrov kuleba"))) == {"https://reuters.example/0", "https://almayadeen.example/2"}


def test_segments_merge_and_compaction_forces_a_rebuild(news, monkeypatch):
    arch, _ = news
    monkeypatch.setattr(search_mod, "MAX_SEGMENTS", 2)
    refresh_index(arch)
    for i in range(3):
        commit_run(arch, f"extra-{i}", [article(f"https://reuters.example/x{i}", title=f"Extra {i}", body="Kuleba spoke.")])
        report = refresh_index(arch)
        assert report.segments <= 2
    assert len(search(arch, "kuleba", limit=50)) == 5
    compact(arch, keep_days=None, keep_last=1, grace=timedelta(0))
    commit_run(arch, "after-compact", [article("https://reuters.example/y", title="After", body="Kuleba again.")])
    report = refresh_index(arch)
    assert report.mode in ("incremental", "full")
    assert len(search(arch, "kuleba", limit=50)) == 6
    assert refresh_index(arch, full=True).segments == 1


def test_snippet_is_a_window_around_the_first_match():
    body = "Intro words. " * 30 + "Then Lavrov spoke at length about the talks. " + "Tail. " * 30
    s = snippet(body, ["lavrov"], width=80)
    assert "Lavrov spoke" in s and s.startswith("…") and s.endswith("…") and len(s) <= 82
    assert snippet("Short body", ["nothing"]) == "Short body"


def test_bad_queries_are_one_line_errors(news):
    arch, _ = news
    refresh_index(arch)
    with pytest.raises(SearchError, match="empty search query"):
        search(arch, "  ")
    with pytest.raises(SearchError, match="--from/--to: .*use YYYY-MM-DD"):
        search(arch, "kuleba", date_from="March")


def test_cli_search(news):
    arch, _ = news
    runner = CliRunner()
    missing = runner.invoke(group(), ["--archive", str(arch.root), "search", "lavrov"])
    assert missing.exit_code == 2 and "run `newsarchive search --refresh`" in missing.output
    out = runner.invoke(group(), ["--archive", str(arch.root), "search", "--refresh", "lavrov kuleba", "--limit", "5"])
    assert out.exit_code == 0, out.output
    assert "| site " in out.output and "| snippet" in out.output and "https://reuters.example/0" in out.output
    assert "2022-03-10" in out.output and "(2 rows)" in out.output
    none = runner.invoke(group(), ["--archive", str(arch.root), "search"])
    assert none.exit_code == 2 and "no query" in none.output


def _match_bm25_top(arch, query, limit=10):
    """Reference ranking: fts's own match_bm25 over every segment (what search did before)."""
    con = search_mod._open_index(arch)
    try:
        parts = [f"""SELECT url, score FROM (SELECT url, fts_main_{seg}.match_bm25(url, '{query}',
                     fields := 'title,body') AS score FROM {seg}) WHERE score IS NOT NULL"""
                 for seg in search_mod._segments(con, db="search")]
        return con.execute(" UNION ALL ".join(parts) + " QUALIFY row_number() OVER (PARTITION BY url "
                           f"ORDER BY score DESC) = 1 ORDER BY score DESC, url LIMIT {limit}").fetchall()
    finally:
        con.close()


def test_ranking_is_fts_match_bm25s_over_sorted_postings(tmp_path):
    arch = Archive(tmp_path / "archive")
    arch.init()
    rng = random.Random(5)
    vocab = ["minister", "talks", "ceasefire", "sanctions", "oil", "summit", "Erdoğan", "market", "rates",
             "grain", "deal", "troops", "border", "election", "votes", "Lavrov", "Kuleba", "Antalya"]

    def text(n):
        return " ".join(rng.choice(vocab) for _ in range(n))
    commit_run(arch, "run-1", [article(f"https://reuters.example/{i}", title=text(5), body=text(rng.randint(5, 80)),
                                       site=rng.choice(["reuters", "almayadeen"])) for i in range(120)])
    refresh_index(arch)
    # A second segment that also replaces articles of the first (deleted rows there).
    commit_run(arch, "run-2", [article(f"https://reuters.example/{i}", title=text(5), body=text(30))
                               for i in range(0, 200, 7)])
    assert refresh_index(arch).segments == 2
    for query in ("lavrov kuleba", "Erdogan talks", "sanctioned ministers", "grain deals border"):
        expected = _match_bm25_top(arch, query)
        got = search(arch, query, limit=10)
        assert len(got) == len(expected) == 10
        assert [(h.url, round(h.score, 9)) for h in got] == [(u, round(s, 9)) for u, s in expected], query
    # What the speed relies on: each segment's postings sorted by term, and an index on url.
    con = search_mod._open_index(arch)
    try:
        for seg in search_mod._segments(con, db="search"):
            termids = [r[0] for r in con.execute(f"SELECT termid FROM fts_main_{seg}.terms").fetchall()]
            assert termids == sorted(termids)
        assert con.execute("SELECT count(*) FROM duckdb_indexes() WHERE index_name LIKE 'seg%url'").fetchone()[0] == 2
    finally:
        con.close()


def test_segment_index_tables_are_fts_create_fts_indexs_own(tmp_path):
    # storage.search writes a segment's fts tables itself (one grouped pass instead of fts's
    # correlated UPDATEs); what search reads must be what fts would have written for the rows.
    import duckdb
    con = duckdb.connect(config=search_mod.EXTENSION_CONFIG)
    search_mod._load_fts(con)
    con.execute(f"ATTACH '{tmp_path / 'index.duckdb'}' AS search ({search_mod.ATTACH_OPTIONS})")
    con.execute("USE search")
    rng = random.Random(9)
    words = ["Erdoğan", "Café", "talks", "the", "and", "it's", "2024", "U.S.", "ceasefire", "naïve", "co-op",
             "Lavrov's", "running", "runs", "ran", "oil-price", "Ümit", "a", "", "—", "(Reuters)", "e-mail"]
    rows = [(f"https://e/{i}", rng.choice(["reuters", "almayadeen"]), None,
             None if i % 17 == 0 else " ".join(rng.choice(words) for _ in range(rng.randint(0, 8))),
             "" if i % 23 == 0 else " ".join(rng.choice(words) for _ in range(rng.randint(1, 120))))
            for i in range(5000)]       # more than two of the index's 2,048-row row groups
    import json
    (tmp_path / "src.jsonl").write_text("".join(json.dumps(dict(zip(search_mod.COLUMNS, r))) + "\n" for r in rows))
    con.execute(f"CREATE TABLE src AS SELECT * FROM read_json('{tmp_path / 'src.jsonl'}', columns = "
                "{url: 'VARCHAR', site: 'VARCHAR', published_at: 'TIMESTAMPTZ', title: 'VARCHAR', body: 'VARCHAR'})")
    assert con.execute("SELECT count(*), count(title) FROM src").fetchone() == (5000, 5000 - 295)
    con.execute("CREATE TABLE ref AS SELECT * FROM src")
    con.execute(f"PRAGMA create_fts_index('ref', 'url', 'title', 'body', {search_mod.FTS_OPTIONS})")
    name, n = search_mod._new_segment(con, "SELECT url, site, published_at, title, body FROM src")
    assert n == 5000

    def table(schema, sql):
        return sorted(con.execute(sql.format(f=schema)).fetchall(), key=repr)
    for sql in ("SELECT docid, name, len FROM {f}.docs",
                "SELECT term, df FROM {f}.dict",
                "SELECT t.docid, t.fieldid, d.term FROM {f}.terms t JOIN {f}.dict d USING (termid)",
                "SELECT num_docs, avgdl FROM {f}.stats",
                "SELECT fieldid, field FROM {f}.fields"):
        assert table(f"fts_main_{name}", sql) == table("fts_main_ref", sql), sql
    assert con.execute(f"SELECT count(*) FROM fts_main_{name}.terms").fetchone()[0] > 100_000
    # fts's own query macro reads the tables and scores as over fts's (summed in another order).
    q = "SELECT name, round({f}.match_bm25(name, 'erdogan cafe talks'), 9) AS s FROM {f}.docs WHERE s IS NOT NULL"
    assert table(f"fts_main_{name}", q) == table("fts_main_ref", q)
    assert not con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchone()[0]
