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

import errno
import functools
import importlib
import os
import tempfile
from pathlib import Path

import duckdb


from .coordination import PgLocks
from .errors import ArchiveError
from .location import ENV_ARCHIVE, SharedLocation, check_local, is_shared, parse_shared, redact
from .objects import S3Store, duckdb_secret_sql
from .schema import MIGRATIONS, SCHEMA_VERSION
from .shared_catalog import attach_shared, check_shared_catalog, shared_catalog_exists

DEFAULT_ARCHIVE = "./archive"
LAKE = "lake"


# Extensions are LOADed only from the pip-installed wheels (extension_path), never
# installed or autoloaded at run time (a file planted in the extension directory is never
# picked up). Checking their signatures hashes ~80 MB of binaries: ~300-600 ms per
# connection (bench/bench_queries.py), so the project's own connections, which run only
# the project's SQL, skip it: the wheels sit in the same site-packages as duckdb's own
# binary, which nothing checks either. Connections that run a user's SQL verify them
# (USER_SQL_CONFIG, Archive.for_user_sql) and are then locked (lock_down).
EXTENSION_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False,
                    "allow_unsigned_extensions": True}
USER_SQL_CONFIG = {**EXTENSION_CONFIG, "allow_unsigned_extensions": False, "allow_persistent_secrets": False}

SQLITE_MAGIC = b"SQLite format 3\x00"
# Anything here beside a missing or unusable catalog means an archive whose catalog is lost
# (or an unfinished `newsarchive archive copy`, whose marker is the last name).
ARCHIVE_CONTENT = ("data", "warc", "index", "staging", "search.duckdb", "copy-in-progress.json")
RESTORE_HINT = ("restore catalog.sqlite from a backup copy of the archive directory; newsarchive never "
                "creates a new catalog over existing data (move the directory aside to start a new archive)")


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


# Extension files whose signature DuckDB has checked in this process, by identity (path,
# inode, size, mtime): later user-SQL connections load the same bytes without re-hashing.
_verified_extensions: set[tuple] = set()


def _file_identity(path: str) -> tuple:
    st = os.stat(path)
    return (path, st.st_ino, st.st_size, st.st_mtime_ns)


def _first_line(e: BaseException) -> str:
    text = redact(str(e).strip())   # a Postgres catalog's error may quote its connection string
    return text.splitlines()[0] if text else type(e).__name__


def storage_fault(what: str, path: Path | str, e: BaseException) -> ArchiveError:
    """One-line ArchiveError for an OS or DuckDB fault on the archive's files."""
    if isinstance(e, OSError):
        reason = f"{e.strerror or type(e).__name__}: {e.filename or path}"
        if isinstance(e, PermissionError) or e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return ArchiveError(f"{what} {path}: {reason}; the archive directory and catalog.sqlite must be "
                                f"writable by this user (check permissions, read-only mounts, chattr +i)")
        return ArchiveError(f"{what} {path}: {reason}")
    return ArchiveError(f"{what} {path}: {_first_line(e)}")


def _probe(directory: Path) -> None:
    """Create and remove a file in ``directory`` (OSError if it cannot be written). Permission bits
    say nothing for root, read-only mounts or immutable (chattr +i) directories; this does."""
    with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-probe-"):
        pass


