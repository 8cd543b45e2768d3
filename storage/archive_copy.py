"""`newsarchive archive copy SRC DST`: a whole archive, every snapshot included, copied between
a local directory and shared storage (S3 + a Postgres catalog), either way or alike.

How: DuckLake (the same duckdb/ducklake as every other connection) creates an empty catalog for
DST; every row of every ``ducklake_*`` table of SRC's catalog is then copied into it (SQLite and
Postgres catalogs both read and written through DuckDB's sqlite/postgres extensions), so snapshot
ids, file ids and time travel (``--at``) answer the same on the copy. Only ``data_path`` changes.
Data files keep their paths relative to DATA_PATH; WARC files and the dedup indexes keep their
names under ``warc/`` and ``index/``. The search index (``search.duckdb``) is derived and rebuilt
by `newsarchive search --refresh`; staged runs are refused (commit them first).

Order, so that an interrupted copy never looks like an archive and a rerun finishes it:

1. DST's init lock (the lock `newsarchive run` takes to create an archive), then a marker
   ``copy-in-progress.json`` naming SRC;
2. the catalog built under a temporary name (``catalog.sqlite.copying``, or the Postgres schema
   ``copying_<hash>``), from a consistent read of SRC's catalog;
3. every file the catalog references, every WARC and index file: size and hash checked after the
   copy (sha256 of local files; the MD5 ETag of objects, or a read-back when the server's ETag is
   no MD5), and skipped on a rerun when DST already holds the same bytes;
4. counts compared: rows of every catalog table, snapshots, rows per table at the latest snapshot;
5. the catalog renamed into place (one rename), then the marker removed.

Until step 5 DST has no catalog, and `newsarchive` refuses it ("catalog missing beside data").
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import duckdb

from newsarchive.fsutil import fsync_path

from .lake import EXTENSION_CONFIG, Archive, ArchiveError, extension_path, storage_fault
from .location import redact
from .objects import duckdb_secret_sql
from .staging import QUARANTINE, kill_point, pending_runs

MARKER = "copy-in-progress.json"
PART = 8 << 20              # boto3's multipart chunk size: the part size of a multipart ETag
FILE_DIRS = ("warc", "index")
# Files no snapshot refers to any more (waiting for `compact` to delete them): neither they nor
# their rows are copied, so DST's own clean-up never looks for them.
NOT_COPIED = ("ducklake_files_scheduled_for_deletion",)
_TABLE = re.compile(r"^ducklake_[a-z0-9_]+$")


class CopyError(ArchiveError):
    """An archive cannot be copied (DST taken, SRC with staged runs, a file that differs)."""


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass
class CopyResult:
    source: str
    dest: str
    snapshot_id: int = 0                 # the latest snapshot copied
    snapshots: int = 0
    rows: dict[str, int] = field(default_factory=dict)            # per lake table, latest snapshot
    catalog_rows: dict[str, int] = field(default_factory=dict)    # per ducklake_* table
    files_copied: int = 0
    files_present: int = 0               # already in DST with the same bytes (a rerun)
    bytes_copied: int = 0
    seconds: float = 0.0


# --- file hashes ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Digest:
    size: int
    sha256: str
    md5: str
    parts_etag: str     # the ETag of the same bytes uploaded in 8 MiB parts

    def etags(self) -> set[str]:
        return {self.md5, self.parts_etag}


def digest_file(path: Path) -> Digest:
    sha, md5, parts, size = hashlib.sha256(), hashlib.md5(), [], 0
    with open(path, "rb") as fh:
        while chunk := fh.read(PART):
            sha.update(chunk)
            md5.update(chunk)
            parts.append(hashlib.md5(chunk).digest())
            size += len(chunk)
    return Digest(size, sha.hexdigest(), md5.hexdigest(), f"{hashlib.md5(b''.join(parts)).hexdigest()}-{len(parts)}")


# --- the two kinds of file storage ---------------------------------------------------------

class LocalFiles:
    """An archive directory's files, by path relative to its root (``data/main/...``)."""

    def __init__(self, archive: Archive):
        self.root = archive.root

    def where(self, rel: str) -> str:
        return str(self.root / rel)

    def list(self, sub: str) -> dict[str, int]:
        base = self.root / sub
        if not base.is_dir():
            return {}
        return {p.relative_to(self.root).as_posix(): p.stat().st_size for p in sorted(base.rglob("*"))
                if p.is_file() and not p.name.endswith(".copying")}

    def fetch(self, rel: str, tmp: Path) -> tuple[Path, Digest, bool]:
        """The file's local path, its digest, and whether the path is a temporary copy."""
        path = self.root / rel
        try:
            return path, digest_file(path), False
        except OSError as e:
            raise CopyError(f"cannot read {path}: {e.strerror or e}; the source archive lost or changed this "
                            f"file (stop workers and `compact` on it during a copy), then copy again") from None

    def holds(self, rel: str, d: Digest) -> bool:
        path = self.root / rel
        return path.is_file() and path.stat().st_size == d.size and digest_file(path).sha256 == d.sha256

    def put(self, path: Path, rel: str, d: Digest, tmp: Path) -> None:
        target = self.root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".copying")
        shutil.copyfile(path, tmp)
        fsync_path(tmp)
        got = digest_file(tmp)
        if got.sha256 != d.sha256:
            tmp.unlink(missing_ok=True)
            raise CopyError(f"{target}: copied bytes differ (sha256 {got.sha256[:12]} != {d.sha256[:12]}); "
                            f"check the disk, then copy again")
        os.replace(tmp, target)

    def sync(self, rels: list[str]) -> None:
        """fsync every directory that received files, so the catalog never outlives them in a crash."""
        for directory in sorted({(self.root / r).parent for r in rels} | {self.root}):
            fsync_path(directory)

    def read_marker(self) -> dict | None:
        try:
            return json.loads((self.root / MARKER).read_text("utf-8"))
        except FileNotFoundError:
            return None
        except ValueError:
            return {}

    def write_marker(self, data: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{MARKER}.tmp"
        tmp.write_text(json.dumps(data), "utf-8")
        fsync_path(tmp)
        os.replace(tmp, self.root / MARKER)
        fsync_path(self.root)

    def remove_marker(self) -> None:
        (self.root / MARKER).unlink(missing_ok=True)


class ObjectFiles:
    """A shared archive's objects, by key relative to its prefix (``data/main/...``)."""

    def __init__(self, archive: Archive):
        self.store, self.loc = archive.store, archive.shared

    def where(self, rel: str) -> str:
        return self.loc.s3_url(rel)

    def list(self, sub: str) -> dict[str, int]:
        cut = len(self.loc.prefix) + 1
        return {key[cut:]: size for key, size in self.store.list(self.loc.key(sub) + "/")}

    def _readback_equal(self, rel: str, d: Digest, tmp: Path) -> bool:
        """The server's ETag is no MD5 of the bytes (encryption, other part sizes): compare the bytes."""
        path = tmp / f"readback-{uuid.uuid4().hex}"
        try:
            self.store.download(self.loc.key(rel), path)
            return digest_file(path).sha256 == d.sha256
        finally:
            path.unlink(missing_ok=True)

    def fetch(self, rel: str, tmp: Path) -> tuple[Path, Digest, bool]:
        path = tmp / f"fetch-{uuid.uuid4().hex}"
        self.store.download(self.loc.key(rel), path)
        d = digest_file(path)
        stat = self.store.stat(self.loc.key(rel))
        if stat is None or stat[0] != d.size or (stat[1] not in d.etags() and not self._readback_equal(rel, d, tmp)):
            path.unlink(missing_ok=True)
            raise CopyError(f"{self.where(rel)} changed while it was read (size or hash differ); stop workers "
                            f"and `compact` on the source archive during a copy, then copy again")
        return path, d, True

    def holds(self, rel: str, d: Digest) -> bool:
        stat = self.store.stat(self.loc.key(rel))
        return stat is not None and stat[0] == d.size and stat[1] in d.etags()

    def put(self, path: Path, rel: str, d: Digest, tmp: Path) -> None:
        self.store.put_file(self.loc.key(rel), path)
        stat = self.store.stat(self.loc.key(rel))
        if stat is None or stat[0] != d.size or (stat[1] not in d.etags() and not self._readback_equal(rel, d, tmp)):
            raise CopyError(f"{self.where(rel)}: the uploaded object differs from its source (size or hash); "
                            f"check the S3 server, then copy again")

    def sync(self, rels: list[str]) -> None:
        return None   # an object is durable once its PUT returned

    def read_marker(self) -> dict | None:
        if not self.store.exists(self.loc.key(MARKER)):
            return None
        try:
            return json.loads(self.store.get_bytes(self.loc.key(MARKER)))
        except ValueError:
            return {}

    def write_marker(self, data: dict) -> None:
        self.store.put_bytes(self.loc.key(MARKER), json.dumps(data).encode())

    def remove_marker(self) -> None:
        self.store.delete([self.loc.key(MARKER)])


def files_of(archive: Archive) -> LocalFiles | ObjectFiles:
    return ObjectFiles(archive) if archive.shared else LocalFiles(archive)


# --- the two kinds of catalog --------------------------------------------------------------

class SqliteCatalog:
    """A local archive's ``catalog.sqlite``; a copy builds it as ``catalog.sqlite.copying`` first."""
    extension = "sqlite_scanner"

    def __init__(self, archive: Archive):
        self.archive = archive
        self.final, self.temp = archive.catalog, archive.root / "catalog.sqlite.copying"

    def describe(self) -> str:
        return str(self.final)

    def ducklake(self, temp: bool) -> tuple[str, list[str]]:
        """What ATTACH takes to open this catalog as a DuckLake: the URL and extra options."""
        return f"ducklake:sqlite:{self.temp if temp else self.final}", []

    def attach_raw(self, con: duckdb.DuckDBPyConnection, alias: str, path: Path, read_only: bool) -> str:
        """ATTACH the catalog database itself (its ducklake_* tables); returns the table prefix."""
        con.execute(f"ATTACH {_q(str(path))} AS {alias} (TYPE sqlite{', READ_ONLY' if read_only else ''})")
        return alias

    def tables(self, con: duckdb.DuckDBPyConnection, alias: str) -> list[str]:
        return [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = ?",
                                          [alias]).fetchall()]

    @contextmanager
    def source_copy(self, con: duckdb.DuckDBPyConnection, alias: str, tmp: Path) -> Iterator[str]:
        """SRC's catalog attached read-only as one consistent state: a backup taken with SQLite's
        online backup (a run committing meanwhile is either wholly in it or not at all)."""
        snapshot = tmp / "source-catalog.sqlite"
        try:
            src = sqlite3.connect(f"file:{self.final}?mode=ro", uri=True, timeout=60)
            try:
                with sqlite3.connect(snapshot) as out:
                    src.backup(out)
            finally:
                src.close()
        except sqlite3.Error as e:
            raise CopyError(f"cannot read the archive catalog {self.final}: {e}") from None
        yield self.attach_raw(con, alias, snapshot, read_only=True)

    def discard_temp(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.temp}{suffix}").unlink(missing_ok=True)

    def publish(self) -> None:
        for suffix in ("-wal", "-shm", "-journal"):
            if Path(f"{self.temp}{suffix}").exists():   # every connection is closed: SQLite left it all in the file
                raise CopyError(f"{self.temp}{suffix} is still there; close what holds {self.temp}, then copy again")
        fsync_path(self.temp)
        os.replace(self.temp, self.final)
        fsync_path(self.final.parent)
        self.archive.ensure_wal()


