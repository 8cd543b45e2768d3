"""Snapshots: listing (run, sites, rows added per table) and queries pinned with --at, on real archives."""
import json
import shutil

import pytest
from click.testing import CliRunner

from archive_builders import article, build_news_archive, commit_run
from flows.cli import cli
from flows.cli_archive import COMMANDS
from storage.compact import compact
from storage.lake import ArchiveError
from storage.snapshots import connect_at, list_snapshots, query_at
from storage.sql import query


def group():
    """The main CLI group: global --archive, the archive commands, `sql --at`, the one error catch."""
    return cli


@pytest.fixture
def news(tmp_path):
    return build_news_archive(tmp_path / "archive")


def test_one_snapshot_per_run_with_run_sites_and_rows_added(news):
    arch, (s1, s2) = news
    snaps = {s.snapshot_id: s for s in list_snapshots(arch)}
    first, second = snaps[s1], snaps[s2]
    assert (first.run_id, first.flow_run_id, first.sites) == ("run-1", "flow-1", ["almayadeen", "reuters"])
    assert first.message == "scrape run-1"
    # run_stats: each site's counter plus new/changed/stored, recounted from the rows the commit wrote
    assert first.rows_added == {"article_versions": 5, "fetch_log": 5, "run_stats": 8, "runs": 1}
    assert (second.run_id, second.sites) == ("run-2", ["reuters"])
    assert second.rows_added == {"article_versions": 2, "fetch_log": 2, "run_stats": 4, "runs": 1}
    # The catalog-based counts agree with DuckLake's change feed.
    _, rows = query(arch, f"SELECT count(*) FROM ducklake_table_insertions('lake', 'main', 'article_versions', {s2}, {s2})")
    assert rows == [(2,)]


def test_rows_added_survive_merged_files(news):
    arch, (s1, s2) = news
    before = {s.snapshot_id: s.rows_added for s in list_snapshots(arch)}
    report = compact(arch, keep_days=None, keep_last=None)  # merge only, expire nothing
    assert report.files_merged > 0
    after = {s.snapshot_id: s.rows_added for s in list_snapshots(arch)}
    assert after[s1] == before[s1] and after[s2] == before[s2]


def test_query_pinned_to_a_snapshot_resolves_views_there(news):
    arch, (s1, s2) = news
    assert query_at(arch, "SELECT count(*) FROM articles", s1)[1] == [(5,)]
    assert query_at(arch, "SELECT count(*) FROM articles", s2)[1] == [(6,)]
    _, rows = query_at(arch, "SELECT version, body FROM articles WHERE url = 'https://reuters.example/1'", s1)
    assert rows[0][0] == 1 and "volatility" not in rows[0][1]
    _, rows = query(arch, "SELECT version FROM articles WHERE url = 'https://reuters.example/1'")
    assert rows == [(2,)]
    # Plain DuckDB time travel on tables works too.
    assert query(arch, f"SELECT count(*) FROM article_versions AT (VERSION => {s1})")[1] == [(5,)]
    con = connect_at(arch, s1)
    try:
        with pytest.raises(Exception, match="read-only"):
            con.execute("DELETE FROM runs")
    finally:
        con.close()


def test_unknown_snapshot_names_the_valid_range(news):
    arch, (s1, s2) = news
    with pytest.raises(ArchiveError, match=rf"--at 99: no such snapshot in .*; valid: 0\.\.{s2} \(see `newsarchive snapshots`\)"):
        query_at(arch, "SELECT 1", 99)


def test_pinned_query_on_a_moved_archive(news, tmp_path):
    arch, (s1, _) = news
    moved = tmp_path / "moved"
    shutil.copytree(arch.root, moved)
    shutil.rmtree(arch.root)
    from storage.lake import Archive
    assert query_at(Archive(moved), "SELECT count(*) FROM articles", s1)[1] == [(5,)]


def test_cli_snapshots_and_sql_at(news):
    arch, (s1, s2) = news
    runner = CliRunner()
    out = runner.invoke(group(), ["--archive", str(arch.root), "snapshots"])
    assert out.exit_code == 0, out.output
    assert "run-1" in out.output and "article_versions 5" in out.output and "schema migration 1" in out.output
    out = runner.invoke(group(), ["--archive", str(arch.root), "snapshots", "--last", "1", "--format", "json"])
    data = json.loads(out.output)
    assert [d["snapshot"] for d in data] == [s2] and data[0]["rows_added"]["article_versions"] == 2
    out = runner.invoke(group(), ["--archive", str(arch.root), "sql", "--at", str(s1), "--format", "csv",
                                  "SELECT count(*) AS n FROM articles"])
    assert out.exit_code == 0 and out.output.splitlines() == ["n", "5"]
    out = runner.invoke(group(), ["--archive", str(arch.root), "sql", "--at", "42", "SELECT 1"])
    assert out.exit_code == 2 and f"Error: --at 42: no such snapshot" in out.output and f"valid: 0..{s2}" in out.output


def test_snapshots_help_has_an_example():
    for command in COMMANDS:
        out = CliRunner().invoke(group(), [command.name, "--help"])
        assert out.exit_code == 0 and "Example" in out.output and "newsarchive" in out.output


def test_missing_archive_is_one_line(tmp_path):
    out = CliRunner().invoke(group(), ["--archive", str(tmp_path / "none"), "snapshots"])
    assert out.exit_code == 2 and "no archive at" in out.output and "Traceback" not in out.output


def test_new_run_after_pinning_is_a_new_snapshot(news):
    arch, (s1, s2) = news
    s3 = commit_run(arch, "run-3", [article("https://reuters.example/7", title="Another")])
    assert s3 == s2 + 1
    assert query_at(arch, "SELECT count(*) FROM articles", s2)[1] == [(6,)]
    assert query_at(arch, "SELECT count(*) FROM articles", s3)[1] == [(7,)]
