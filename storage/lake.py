"""The archive on disk: a DuckLake (SQLite catalog, parquet data) plus raw WARC files.

Layout of an archive directory::

    <root>/catalog.sqlite     DuckLake catalog (snapshots, schema, file list)
    <root>/data/              parquet data files written by DuckLake
    <root>/warc/              raw responses (gzip WARC), see crawl.warc
    <root>/staging/<run_id>/  rows of a run not yet committed (JSON lines)
    <root>/.duckdb/           DuckDB's extension directory (never ~/.duckdb)

Extensions load from the ``duckdb-extension-*`` wheels by file path, so the
archive opens with no network.
"""
from __future__ import annotations

import importlib
import os
from pathlib import Path

import duckdb

from newsarchive.errors import NewsarchiveError

from .schema import MIGRATIONS, SCHEMA_VERSION

ENV_ARCHIVE = "NEWSARCHIVE_ARCHIVE"
DEFAULT_ARCHIVE = "./archive"
LAKE = "lake"


# Extensions are LOADed only from the pip-installed wheels (extension_path), never
# installed at run time. Checking their signatures hashed ~80 MB of binaries on every
# connection: ~300 ms of each CLI command (bench/bench_queries.py). The wheels sit in
# the same site-packages as duckdb's own binary, which nothing checks either. The cost:
# SQL run on such a connection (`newsarchive sql`) may LOAD an unsigned extension file,
# which its user, running local SQL that can already read and write files, could anyway.
EXTENSION_CONFIG = {"autoinstall_known_extensions": False, "allow_unsigned_extensions": True}


class ArchiveError(NewsarchiveError, RuntimeError):
    pass


def extension_path(name: str) -> str:
    """Path of an extension shipped in the ``duckdb-extension-<name>`` wheel."""
    try:
        mod = importlib.import_module(f"duckdb_extension_{name}")
    except ImportError:
        raise ArchiveError(
            f"DuckDB extension {name!r} is not installed; run `pip install "
            f"duckdb-extension-{name.replace('_', '-')}=={duckdb.__version__}`"
        ) from None
    path = Path(mod.__file__).parent / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.exists():
        raise ArchiveError(
            f"duckdb-extension-{name} has no build for duckdb {duckdb.__version__} ({path}); "
            f"install matching versions: duckdb==1.5.5 and duckdb-extension-{name}==1.5.5"
        )
    return str(path)


class Archive:
    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root or os.environ.get(ENV_ARCHIVE) or DEFAULT_ARCHIVE).resolve()

    catalog = property(lambda self: self.root / "catalog.sqlite")
    data_dir = property(lambda self: self.root / "data")
    warc_dir = property(lambda self: self.root / "warc")
    staging_dir = property(lambda self: self.root / "staging")

    def exists(self) -> bool:
        return self.catalog.exists()

    def connect(self, read_only: bool = False, *, create: bool = False) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with the lake attached as ``lake`` and selected (``USE lake``)."""
        if not self.exists():
            if not create:
                raise ArchiveError(
                    f"no archive at {self.root} (missing {self.catalog.name}); run `newsarchive run` "
                    f"first, or point --archive / ${ENV_ARCHIVE} at an existing archive"
                )
            self.root.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(config={
            "extension_directory": str(self.root / ".duckdb" / "extensions"),
            **EXTENSION_CONFIG,
        })
        # fts is loaded by storage.search, the only user of it (~45 ms less per connection).
        for ext in ("sqlite_scanner", "ducklake"):
            con.execute(f"LOAD '{extension_path(ext)}'")
        con.execute("SET TimeZone = 'UTC'")  # TIMESTAMPTZ shown in UTC whatever the host's zone
        # The catalog records the data path it was created with; data files are stored
        # relative to it. Overriding keeps an archive directory relocatable (copied,
        # moved, mounted elsewhere, or a test fixture).
        opts = [f"DATA_PATH '{self.data_dir}/'", "OVERRIDE_DATA_PATH TRUE"]
        if read_only:
            opts.append("READ_ONLY")
        else:
            # Every row lands in parquet (no inlining into the catalog): the
            # archive is plain parquet files plus a catalog.
            opts.append("DATA_INLINING_ROW_LIMIT 0")
        try:
            con.execute(f"ATTACH 'ducklake:sqlite:{self.catalog}' AS {LAKE} ({', '.join(opts)})")
        except duckdb.Error as e:
            con.close()
            raise ArchiveError(f"cannot open the archive at {self.root}: {e}") from None
        con.execute(f"USE {LAKE}")
        return con

    def init(self) -> int:
        """Create or migrate the schema; returns the schema version now in force.

        One process at a time (a file lock): backfill chunks starting side by side on several
        workers all init a fresh archive, and two concurrent migrations collide in the catalog
        ("database is locked"). The later ones then find the schema current and do nothing."""
        import fcntl
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "init.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            con = self.connect(create=True)
            try:
                version = migrate(con)
            finally:
                con.close()
            self.ensure_wal()
        return version

    def ensure_wal(self) -> str:
        """Put the SQLite catalog in WAL mode (persistent, idempotent); returns the mode in force.

        In SQLite's default rollback-journal mode a reader's shared lock makes a writer's
        COMMIT fail with "database is locked"; with WAL, `newsarchive sql` keeps answering
        while a run or a compaction commits.
        """
        import sqlite3
        if not self.exists():
            raise ArchiveError(f"no archive at {self.root} (missing {self.catalog.name}); "
                               f"run `newsarchive run` first")
        db = sqlite3.connect(self.catalog, timeout=30)
        try:
            return db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.OperationalError:   # busy: keep the current mode, the caller still works
            return db.execute("PRAGMA journal_mode").fetchone()[0]
        finally:
            db.close()


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = 'schema_info'",
        [LAKE],
    ).fetchone()[0]
    if not exists:
        return 0
    row = con.execute("SELECT max(version) FROM schema_info").fetchone()
    return row[0] or 0


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    current = schema_version(con)
    if current > SCHEMA_VERSION:
        raise ArchiveError(
            f"the archive has schema version {current}, newer than this newsarchive "
            f"({SCHEMA_VERSION}); upgrade newsarchive"
        )
    for version, statements in MIGRATIONS:
        if version <= current:
            continue
        con.execute("BEGIN")
        try:
            con.execute("CREATE TABLE IF NOT EXISTS schema_info (version INTEGER, applied_at TIMESTAMPTZ)")
            for stmt in statements:
                con.execute(stmt)
            con.execute("INSERT INTO schema_info VALUES (?, now())", [version])
            con.execute(f"CALL {LAKE}.set_commit_message('newsarchive', ?)", [f"schema migration {version}"])
            con.execute("COMMIT")
        except Exception:
            try:
                con.execute("ROLLBACK")
            except duckdb.Error:
                pass   # a failed COMMIT has already ended the transaction: report the real error
            raise
    return max(current, SCHEMA_VERSION)