class Archive:
    def __init__(self, root: str | os.PathLike | None = None, *, verify_extensions: bool = False):
        spec = root or os.environ.get(ENV_ARCHIVE) or DEFAULT_ARCHIVE
        self.verify_extensions = verify_extensions
        self.shared: SharedLocation | None = None
        if is_shared(spec):
            # The archive is in S3 + Postgres; root is this worker's local cache of it.
            self.shared = parse_shared(str(spec))
            self.root = self.shared.workdir
        else:
            check_local(str(spec))
            self.root = Path(spec).resolve()

    catalog = property(lambda self: self.root / "catalog.sqlite")
    data_dir = property(lambda self: self.root / "data")
    warc_dir = property(lambda self: self.root / "warc")
    staging_dir = property(lambda self: self.root / "staging")

    @property
    def location(self) -> str:
        """What names this archive to another process (``--archive``): a path or ``s3://`` URL."""
        return self.shared.url if self.shared else str(self.root)

    @property
    def data_path(self) -> str:
        """Where DuckLake's parquet files are (a directory or an ``s3://`` prefix), with a slash."""
        return self.shared.s3_url("data") + "/" if self.shared else f"{self.data_dir}{os.sep}"

    @functools.cached_property
    def store(self) -> S3Store:
        """The shared archive's bucket (shared archives only)."""
        assert self.shared is not None, "a local archive has no object store"
        return S3Store(self.shared.bucket)

    @functools.cached_property
    def locks(self) -> PgLocks:
        """The shared archive's locks in Postgres (shared archives only)."""
        assert self.shared is not None, "a local archive locks with flock"
        return PgLocks(self.shared.catalog_dsn, self.shared.schema)

    def __str__(self) -> str:
        return self.location

    @property
    def meta(self) -> str:
        """DuckLake's own catalog tables (ducklake_snapshot, ducklake_data_file, ...) in SQL: the
        catalog database DuckLake attaches, and for Postgres the archive's schema in it."""
        base = f"__ducklake_metadata_{LAKE}"
        return f'{base}."{self.shared.schema}"' if self.shared else base

    def for_user_sql(self) -> "Archive":
        """The same archive, whose connections verify extension signatures (see lock_down)."""
        return Archive(self.location, verify_extensions=True)

    def exists(self) -> bool:
        if self.shared:
            return shared_catalog_exists(self.shared)
        return self.catalog.exists()

    def existing_content(self) -> list[str]:
        """What archive data lies in the directory (non-empty data/, warc/, index/, ...)."""
        found = []
        for name in ARCHIVE_CONTENT:
            path = self.root / name
            try:
                if path.is_file() or (path.is_dir() and any(p.is_file() for p in path.rglob("*"))):
                    found.append(f"{name}/" if path.is_dir() else name)
            except OSError:
                found.append(name)
        return found

    def check_catalog(self, *, create: bool) -> None:
        """Refuse a missing, empty or non-SQLite catalog beside existing data; never replace one.

        A zero-byte catalog.sqlite is an empty SQLite database to SQLite: DuckLake would start
        a new, empty lake in it, and the old data files, WARC files and indexes would be
        orphaned (the near-duplicate index then hides new articles as copies of lost ones)."""
        if self.shared:
            return check_shared_catalog(self, create=create)
        try:
            with open(self.catalog, "rb") as f:
                head = f.read(len(SQLITE_MAGIC))
        except FileNotFoundError:
            head = None
        except OSError as e:
            raise storage_fault("cannot read the archive catalog", self.catalog, e) from None
        if head == SQLITE_MAGIC:
            return
        content = self.existing_content()
        if head is None:
            if content:
                raise ArchiveError(f"{self.catalog} is missing but {self.root} holds archive data "
                                   f"({', '.join(content)}); {RESTORE_HINT}")
            if not create:
                raise ArchiveError(
                    f"no archive at {self.root} (missing {self.catalog.name}); run `newsarchive run` "
                    f"first, or point --archive / ${ENV_ARCHIVE} at an existing archive")
            return
        state = "is empty (0 bytes)" if not head else "is not a SQLite database (damaged)"
        if content or head:
            raise ArchiveError(f"the archive catalog {self.catalog} {state}"
                               f"{' beside ' + ', '.join(content) if content else ''}; {RESTORE_HINT}")
        if not create:
            raise ArchiveError(f"no archive at {self.root} ({self.catalog.name} is empty); run `newsarchive run` "
                               f"first, or point --archive / ${ENV_ARCHIVE} at an existing archive")
        # An empty catalog and no data: a first init that died early. Start afresh.

    def check_writable(self) -> None:
        """Fail before any work when a writing run could not commit (read-only dir, mount or catalog)."""
        if self.shared:
            self.store.probe(self.shared.key("locks"))   # the bucket takes writes with these credentials
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.data_dir.mkdir(exist_ok=True)
            for directory in (self.root, self.data_dir):
                _probe(directory)
            if self.catalog.exists():
                os.close(os.open(self.catalog, os.O_RDWR))
        except OSError as e:
            raise storage_fault("cannot write to the archive", self.root, e) from None

    def _extensions(self) -> tuple[str, ...]:
        return ("postgres_scanner", "httpfs", "ducklake") if self.shared else ("sqlite_scanner", "ducklake")

    def _extension_config(self) -> dict:
        if not self.verify_extensions:
            return EXTENSION_CONFIG
        paths = [extension_path(ext) for ext in self._extensions()]
        if all(_file_identity(p) in _verified_extensions for p in paths):
            return {**USER_SQL_CONFIG, "allow_unsigned_extensions": True}   # these very bytes passed
        return USER_SQL_CONFIG

    def connect(self, read_only: bool = False, *, create: bool = False) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with the lake attached as ``lake`` and selected (``USE lake``).

        Every fault of the archive's files (missing, empty or damaged catalog, read-only
        directory) ends in one ArchiveError line naming the file and the fix."""
        self.check_catalog(create=create)
        if not read_only:
            self.check_writable()
        config = self._extension_config()
        if self.shared:
            # The postgres extension looks up secrets even with a connection string; with persistent
            # secrets off that lookup fails, so point them at an empty directory of this cache instead.
            config = {**config, "allow_persistent_secrets": True,
                      "secret_directory": str(self.root / ".duckdb" / "no-secrets")}
        con = duckdb.connect(config={"extension_directory": str(self.root / ".duckdb" / "extensions"), **config})
        try:
            # fts is loaded by storage.search, the only user of it (~45 ms less per connection).
            for ext in self._extensions():
                try:
                    con.execute(f"LOAD '{extension_path(ext)}'")
                except duckdb.Error as e:
                    raise ArchiveError(f"cannot load the DuckDB extension {extension_path(ext)}: {_first_line(e)}; "
                                       f"reinstall it: pip install --force-reinstall "
                                       f"duckdb-extension-{ext.replace('_', '-')}=={duckdb.__version__}") from None
            if not config["allow_unsigned_extensions"]:
                _verified_extensions.update(_file_identity(extension_path(e)) for e in self._extensions())
            con.execute("SET TimeZone = 'UTC'")
            if self.shared:
                con.execute(duckdb_secret_sql())  # TIMESTAMPTZ shown in UTC whatever the host's zone
            self._attach(con, read_only)
        except BaseException:
            con.close()
            raise
        return con

    def _attach(self, con: duckdb.DuckDBPyConnection, read_only: bool) -> None:
        # The catalog records the data path it was created with; data files are stored
        # relative to it. Overriding keeps an archive directory relocatable (copied,
        # moved, mounted elsewhere, or a test fixture).
        if self.shared:
            return attach_shared(con, self, read_only)
        opts = [f"DATA_PATH '{self.data_dir}/'", "OVERRIDE_DATA_PATH TRUE"]
        if read_only:
            opts.append("READ_ONLY")
        else:
            # Every row lands in parquet (no inlining into the catalog): the
            # archive is plain parquet files plus a catalog.
            opts.append("DATA_INLINING_ROW_LIMIT 0")
        try:
            con.execute(f"ATTACH 'ducklake:sqlite:{self.catalog}' AS {LAKE} ({', '.join(opts)})")
            con.execute(f"USE {LAKE}")
        except duckdb.Error as e:
            if read_only and not self._can_create_files():
                raise ArchiveError(
                    f"cannot open the archive catalog {self.catalog}: the directory {self.root} is read-only, "
                    f"and SQLite (WAL mode) must create {self.catalog.name}-shm beside the catalog even to read "
                    f"it; make the directory writable, or query a copy of the archive") from None
            raise ArchiveError(f"cannot open the archive catalog {self.catalog}: {_first_line(e)}; "
                               f"if the file is damaged, {RESTORE_HINT}") from None

    def _can_create_files(self) -> bool:
        try:
            _probe(self.root)
            return True
        except OSError:
            return False

    def init(self) -> int:
        """Create or migrate the schema; returns the schema version now in force.

        One process at a time (a file lock): backfill chunks starting side by side on several
        workers all init a fresh archive, and two concurrent migrations collide in the catalog
        ("database is locked"). The later ones then find the schema current and do nothing.
        A writing run starts here, so a read-only or damaged archive stops it before any crawl."""
        import fcntl
        if self.shared:
            with self.locks.hold("init"):
                return self._init_locked()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            lock = open(self.root / "init.lock", "a")
        except OSError as e:
            raise storage_fault("cannot write to the archive", self.root, e) from None
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return self._init_locked()

    def _init_locked(self) -> int:
        self.check_can_write()   # under the lock: never look at a catalog another init is creating
        con = self.connect(create=True)
        try:
            version = migrate(con)
        except duckdb.Error as e:
            raise storage_fault("cannot migrate the archive catalog", self.catalog_name, e) from None
        finally:
            con.close()
        if not self.shared:
            self.ensure_wal()
        return version

    @property
    def catalog_name(self) -> str:
        """The catalog for messages: the SQLite file, or the Postgres schema (no password)."""
        if self.shared:
            return f"schema {self.shared.schema} in {redact(self.shared.catalog_dsn)}"
        return str(self.catalog)

    def check_can_write(self) -> None:
        """Everything a writing run needs, checked before it starts: a usable (or no) catalog,
        no catalog lost beside existing data, a writable directory and catalog, an intact catalog."""
        self.check_catalog(create=True)
        self.check_writable()
        if not self.shared and self.catalog.exists() and self.catalog.stat().st_size:
            self.check_integrity()

    def check_integrity(self) -> None:
        """SQLite's quick_check of the catalog (no checksums: flipped bits show as a malformed
        b-tree). A writing run refuses a damaged catalog rather than spread the damage."""
        import sqlite3
        try:
            db = sqlite3.connect(f"file:{self.catalog}?mode=ro", uri=True, timeout=30)
            try:
                result = [r[0] for r in db.execute("PRAGMA quick_check(3)").fetchall()]
            finally:
                db.close()
        except sqlite3.OperationalError as e:
            if "locked" in str(e) or "busy" in str(e):
                return   # a writer holds the catalog: busy is not damaged; the run's own open will wait
            result = [str(e)]
        except sqlite3.Error as e:
            result = [str(e)]
        if result != ["ok"]:
            detail = " ".join(" ".join(result).split())[:200]
            raise ArchiveError(f"the archive catalog {self.catalog} is damaged (SQLite quick_check: {detail}); "
                               f"{RESTORE_HINT}")

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
        try:
            db = sqlite3.connect(self.catalog, timeout=30)
        except sqlite3.Error as e:
            raise storage_fault("cannot open the archive catalog", self.catalog, e) from None
        try:
            return db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.OperationalError:   # busy: keep the current mode, the caller still works
            return db.execute("PRAGMA journal_mode").fetchone()[0]
        except sqlite3.DatabaseError as e:
            raise ArchiveError(f"the archive catalog {self.catalog} is damaged ({_first_line(e)}); "
                               f"{RESTORE_HINT}") from None
        finally:
            db.close()


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def lock_down(con: duckdb.DuckDBPyConnection, archive: Archive) -> duckdb.DuckDBPyConnection:
    """Make a connection safe for a user's SQL, after the lake is attached (and pinned, for --at).

    From here on the connection cannot read or write any file but the lake's own (the catalog it
    attached, the parquet files under data/), load or install code, change a setting, or look up
    Python variables; the configuration is locked so no statement can undo it. storage.sql_guard
    refuses the statements that would still reach inside the archive (ATTACH, COPY, ...)."""
    try:
        con.execute(f"SET allowed_directories = [{_sql_string(archive.data_path)}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET python_enable_replacements = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


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
