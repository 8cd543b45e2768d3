"""Hostile SQL against `newsarchive sql` on a shared archive (catalog in a real Postgres, data in a
real S3 server): the local archive's ~60 hostile statements, plus what only a shared archive
offers: the Postgres server behind the catalog, S3 paths, the S3 secret and the connection string.

After all of them the Postgres database (every schema's rows, large objects) and the bucket (every
object's bytes) are unchanged, and no credential appeared in any answer or error.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import psycopg
import pytest

from archive_builders import build_news_archive
from services import postgres, s3_server
from storage.archive_copy import copy_archive
from storage.lake import Archive
from storage.sql import QueryError, connect_user, query, run_sql
from test_sql_security import PASSWD_MARK, hostile_read_only

pytestmark = pytest.mark.slow   # Postgres + an S3 server, tens of seconds to minutes

EXE = str(Path(sys.executable).parent / "newsarchive")
WARC_BYTES = b"WARC/1.1 the raw page of another archive"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A shared archive (team) and a second one beside it (other), each with a WARC object."""
    local, snaps = build_news_archive(tmp_path_factory.mktemp("news") / "archive")
    local.warc_dir.mkdir(exist_ok=True)
    (local.warc_dir / "x.warc").write_bytes(WARC_BYTES)
    with postgres() as pg, s3_server() as aws:
        env = {**aws, "NEWSARCHIVE_CATALOG": pg, "NEWSARCHIVE_WORKDIR": str(tmp_path_factory.mktemp("work"))}
        with pytest.MonkeyPatch.context() as mp:
            for key, value in env.items():
                mp.setenv(key, value)
            team, other = Archive("s3://newsarchive/team"), Archive("s3://newsarchive/other")
            copy_archive(local, team)
            copy_archive(local, other)
            yield {"team": team, "other": other, "snaps": snaps, "pg": pg, "env": env,
                   "outside": tmp_path_factory.mktemp("outside")}


def fingerprint(world) -> tuple:
    """Every row of every table of every schema in the catalog database, large objects, and every
    object of the bucket (key and sha256)."""
    with psycopg.connect(world["pg"], autocommit=True) as conn:
        tables = conn.execute("SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema "
                              "NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2").fetchall()
        rows = {f"{s}.{t}": conn.execute(f'SELECT count(*), md5(coalesce(string_agg(x::text, \',\' ORDER BY x::text), \'\')) '
                                         f'FROM "{s}"."{t}" x').fetchone() for s, t in tables}
        rows["large objects"] = conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()
    store = world["team"].store
    objects = {key: hashlib.sha256(store.get_bytes(key)).hexdigest() for key, _ in store.list("")}
    return rows, objects