class PostgresCatalog:
    """A shared archive's Postgres schema; a copy builds it as schema ``copying_<hash>`` first."""
    extension = "postgres_scanner"

    def __init__(self, archive: Archive):
        self.archive, self.loc = archive, archive.shared
        self.final = self.loc.schema
        self.temp = "copying_" + hashlib.blake2b(self.final.encode(), digest_size=6).hexdigest()

    def describe(self) -> str:
        return f"schema {self.final} of {redact(self.loc.catalog_dsn)}"

    def ducklake(self, temp: bool) -> tuple[str, list[str]]:
        return f"ducklake:postgres:{self.loc.catalog_dsn}", [f"METADATA_SCHEMA {_q(self.temp if temp else self.final)}"]

    def attach_raw(self, con: duckdb.DuckDBPyConnection, alias: str, schema: str, read_only: bool) -> str:
        con.execute(f"ATTACH {_q(self.loc.catalog_dsn)} AS {alias} "
                    f"(TYPE postgres, SCHEMA {_q(schema)}{', READ_ONLY' if read_only else ''})")
        return f"{alias}.{schema}"

    def tables(self, con: duckdb.DuckDBPyConnection, alias: str) -> list[str]:
        database, _, schema = alias.partition(".")
        return [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = ? "
                                          "AND schema_name = ?", [database, schema]).fetchall()]

    @contextmanager
    def source_copy(self, con: duckdb.DuckDBPyConnection, alias: str, tmp: Path) -> Iterator[str]:
        # One DuckDB transaction reads every table in one Postgres transaction (repeatable read).
        yield self.attach_raw(con, alias, self.final, read_only=True)

    def _sql(self, statement: str) -> None:
        from .coordination import connect
        conn = connect(self.loc.catalog_dsn)
        try:
            conn.execute(statement)
        finally:
            conn.close()

    def discard_temp(self) -> None:
        self._sql(f'DROP SCHEMA IF EXISTS "{self.temp}" CASCADE')

    def publish(self) -> None:
        self._sql(f'ALTER SCHEMA "{self.temp}" RENAME TO "{self.final}"')


