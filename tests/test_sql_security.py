"""Hostile SQL against `newsarchive sql`: every statement that could write, reach outside the
archive or change the connection is refused (or fails harmlessly), on a real archive.

After each case the archive still holds every row, time travel still works, the catalog's
bytes and the data files are unchanged, and no file appeared outside the archive.
"""
from __future__ import annotations

import hashlib
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from archive_builders import build_news_archive
from storage.lake import USER_SQL_CONFIG, Archive, extension_path
from storage.sql import QueryError, connect_user, query, run_sql

EXE = str(Path(sys.executable).parent / "newsarchive")
PASSWD_MARK = "root:x:0:0"   # first line of /etc/passwd on this and most Linux systems

ATTACH_REFUSED = ("refused: ATTACH is not allowed in newsarchive sql; the archive is already attached as the "
                  "default database (read-only unless --write)")
COPY_REFUSED = ("refused: COPY is not allowed in newsarchive sql; it reads or writes files; newsarchive sql "
                "reaches no file outside the archive's tables (save a result with --format csv|json > FILE, "
                "or a snapshot with `newsarchive export`)")
FILE_DENIED = ('PermissionException: Permission Error: Cannot access file "/etc/passwd" - file system '
               'operations are disabled by configuration (newsarchive sql reads no file outside the '
               'archive: query its tables)')
READ_ONLY = ("refused: {} is not allowed read-only; add --write to change the lake (without it: SELECT, WITH, "
             "FROM, VALUES, SHOW, DESCRIBE, SUMMARIZE, PIVOT, EXPLAIN, BEGIN/COMMIT)")
MAINTENANCE = "maintenance runs through `newsarchive compact` (merge files, expire snapshots)"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("pristine") / "archive"
    _, snaps = build_news_archive(root)
    return root, snaps


@pytest.fixture
def news(pristine, tmp_path, monkeypatch):
    """A fresh copy of the news archive; the working directory is an empty 'outside' directory."""
    root, snaps = pristine
    arch = Archive(tmp_path / "archive")
    shutil.copytree(root, arch.root)
    outside = tmp_path / "outside"
    outside.mkdir()
    monkeypatch.chdir(outside)
    return arch, snaps, outside


def fingerprint(arch: Archive) -> tuple[str, frozenset]:
    data = frozenset(str(p.relative_to(arch.root)) for p in arch.data_dir.rglob("*") if p.is_file())
    return hashlib.sha256(arch.catalog.read_bytes()).hexdigest(), data


def assert_intact(arch: Archive, snaps: list[int], outside: Path) -> None:
    assert query(arch, "SELECT count(*) FROM articles")[1] == [(6,)]
    assert query(arch, "SELECT count(*) FROM article_versions")[1] == [(7,)]
    assert query(arch, "SELECT count(*) FROM articles", at=snaps[0])[1] == [(5,)]
    assert query(arch, f"SELECT count(*) FROM article_versions AT (VERSION => {snaps[0]})")[1] == [(5,)]
    assert list(outside.iterdir()) == [], "a file was written outside the archive"