def shared_hostile(world) -> list[tuple[str, str]]:
    """(statement, start of its refusal) for what only a shared archive offers."""
    team, pg, schema = world["team"], world["pg"], world["team"].shared.schema
    data = team.shared.s3_url("data")
    meta = "__ducklake_metadata_lake"
    pgq = "refused: {}() is not allowed in newsarchive sql; it reaches the Postgres server itself"
    files = "refused: {}() is not allowed in newsarchive sql; it reads files or objects by path"
    path = "refused: an object-store path is not allowed in newsarchive sql; it reads files or objects by path"
    catalog = f"refused: {meta} (the catalog database) is not allowed in newsarchive sql"
    return [
        (f"SELECT * FROM postgres_query('{meta}', 'SELECT lo_import(''/etc/passwd'')')", pgq.format("postgres_query")),
        (f"SELECT * FROM postgres_query('{meta}', 'SELECT pg_advisory_lock(1)')", pgq.format("postgres_query")),
        (f"SELECT * FROM postgres_execute('{meta}', 'DROP SCHEMA {schema} CASCADE')", pgq.format("postgres_execute")),
        (f"CALL postgres_execute('{meta}', 'DROP SCHEMA {schema} CASCADE')", "refused: CALL is not allowed"),
        (f"SELECT * FROM postgres_scan('{pg}', '{schema}', 'ducklake_snapshot')", pgq.format("postgres_scan")),
        (f"SELECT * FROM postgres_scan_pushdown('{pg}', 'public', 'x')", pgq.format("postgres_scan_pushdown")),
        (f"SELECT * FROM postgres_attach('{pg}')", pgq.format("postgres_attach")),
        ("SELECT * FROM postgres_configure_pool(max_connections => 1)", pgq.format("postgres_configure_pool")),
        ("SELECT * FROM pg_clear_cache()", pgq.format("pg_clear_cache")),
        (f"ATTACH '{pg}' AS p (TYPE postgres)", "refused: ATTACH is not allowed"),
        (f"ATTACH 'postgres:{pg}' AS p", "refused: ATTACH is not allowed"),
        (f"ATTACH 'ducklake:postgres:{pg}' AS l2 (METADATA_SCHEMA '{world['other'].shared.schema}')",
         "refused: ATTACH is not allowed"),
        (f"SELECT count(*) FROM {meta}.{schema}.ducklake_snapshot", catalog),
        (f"SELECT schema_name FROM {meta}.information_schema.schemata", catalog),
        (f"SELECT * FROM \"{meta}\".{world['other'].shared.schema}.ducklake_data_file", catalog),
        (f"SELECT * FROM {meta}.pg_catalog.pg_authid", catalog),
        (f"DELETE FROM {meta}.{schema}.ducklake_snapshot", "refused: DELETE is not allowed read-only"),
        (f"SELECT * FROM read_text('{data}/../warc/x.warc')", files.format("read_text")),
        (f"SELECT * FROM read_blob(['{data}/main/../../../other/warc/x.warc'])", files.format("read_blob")),
        (f"SELECT count(*) FROM read_parquet('{data}/main/runs/*.parquet')", files.format("read_parquet")),
        (f"SELECT * FROM parquet_metadata('{data}/main/runs/*.parquet')", files.format("parquet_metadata")),
        ("SELECT * FROM glob('s3://newsarchive/*')", files.format("glob")),
        (f"SELECT * FROM sniff_csv('{data}/../warc/x.warc')", files.format("sniff_csv")),
        ("SELECT * FROM read_text('http://169.254.169.254/latest/meta-data/')", files.format("read_text")),
        (f"SELECT * FROM '{data}/../warc/x.warc'", path),
        (f'SELECT * FROM "{data}/../warc/x.warc"', path),
        (f"SELECT * FROM $${data}/../warc/x.warc$$", path),
        ("SELECT * FROM E'\\x733://newsarchive/team/data/../warc/x.warc'", path),
        (f"SELECT * FROM 'S3A://newsarchive/other/warc/x.warc'", path),
        ("SELECT * FROM query_table('runs')", "refused: query_table() is not allowed"),
        (f"SELECT * FROM ducklake_scan('s3:/' || '/{data[5:]}/../warc/x.warc')", "refused: ducklake_scan() is not allowed"),
        ("SELECT * FROM duckdb_secrets()", "refused: duckdb_secrets() is not allowed in newsarchive sql; it shows the S3 secret"),
        (f"SELECT * FROM which_secret('{data}/x', 's3')", "refused: which_secret() is not allowed"),
        ("SELECT path FROM duckdb_databases()", "refused: duckdb_databases() is not allowed in newsarchive sql; it shows the catalog's connection string"),
        ("CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 's', ENDPOINT 'evil.example')", "refused: CREATE is not allowed read-only"),
        ("CREATE TEMPORARY SECRET p (TYPE postgres, HOST '127.0.0.1')", "refused: CREATE is not allowed read-only"),
        ("DROP SECRET newsarchive_s3", "refused: DROP is not allowed read-only"),
        ("SET s3_endpoint = 'evil.example'", "refused: SET is not allowed"),
        ("RESET s3_secret_access_key", "refused: RESET is not allowed"),
        (f"COPY (SELECT 1) TO '{data}/main/runs/evil.parquet'", "refused: COPY is not allowed"),
        (f"COPY runs FROM '{data}/../warc/x.warc'", "refused: COPY is not allowed"),
    ]


def secrets_absent(text: str, world) -> None:
    env = world["env"]
    assert env["AWS_SECRET_ACCESS_KEY"] not in text and env["AWS_ACCESS_KEY_ID"] not in text, text
    assert PASSWD_MARK not in text and WARC_BYTES.decode() not in text, text


def refused_all(con, cases, world, *, write: bool) -> None:
    for sql, expected in cases:
        with pytest.raises(QueryError) as caught:
            run_sql(con, sql, write=write)
        message = str(caught.value)
        assert message.startswith(expected) if expected.startswith("refused") else expected in message, \
            f"{sql!r}: {message}"
        assert "\n" not in message
        secrets_absent(message, world)


def assert_lake_answers(team: Archive, snaps: list[int]) -> None:
    assert query(team, "SELECT count(*) FROM articles")[1] == [(6,)]
    assert query(team, "SELECT count(*) FROM article_versions", at=snaps[0])[1] == [(5,)]
    assert query(team, f"SELECT count(*) FROM article_versions AT (VERSION => {snaps[0]})")[1] == [(5,)]


