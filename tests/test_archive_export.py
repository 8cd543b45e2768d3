"""Export of a snapshot to standalone parquet/jsonl, read back with plain DuckDB (no DuckLake)."""
import json

import duckdb
import pytest
from click.testing import CliRunner

from archive_builders import build_news_archive
from storage.export import ExportError, export_snapshot
from storage.snapshots import query_at
from test_archive_snapshots import group

COLS = "url, site, version, title, body, tags, published_at"


@pytest.fixture(scope="module")
def news(tmp_path_factory):
    return build_news_archive(tmp_path_factory.mktemp("export") / "archive")


def lake_rows(arch, at, relation="articles"):
    return sorted(query_at(arch, f"SELECT {COLS} FROM {relation}", at)[1])


def test_parquet_export_of_an_older_snapshot_reads_back_without_ducklake(news, tmp_path):
    arch, (s1, s2) = news
    out = tmp_path / "snap"
    manifest = export_snapshot(arch, out, at=s1, fmt="parquet")
    con = duckdb.connect()  # plain DuckDB: no DuckLake, no archive
    rows = sorted(con.execute(f"SELECT {COLS} FROM read_parquet('{out}/articles/**/*.parquet', "
                              f"hive_partitioning = true)").fetchall())
    assert rows == lake_rows(arch, s1) and len(rows) == 5
    versions = con.execute(f"SELECT count(*) FROM read_parquet('{out}/article_versions/**/*.parquet')").fetchone()
    assert versions == (5,)
    assert (out / "articles" / "site=reuters" / "year=2022").is_dir()
    assert (out / "articles" / "site=almayadeen" / "year=2022").is_dir()
    assert len(list(out.glob("articles/**/*.parquet"))) == 2, "one file per site and year"
    # Partition values are also inside the files, so a single file is complete.
    one = next((out / "articles" / "site=reuters" / "year=2022").glob("*.parquet"))
    assert con.execute(f"SELECT DISTINCT site, year::VARCHAR FROM read_parquet('{one}')").fetchall() == [("reuters", "2022")]
    codecs = {r[0] for r in con.execute(
        f"SELECT DISTINCT compression FROM parquet_metadata('{out}/**/*.parquet')").fetchall()}
    assert codecs == {"ZSTD"}
    assert con.execute(f"SELECT count(*) FROM read_parquet('{out}/runs/*.parquet')").fetchone() == (1,)

    m = json.loads((out / "manifest.json").read_text())
    assert m["snapshot_id"] == s1 == manifest.snapshot_id
    assert m["format"] == "parquet" and m["compression"] == "zstd"
    assert m["schema_version"] >= 1 and m["newsarchive_version"]
    assert m["tables"]["articles"]["rows"] == 5 and m["tables"]["articles"]["partitioning"] == ["site", "year"]
    assert m["tables"]["runs"] == {**m["tables"]["runs"], "rows": 1, "partitioning": []}
    assert "schema_info" not in m["tables"]
    assert "hive_partitioning = true" in m["read_with"]


def test_latest_export_and_jsonl(news, tmp_path):
    arch, (s1, s2) = news
    out = tmp_path / "jsonl"
    m = export_snapshot(arch, out, fmt="jsonl")
    assert m.snapshot_id == s2 and m.tables["articles"].rows == 6 and m.tables["article_versions"].rows == 7
    con = duckdb.connect()
    rows = con.execute(f"SELECT url, site, version, year FROM read_json('{out}/articles/**/*.jsonl.gz', "
                       f"hive_partitioning = true) ORDER BY url").fetchall()
    expected = query_at(arch, "SELECT url, site, version, strftime(published_at, '%Y') FROM articles ORDER BY url", s2)[1]
    assert [(u, s, v, str(y)) for u, s, v, y in rows] == expected
    assert (out / "articles" / "site=reuters" / "year=2022" / "data_0.jsonl.gz").exists()
    assert json.loads((out / "manifest.json").read_text())["compression"] == "gzip"


def test_existing_directory_rules(news, tmp_path):
    arch, _ = news
    out = tmp_path / "snap"
    export_snapshot(arch, out)
    with pytest.raises(ExportError, match="is not empty; choose a new directory or add --overwrite"):
        export_snapshot(arch, out)
    export_snapshot(arch, out, overwrite=True, fmt="jsonl")
    assert json.loads((out / "manifest.json").read_text())["format"] == "jsonl"
    assert not list(out.glob("**/*.parquet"))  # the earlier export was replaced, not mixed
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(ExportError, match="holds no manifest.json .*--overwrite only replaces an earlier export"):
        export_snapshot(arch, other, overwrite=True)
    assert (other / "notes.txt").exists()
    assert not list(tmp_path.glob(".*partial*"))


def test_cli_export(news, tmp_path):
    arch, (s1, _) = news
    runner = CliRunner()
    out = runner.invoke(group(), ["--archive", str(arch.root), "export", "--at", str(s1), str(tmp_path / "e")])
    assert out.exit_code == 0, out.output
    assert f"snapshot {s1}" in out.output and "| articles " in out.output and "read_parquet(" in out.output
    again = runner.invoke(group(), ["--archive", str(arch.root), "export", str(tmp_path / "e")])
    assert again.exit_code == 2 and "add --overwrite" in again.output
    bad = runner.invoke(group(), ["--archive", str(arch.root), "export", "--at", "77", str(tmp_path / "f")])
    assert bad.exit_code == 2 and "--at 77: no such snapshot" in bad.output