def hostile_read_only(arch: Archive, outside: Path) -> list[tuple[str, str]]:
    """(statement, text its refusal or failure must contain) for the read-only mode."""
    cat, fts = arch.catalog, extension_path("fts")
    return [
        (f"COPY (SELECT * FROM articles) TO '{outside}/dump.csv'", COPY_REFUSED),
        (f"COPY (SELECT 'x') TO '{cat}'", COPY_REFUSED),
        (f"COPY article_versions TO '{arch.data_dir}/main/article_versions/extra.parquet'", COPY_REFUSED),
        ("SELECT * FROM read_csv('/etc/passwd')", FILE_DENIED),
        ("SELECT * FROM read_text('/etc/passwd')", FILE_DENIED),
        ("SELECT * FROM read_blob('/etc/passwd')", FILE_DENIED),
        # sqlite_scan opens files through SQLite's own I/O, past DuckDB's checks: refused by name.
        ("SELECT * FROM sqlite_scan('/etc/passwd', 'x')", "refused: sqlite_scan() is not allowed"),
        (f"SELECT * FROM sqlite_scan('{cat}', 'ducklake_data_file')", "refused: sqlite_scan() is not allowed"),
        ("SELECT * FROM glob('/etc/*')", "Permission Error"),
        (f"SELECT * FROM read_text('{arch.data_dir}/../../../../../../etc/passwd')", "Permission Error"),
        ("SELECT * FROM read_text('../../../../../../etc/passwd')", "Permission Error"),
        (f"ATTACH '{outside}/other.duckdb' AS other", ATTACH_REFUSED),
        (f"ATTACH '{cat}' AS c (TYPE sqlite)", ATTACH_REFUSED),
        (f"ATTACH 'ducklake:sqlite:{cat}' AS lake2 (DATA_PATH '{outside}/', OVERRIDE_DATA_PATH TRUE)", ATTACH_REFUSED),
        (f"SELECT * FROM sqlite_attach('{cat}')", "refused: sqlite_attach() is not allowed"),
        ("DETACH lake", "refused: DETACH is not allowed in newsarchive sql; the archive stays attached"),
        ("USE memory", "refused: USE is not allowed in newsarchive sql"),
        ("INSTALL httpfs", "refused: INSTALL is not allowed in newsarchive sql; extensions are not installed"),
        (f"INSTALL '{fts}'", "refused: INSTALL is not allowed"),
        (f"FORCE INSTALL '{fts}'", "refused: FORCE is not allowed"),
        (f"LOAD '{fts}'", "refused: LOAD is not allowed in newsarchive sql"),
        ("UPDATE EXTENSIONS", "refused: UPDATE EXTENSIONS is not allowed"),
        ("SET enable_external_access = true", "refused: SET is not allowed in newsarchive sql; the connection's settings are fixed"),
        ("RESET lock_configuration", "refused: RESET is not allowed"),
        ("SET VARIABLE x = 1", "refused: SET is not allowed"),
        ("PRAGMA database_list", "refused: PRAGMA is not allowed"),
        ("PRAGMA threads = 1", "refused: PRAGMA is not allowed"),
        (f"IMPORT DATABASE '{outside}'", "refused: IMPORT is not allowed"),
        (f"EXPORT DATABASE '{outside}/export'", "refused: EXPORT is not allowed in newsarchive sql; it reads or writes files"),
        ("CREATE TABLE t (x INTEGER)", READ_ONLY.format("CREATE")),
        ("CREATE TEMP TABLE t AS SELECT 1", READ_ONLY.format("CREATE")),
        ("INSERT INTO runs SELECT * FROM runs", READ_ONLY.format("INSERT")),
        ("DELETE FROM article_versions", READ_ONLY.format("DELETE")),
        ("UPDATE article_versions SET title = 'x'", READ_ONLY.format("UPDATE")),
        ("DROP TABLE article_versions", READ_ONLY.format("DROP")),
        ("TRUNCATE article_versions", READ_ONLY.format("TRUNCATE")),
        ("WITH x AS (SELECT 1) INSERT INTO runs SELECT * FROM runs", "INSERT is not allowed read-only"),
        ("DELETE FROM __ducklake_metadata_lake.ducklake_data_file", READ_ONLY.format("DELETE")),
        ("CALL ducklake_expire_snapshots('lake', older_than => now())", "refused: CALL is not allowed"),
        ("CALL lake.set_commit_message('x', 'y')", "refused: CALL is not allowed"),
        ("CHECKPOINT", "refused: CHECKPOINT is not allowed in newsarchive sql; " + MAINTENANCE),
        ("FORCE CHECKPOINT", "refused: FORCE is not allowed"),
        ("VACUUM", "refused: VACUUM is not allowed"),
        ("SELECT * FROM ducklake_expire_snapshots('lake', older_than => now())",
         "refused: ducklake_expire_snapshots() is not allowed in newsarchive sql; it changes or deletes the "
         "lake's files, snapshots or settings; " + MAINTENANCE),
        ("SELECT * FROM ducklake_cleanup_old_files('lake', cleanup_all => true)", "refused: ducklake_cleanup_old_files()"),
        ("SELECT * FROM system.main.ducklake_delete_orphaned_files('lake', cleanup_all => true)",
         "refused: ducklake_delete_orphaned_files()"),
        ("SELECT * FROM lake.merge_adjacent_files()", "refused: merge_adjacent_files()"),
        ('SELECT * FROM "DuckLake_Rewrite_Data_Files"(\'lake\')', "refused: ducklake_rewrite_data_files()"),
        (f"SELECT * FROM sqlite_query('{cat}', 'DELETE FROM ducklake_data_file')", "refused: sqlite_query()"),
        ("SELECT * FROM query('SELECT 1')", "refused: query() is not allowed in newsarchive sql; it runs SQL held in a string"),
        ("SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT 1'))", "refused: json_execute_serialized_sql()"),
        (f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{outside}/x.csv'", COPY_REFUSED),
        ("PREPARE p AS SELECT 1", "refused: PREPARE is not allowed"),
        ("EXECUTE p", "refused: EXECUTE is not allowed"),
        (f"SELECT 1; ATTACH '{cat}' AS c (TYPE sqlite)", ATTACH_REFUSED),
        ("CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 's')", READ_ONLY.format("CREATE")),
        ("PIVOT articles ON site USING count(*)", "creates a type, which is not allowed read-only; name the values"),
    ]


@pytest.mark.slow   # 3-6 s: a fresh archive connection (or CLI process) per hostile statement
def test_read_only_refuses_every_hostile_statement(news):
    arch, snaps, outside = news
    before = fingerprint(arch)
    for sql, expected in hostile_read_only(arch, outside):
        with pytest.raises(QueryError) as caught:
            query(arch, sql)
        message = str(caught.value)
        assert expected in message, f"{sql!r}: {message}"
        assert "\n" not in message and PASSWD_MARK not in message
    assert fingerprint(arch) == before
    assert_intact(arch, snaps, outside)


def test_exact_refusals_of_the_main_escapes(news):
    arch, _, outside = news
    cases = {f"ATTACH '{arch.catalog}' AS c (TYPE sqlite)": ATTACH_REFUSED,
             f"COPY (SELECT 'x') TO '{arch.catalog}'": COPY_REFUSED,
             "SELECT * FROM read_csv('/etc/passwd')": FILE_DENIED,
             "DELETE FROM article_versions": READ_ONLY.format("DELETE")}
    for sql, expected in cases.items():
        with pytest.raises(QueryError) as caught:
            query(arch, sql)
        assert str(caught.value) == expected


@pytest.mark.slow   # 3-6 s: a fresh archive connection (or CLI process) per hostile statement
def test_write_mode_writes_the_lake_only(news):
    arch, snaps, outside = news
    for sql, expected in hostile_read_only(arch, outside):
        if "not allowed read-only" in expected:
            continue   # the plain writes are what --write is for
        with pytest.raises(QueryError) as caught:
            query(arch, sql, write=True)
        assert expected in str(caught.value), f"{sql!r}: {caught.value}"
    for sql in ("DELETE FROM __ducklake_metadata_lake.ducklake_data_file",
                "INSERT INTO __ducklake_metadata_lake.ducklake_snapshot SELECT * FROM __ducklake_metadata_lake.ducklake_snapshot",
                "DROP TABLE __ducklake_metadata_lake.ducklake_data_file",
                "CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 's')"):
        with pytest.raises(QueryError, match=r"^refused: (DELETE|INSERT|DROP) on DuckLake's catalog|^refused: CREATE SECRET"):
            query(arch, sql, write=True)
    assert_intact(arch, snaps, outside)
    # What --write is for: the lake's tables change, as a new snapshot; time travel keeps the past.
    assert query(arch, "DELETE FROM article_versions WHERE url = 'https://reuters.example/99'", write=True)[1] == [(1,)]
    assert query(arch, "SELECT count(*) FROM article_versions")[1] == [(6,)]
    assert query(arch, "SELECT count(*) FROM article_versions", at=snaps[1])[1] == [(7,)]
    assert list(outside.iterdir()) == []


def test_several_statements_are_all_checked_before_any_runs(news):
    arch, snaps, outside = news
    con = connect_user(arch, write=True)
    try:
        with pytest.raises(QueryError, match="^refused: ATTACH"):
            run_sql(con, "INSERT INTO runs SELECT * FROM runs; ATTACH 'x.db' AS x", write=True)
        results = run_sql(con, "SELECT count(*) AS n FROM runs; SELECT 40 + 2 AS answer", write=True)
    finally:
        con.close()
    assert results == [(["n"], [(2,)]), (["answer"], [(42,)])]   # the INSERT never ran
    with pytest.raises(QueryError, match="^refused: 2 statements, and --format csv/json prints one result"):
        query(arch, "SELECT 1; SELECT 2")


def test_engine_refuses_even_without_the_statement_check(news):
    """The first layer alone (lock_down): DuckDB itself refuses files outside the archive,
    loading code and changing settings, whatever statement reaches it."""
    arch, snaps, outside = news
    con = connect_user(arch)
    try:
        for sql in ("SELECT * FROM read_text('/etc/passwd')", f"COPY (SELECT 1) TO '{outside}/x.csv'",
                    f"ATTACH '{outside}/o.duckdb' AS o", f"LOAD '{extension_path('fts')}'", "INSTALL httpfs",
                    "SET enable_external_access = true", "SET lock_configuration = false",
                    "SET allowed_directories = ['/']", "SET allow_unsigned_extensions = true",
                    f"EXPORT DATABASE '{outside}/e'"):
            with pytest.raises(duckdb.Error):
                con.execute(sql).fetchall()
        assert con.execute("SELECT current_setting('lock_configuration'), "
                           "current_setting('enable_external_access')").fetchall() == [(True, False)]
        assert con.execute("SELECT count(*) FROM articles").fetchall() == [(6,)]   # the lake itself reads
    finally:
        con.close()
    assert_intact(arch, snaps, outside)


def test_user_connections_verify_extension_signatures(tmp_path):
    """A copy of a wheel extension with one flipped byte in its signature does not load under the
    user-SQL configuration, while the genuine file does."""
    genuine = Path(extension_path("fts"))
    tampered = tmp_path / "fts.duckdb_extension"
    data = bytearray(genuine.read_bytes())
    data[-10] ^= 0xFF   # the signature is in the file's last 256 bytes
    tampered.write_bytes(bytes(data))
    con = duckdb.connect(config=USER_SQL_CONFIG)
    try:
        with pytest.raises(duckdb.Error, match="signature"):
            con.execute(f"LOAD '{tampered}'")
        con.execute(f"LOAD '{genuine}'")
    finally:
        con.close()


def run_cli(arch: Archive, *args: str, stdin: str | None = None, cwd: Path | None = None):
    return subprocess.run([EXE, "--archive", str(arch.root), *args], input=stdin, capture_output=True,
                          text=True, timeout=120, cwd=cwd)


@pytest.mark.slow   # 3-6 s: a fresh archive connection (or CLI process) per hostile statement
def test_cli_refusals_are_one_line_exit_2_and_never_show_passwd(news):
    arch, snaps, outside = news
    r = run_cli(arch, "sql", f"ATTACH '{arch.catalog}' AS c (TYPE sqlite); DELETE FROM c.ducklake_data_file",
                cwd=outside)
    assert (r.returncode, r.stdout, r.stderr) == (2, "", f"Error: {ATTACH_REFUSED}\n")
    for sql in ("SELECT * FROM read_csv('/etc/passwd')", "SELECT content FROM read_text('/etc/passwd')"):
        r = run_cli(arch, "sql", sql, cwd=outside)
        assert r.returncode == 2 and r.stdout == "" and len(r.stderr.splitlines()) == 1, r.stderr
        assert PASSWD_MARK not in r.stdout + r.stderr and "Traceback" not in r.stderr
    r = run_cli(arch, "sql", "--at", str(snaps[0]), f"COPY (SELECT 'x') TO '{arch.catalog}'", cwd=outside)
    assert (r.returncode, r.stderr) == (2, f"Error: {COPY_REFUSED}\n")
    r = run_cli(arch, "sql", "SELECT current_setting('allow_unsigned_extensions') AS unsigned, "
                             "current_setting('lock_configuration') AS locked", "--format", "csv")
    assert r.returncode == 0 and r.stdout.splitlines() == ["unsigned,locked", "False,True"], r.stderr
    assert_intact(arch, snaps, outside)


def test_cli_shows_every_result_of_several_statements(news):
    arch, _, _ = news
    r = run_cli(arch, "sql", "SELECT count(*) AS articles FROM articles; SELECT count(*) AS runs FROM runs")
    assert r.returncode == 0, r.stderr
    assert "| articles |" in r.stdout and "| 6        |" in r.stdout
    assert "| runs |" in r.stdout and "| 2    |" in r.stdout
    r = run_cli(arch, "sql", "--format", "json", "SELECT 1; SELECT 2")
    assert r.returncode == 2 and r.stderr.startswith("Error: refused: 2 statements")


def test_shell_refuses_the_same_and_keeps_going(news):
    arch, snaps, outside = news
    script = (f"ATTACH '{arch.catalog}' AS c (TYPE sqlite);\nDETACH lake;\nSET threads = 1;\n"
              f"COPY (SELECT 'x') TO '{arch.catalog}';\nSELECT count(*) AS n FROM articles;\n.quit\n")
    r = run_cli(arch, "sql", stdin=script, cwd=outside)
    assert r.returncode == 0, r.stderr
    assert f"error: {ATTACH_REFUSED}" in r.stdout and f"error: {COPY_REFUSED}" in r.stdout
    assert "error: refused: DETACH" in r.stdout and "error: refused: SET" in r.stdout
    assert "| 6 |" in r.stdout
    assert_intact(arch, snaps, outside)


def test_ctrl_c_in_the_shell_is_one_line(news):
    arch, _, _ = news
    # As from a terminal: SIGINT at its default. A test run started in the background of a
    # non-interactive shell ignores SIGINT, and its children inherit that (Python then installs
    # no KeyboardInterrupt handler): the shell would never see the Ctrl-C.
    proc = subprocess.Popen([EXE, "--archive", str(arch.root), "sql"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        banner = proc.stdout.readline()   # the shell is up and waiting for input
        assert banner.startswith("newsarchive SQL on"), banner + proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert err == "interrupted (Ctrl-C): SQL shell closed\n"