def test_every_hostile_statement_is_refused_and_nothing_changes(world):
    team, outside = world["team"], world["outside"]
    before = fingerprint(world)
    local_cases = hostile_read_only(team, outside)   # the local archive's list, on the shared one
    assert len(local_cases) >= 55
    con = connect_user(team)
    try:
        for sql, _ in local_cases:   # the same statements; a shared archive may refuse them earlier
            with pytest.raises(QueryError) as caught:
                run_sql(con, sql)
            assert "\n" not in str(caught.value)
            secrets_absent(str(caught.value), world)
        refused_all(con, shared_hostile(world), world, write=False)
    finally:
        con.close()
    con = connect_user(team, write=True)
    try:
        for sql, expected in local_cases:
            if "not allowed read-only" in expected:
                continue   # the plain writes are what --write is for
            with pytest.raises(QueryError):
                run_sql(con, sql, write=True)
        refused_all(con, [(s, e) for s, e in shared_hostile(world) if "read-only" not in e], world, write=True)
        for sql in ("CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 's')", "DROP SECRET newsarchive_s3",
                    f"DELETE FROM __ducklake_metadata_lake.{team.shared.schema}.ducklake_snapshot"):
            with pytest.raises(QueryError, match="^refused: "):
                run_sql(con, sql, write=True)
    finally:
        con.close()
    assert fingerprint(world) == before
    assert list(outside.iterdir()) == []
    assert_lake_answers(team, world["snaps"])


def test_no_credential_shows_in_settings_or_answers(world):
    team, env = world["team"], world["env"]
    _, rows = query(team, "SELECT current_setting('s3_access_key_id') AS k, current_setting('s3_secret_access_key') AS s")
    assert rows == [("", "")]
    _, settings = query(team, "SELECT name, value FROM duckdb_settings()")
    secrets_absent(repr(settings), world)
    # ... and the lake still reads through the connection's own secret.
    assert query(team, "SELECT count(*) FROM article_versions")[1] == [(7,)]
    r = subprocess.run([EXE, "--archive", team.location, "sql", "--format", "csv",
                        "SELECT name, value FROM duckdb_settings() WHERE name LIKE 's3%'"],
                       capture_output=True, text=True, timeout=120, env={**os.environ, **env})
    assert r.returncode == 0 and "s3_region" in r.stdout, r.stderr
    secrets_absent(r.stdout + r.stderr, world)


def test_what_duckdb_alone_does_not_block_on_a_shared_archive(world):
    """Why the statement check is needed: on the locked connection (no statement check), DuckDB
    itself still lets these through. If a DuckDB upgrade starts refusing them, this test says so."""
    team = world["team"]
    data = team.shared.s3_url("data")
    con = connect_user(team)
    try:
        # allowed_directories checks s3:// paths by prefix only: '..' leaves the data/ prefix.
        assert con.execute(f"SELECT content FROM read_blob('{data}/../warc/x.warc')").fetchone()[0] == WARC_BYTES
        other = world["other"].shared.s3_url("warc", "x.warc")
        assert con.execute(f"SELECT size FROM read_blob('{data}/../../other/warc/x.warc')").fetchone()[0] \
            == len(WARC_BYTES), other
        # postgres_query runs SQL on the catalog's server despite READ_ONLY and enable_external_access.
        assert con.execute("SELECT * FROM postgres_query('__ducklake_metadata_lake', 'SELECT 40 + 2')").fetchone() == (42,)
        # The S3 key id is in duckdb_secrets(); the catalog's connection string in duckdb_databases().
        assert world["env"]["AWS_ACCESS_KEY_ID"] in con.execute("SELECT secret_string FROM duckdb_secrets()").fetchone()[0]
        assert con.execute("SELECT count(*) FROM duckdb_databases() WHERE path LIKE 'postgres:%'").fetchone()[0] == 1
        # What it does block: files outside data/, Postgres ATTACH, settings.
        for sql in (f"SELECT * FROM read_blob('{team.shared.s3_url('warc', 'x.warc')}')",
                    f"ATTACH '{world['pg']}' AS p (TYPE postgres)", "SET s3_endpoint = 'evil.example'",
                    "SELECT * FROM read_text('http://169.254.169.254/')"):
            with pytest.raises(duckdb.Error):
                con.execute(sql).fetchall()
    finally:
        con.close()


def test_write_mode_changes_the_lake_only(world):
    team, snaps = world["team"], world["snaps"]
    r = query(team, "DELETE FROM article_versions WHERE url = 'https://reuters.example/99'", write=True)
    assert r[1] == [(1,)]
    assert query(team, "SELECT count(*) FROM article_versions")[1] == [(6,)]
    assert query(team, "SELECT count(*) FROM article_versions", at=snaps[1])[1] == [(7,)]
    other = world["other"]
    assert query(other, "SELECT count(*) FROM article_versions")[1] == [(7,)]   # the archive beside it: untouched


def test_cli_refusal_is_one_exact_line(world):
    team, env = world["team"], world["env"]
    sql = "SELECT * FROM postgres_query('__ducklake_metadata_lake', 'SELECT lo_import(''/etc/passwd'')')"
    r = subprocess.run([EXE, "--archive", team.location, "sql", sql], capture_output=True, text=True, timeout=120,
                       env={**os.environ, **env})
    assert (r.returncode, r.stdout, r.stderr) == (2, "", (
        "Error: refused: postgres_query() is not allowed in newsarchive sql; it reaches the Postgres server itself "
        "(any SQL, any database); query the lake's tables, and its history with lake.snapshots()\n"))