def catalog_of(archive: Archive) -> SqliteCatalog | PostgresCatalog:
    return PostgresCatalog(archive) if archive.shared else SqliteCatalog(archive)


def _duckdb(tmp: Path, *extensions: str) -> duckdb.DuckDBPyConnection:
    """A connection with these wheel extensions, in UTC (timestamps copied as text keep their zone)."""
    config = {**EXTENSION_CONFIG, "allow_persistent_secrets": True,
              "secret_directory": str(tmp / "no-secrets"), "extension_directory": str(tmp / "extensions")}
    con = duckdb.connect(config=config)
    for name in dict.fromkeys(extensions):
        con.execute(f"LOAD {_q(extension_path(name))}")
    con.execute("SET TimeZone = 'UTC'")
    return con


def _open_lake(archive: Archive, cat, tmp: Path, *, temp: bool) -> duckdb.DuckDBPyConnection:
    """The lake of ``cat`` as DuckLake reads it (no DATA_PATH given: the catalog's own is used)."""
    con = _duckdb(tmp, cat.extension, *(("httpfs",) if archive.shared else ()), "ducklake")
    try:
        if archive.shared:
            con.execute(duckdb_secret_sql())
        url, opts = cat.ducklake(temp)
        con.execute(f"ATTACH {_q(url)} AS lake ({', '.join(opts + ['READ_ONLY'])})")
    except BaseException:
        con.close()
        raise
    return con


# --- the copy ------------------------------------------------------------------------------

def staged_runs(archive: Archive) -> list[str]:
    """Runs staged in SRC but not committed (their rows are in no snapshot yet)."""
    if archive.shared:
        base = archive.shared.key("staging") + "/"
        names = {key[len(base):].split("/", 1)[0] for key, _ in archive.store.list(base)}
        return sorted(n for n in names if n and n != QUARANTINE and not n.startswith("."))
    return [s.dir.name for s in pending_runs(archive.staging_dir)]


@contextmanager
def _creation_lock(archive: Archive) -> Iterator[None]:
    """The lock Archive.init takes: no `newsarchive run` creates an archive at DST meanwhile."""
    if archive.shared:
        with archive.locks.hold("init"):
            yield
        return
    archive.root.mkdir(parents=True, exist_ok=True)
    with open(archive.root / "init.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _leftovers(archive: Archive) -> list[str]:
    """What DST holds besides the copy's own lock and marker."""
    if archive.shared:
        cut = len(archive.shared.prefix) + 1
        names = {key[cut:].split("/", 1)[0] + ("/" if "/" in key[cut:] else "")
                 for key, _ in archive.store.list(archive.shared.prefix + "/")}
        return sorted(names - {MARKER, "locks/"})
    if not archive.root.is_dir():
        return []
    return sorted(p.name + ("/" if p.is_dir() else "") for p in archive.root.iterdir()
                  if p.name not in ("init.lock", MARKER, ".duckdb"))


def _check_dest(src: Archive, dst: Archive, marker: dict | None) -> None:
    if marker is not None and marker.get("source") not in (None, src.location):
        raise CopyError(f"{dst.location} holds an unfinished copy of {marker['source']}; finish it with "
                        f"`newsarchive archive copy {marker['source']} {dst.location}`, or delete {dst.location} "
                        f"to start over")
    if dst.exists():
        raise CopyError(f"{dst.location} already holds an archive ({catalog_of(dst).describe()}); "
                        f"copy into a new directory or s3:// prefix, or move that archive aside first")
    content = _leftovers(dst)
    if content and marker is None:
        raise CopyError(f"{dst.location} is not empty ({', '.join(content[:5])}) and is no archive; "
                        f"copy into a new directory or s3:// prefix")


def _copy_rows(con: duckdb.DuckDBPyConnection, src: str, src_tables: list[str], dst: str, dst_tables: list[str],
               data_path: str) -> dict[str, int]:
    """Replace every row of DST's catalog tables by SRC's, in one transaction; rows per table."""
    extra = sorted(t for t in src_tables if t.startswith("ducklake_") and t not in dst_tables)
    version = "SELECT value FROM {}.ducklake_metadata WHERE key = 'version' AND scope IS NULL"
    src_version, dst_version = (con.execute(version.format(db)).fetchone() for db in (src, dst))
    if extra or src_version != dst_version:
        raise CopyError(f"the source catalog (DuckLake format {src_version[0] if src_version else '?'}"
                        f"{', tables ' + ', '.join(extra[:3]) if extra else ''}) differs from what this DuckLake "
                        f"{dst_version[0] if dst_version else '?'} creates; copy with the newsarchive and duckdb "
                        f"versions that wrote the source archive")
    counts: dict[str, int] = {}
    con.execute("BEGIN")
    for table in sorted(t for t in dst_tables if _TABLE.match(t)):
        con.execute(f'DELETE FROM {dst}."{table}"')
        if table in NOT_COPIED or table not in src_tables:
            continue
        con.execute(f'INSERT INTO {dst}."{table}" BY NAME SELECT * FROM {src}."{table}"')
        counts[table] = con.execute(f'SELECT count(*) FROM {src}."{table}"').fetchone()[0]
    con.execute(f"UPDATE {dst}.ducklake_metadata SET value = ? WHERE key = 'data_path' AND scope IS NULL",
                [data_path])
    con.execute("COMMIT")
    for table, n in counts.items():
        got = con.execute(f'SELECT count(*) FROM {dst}."{table}"').fetchone()[0]
        if got != n:
            raise CopyError(f"catalog table {table}: {got} rows copied of {n}; copy again")
    return counts


def _referenced_files(con: duckdb.DuckDBPyConnection, db: str) -> dict[str, int]:
    """Every data and delete file of every snapshot: path under the archive (data/...) -> size."""
    valid = "f.begin_snapshot >= {0}.begin_snapshot AND ({0}.end_snapshot IS NULL OR f.begin_snapshot < {0}.end_snapshot)"
    rows = con.execute(f"""
        SELECT s.path, s.path_is_relative, t.path, t.path_is_relative, f.path, f.path_is_relative, f.file_size_bytes
        FROM (SELECT table_id, begin_snapshot, path, path_is_relative, file_size_bytes FROM {db}.ducklake_data_file
              UNION ALL
              SELECT table_id, begin_snapshot, path, path_is_relative, file_size_bytes FROM {db}.ducklake_delete_file) f
        JOIN {db}.ducklake_table t ON t.table_id = f.table_id AND {valid.format('t')}
        JOIN {db}.ducklake_schema s ON s.schema_id = t.schema_id AND {valid.format('s')}""").fetchall()
    files: dict[str, int] = {}
    for schema, schema_rel, table, table_rel, name, name_rel, size in rows:
        if not (schema_rel and table_rel and name_rel):
            raise CopyError(f"the source catalog refers to a data file outside its data path ({name}); "
                            f"newsarchive archive copy copies archives whose files all lie under data/")
        files[f"data/{schema}{table}{name}"] = size
    return files


def _build_catalog(src: Archive, dst: Archive, tmp: Path) -> tuple[dict[str, int], dict[str, int], int]:
    """DST's catalog under its temporary name: DuckLake's own empty catalog, then SRC's rows.
    Returns rows per catalog table, the files it refers to, and its latest snapshot id."""
    src_cat, dst_cat = catalog_of(src), catalog_of(dst)
    dst_cat.discard_temp()    # what an interrupted copy left
    con = _duckdb(tmp, dst_cat.extension, *(("httpfs",) if dst.shared else ()), "ducklake")
    try:
        url, opts = dst_cat.ducklake(temp=True)
        con.execute(f"ATTACH {_q(url)} AS fresh ({', '.join([f'DATA_PATH {_q(dst.data_path)}'] + opts)})")
    except duckdb.Error as e:
        raise CopyError(f"cannot create the catalog {dst_cat.describe()}: {redact(str(e)).splitlines()[0]}") from None
    finally:
        con.close()
    con = _duckdb(tmp, src_cat.extension, dst_cat.extension)
    try:
        with src_cat.source_copy(con, "src", tmp) as s:
            d = dst_cat.attach_raw(con, "dst", dst_cat.temp, read_only=False)
            counts = _copy_rows(con, s, src_cat.tables(con, s), d, dst_cat.tables(con, d), dst.data_path)
        files = _referenced_files(con, d)
        snapshot_id = con.execute(f"SELECT max(snapshot_id) FROM {d}.ducklake_snapshot").fetchone()[0]
    except duckdb.Error as e:
        raise CopyError(f"cannot copy the catalog {src_cat.describe()} to {dst_cat.describe()}: "
                        f"{redact(str(e)).splitlines()[0]}") from None
    finally:
        con.close()
    return counts, files, snapshot_id


def _transfer_all(src_files, dst_files, wanted: dict[str, int], tmp: Path,
                  progress: Callable[[str], None]) -> tuple[int, int, int]:
    """Copy every file of ``wanted`` (path -> size); (files copied, files already there, bytes copied)."""
    def one(rel: str) -> int | None:
        path, digest, temporary = src_files.fetch(rel, tmp)
        try:
            if digest.size != wanted[rel]:
                raise CopyError(f"{src_files.where(rel)} is {digest.size} bytes but {wanted[rel]} were expected; "
                                f"stop workers and `compact` on the source archive during a copy, then copy again")
            if dst_files.holds(rel, digest):
                return None
            dst_files.put(path, rel, digest, tmp)
            kill_point("copy-file")   # the crash tests' interrupted copy
            return digest.size
        finally:
            if temporary:
                path.unlink(missing_ok=True)

    copied = present = nbytes = 0
    total, step = len(wanted), max(1, len(wanted) // 10)
    with ThreadPoolExecutor(max_workers=4) as pool:
        for done, size in enumerate(pool.map(one, sorted(wanted)), start=1):
            if size is None:
                present += 1
            else:
                copied, nbytes = copied + 1, nbytes + size
            if done % step == 0 or done == total:
                progress(f"files: {done}/{total} ({nbytes / 1e6:.1f} MB copied, {present} already there)")
    return copied, present, nbytes


def _lake_counts(con: duckdb.DuckDBPyConnection, tables: list[tuple[str, str]], at: int) -> tuple[int, dict]:
    """Snapshots up to ``at``, and rows of each table as of ``at`` (time travel)."""
    snapshots = con.execute(f"SELECT count(*) FROM ducklake_snapshots('lake') WHERE snapshot_id <= {int(at)}").fetchone()[0]
    rows = {f"{schema}.{table}" if schema != "main" else table:
            con.execute(f'SELECT count(*) FROM lake."{schema}"."{table}" AT (VERSION => {int(at)})').fetchone()[0]
            for schema, table in tables}
    return snapshots, rows


def _verify_lakes(src: Archive, dst_lake: duckdb.DuckDBPyConnection, snapshot_id: int) -> tuple[int, dict]:
    """The copy's snapshots and rows per table against the source's, as of the copied snapshot."""
    tables = [tuple(r) for r in dst_lake.execute("SELECT schema_name, table_name FROM duckdb_tables() "
                                                 "WHERE database_name = 'lake' ORDER BY 1, 2").fetchall()]
    copied = _lake_counts(dst_lake, tables, snapshot_id)
    con = src.connect(read_only=True)
    try:
        original = _lake_counts(con, tables, snapshot_id)
    finally:
        con.close()
    if copied != original:
        differ = [t for t in original[1] if original[1][t] != copied[1].get(t)]
        raise CopyError(f"the copy differs from {src.location} at snapshot {snapshot_id}: snapshots "
                        f"{copied[0]} vs {original[0]}" + (f", table {differ[0]} {copied[1][differ[0]]} rows vs "
                                                           f"{original[1][differ[0]]}" if differ else "")
                        + "; copy again")
    return copied


def copy_archive(src: Archive, dst: Archive, progress: Callable[[str], None] = lambda _m: None) -> CopyResult:
    """Copy the archive ``src`` to the new location ``dst`` (see the module's docstring)."""
    started = time.monotonic()
    if src.location == dst.location:
        raise CopyError(f"source and destination are the same archive ({src.location}); name a new directory "
                        f"or s3:// prefix as DST")
    src.check_catalog(create=False)
    staged = staged_runs(src)
    if staged:
        raise CopyError(f"{src.location} has {len(staged)} uncommitted staged run(s) ({', '.join(staged[:3])}"
                        f"{', ...' if len(staged) > 3 else ''}); commit them first: `newsarchive --archive "
                        f"{src.location} run` commits them before it crawls (or wait for the runs writing them)")
    try:
        return _copy(src, dst, progress, started)
    except OSError as e:   # DST's directory not writable, a full disk, ...
        raise storage_fault(f"cannot copy {src.location} to", dst.location, e) from None
    except duckdb.Error as e:
        raise CopyError(f"cannot copy {src.location} to {dst.location}: {redact(str(e)).splitlines()[0]}; "
                        f"copy again (an interrupted copy is finished by the same command)") from None


def _copy(src: Archive, dst: Archive, progress: Callable[[str], None], started: float) -> CopyResult:
    result = CopyResult(src.location, dst.location)
    src_files, dst_files = files_of(src), files_of(dst)
    with _creation_lock(dst), tempfile.TemporaryDirectory(prefix="newsarchive-copy-") as tmpname:
        tmp = Path(tmpname)
        marker = dst_files.read_marker()
        if marker is not None and marker.get("source") == src.location and dst.exists():
            return _finish_published(src, dst, dst_files, tmp, result, started)   # only the marker was left
        _check_dest(src, dst, marker)
        dst_files.write_marker({"source": src.location, "started_at": datetime.now(timezone.utc).isoformat()})
        progress(f"catalog: {catalog_of(src).describe()} -> {catalog_of(dst).describe()} (temporary name)")
        result.catalog_rows, wanted, result.snapshot_id = _build_catalog(src, dst, tmp)
        for sub in FILE_DIRS:   # dot-files there are local locks and temporaries, never content
            wanted.update((rel, size) for rel, size in src_files.list(sub).items()
                          if not rel.rsplit("/", 1)[-1].startswith("."))
        result.files_copied, result.files_present, result.bytes_copied = _transfer_all(
            src_files, dst_files, wanted, tmp, progress)
        dst_files.sync(sorted(wanted))
        dst_cat = catalog_of(dst)
        lake = _open_lake(dst, dst_cat, tmp, temp=True)
        try:
            result.snapshots, result.rows = _verify_lakes(src, lake, result.snapshot_id)
        finally:
            lake.close()
        kill_point("copy-before-publish")
        dst_cat.publish()
        kill_point("copy-published")
        dst_files.remove_marker()
    result.seconds = time.monotonic() - started
    return result


def _finish_published(src: Archive, dst: Archive, dst_files, tmp: Path, result: CopyResult,
                      started: float) -> CopyResult:
    """An earlier copy published the catalog (after verifying it) and died before removing its marker."""
    lake = _open_lake(dst, catalog_of(dst), tmp, temp=False)
    try:
        result.snapshot_id = lake.execute("SELECT max(snapshot_id) FROM ducklake_snapshots('lake')").fetchone()[0]
        result.snapshots, result.rows = _verify_lakes(src, lake, result.snapshot_id)
    finally:
        lake.close()
    dst_files.remove_marker()
    result.seconds = time.monotonic() - started
    return result
