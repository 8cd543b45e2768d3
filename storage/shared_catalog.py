"""The DuckLake catalog of a shared archive: a schema in Postgres, data under the S3 prefix.

The same refusals as a local archive's SQLite catalog (storage.lake.Archive.check_catalog):
a missing catalog beside existing objects is a lost catalog, never a new archive.
"""
from __future__ import annotations

import duckdb

from .coordination import connect
from .errors import ArchiveError
from .location import ENV_ARCHIVE, SharedLocation, redact

LAKE = "lake"
CONTENT = ("data/", "warc/", "index/", "staging/", "copy-in-progress.json")   # the last: an unfinished copy
RESTORE = ("restore the schema from a backup (pg_dump -n SCHEMA), or point $NEWSARCHIVE_CATALOG at the database "
           "that holds it; newsarchive never creates a new catalog over existing data")


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def shared_catalog_exists(loc: SharedLocation) -> bool:
    conn = connect(loc.catalog_dsn)
    try:
        return conn.execute("SELECT to_regclass(%s) IS NOT NULL", [f"{loc.schema}.ducklake_metadata"]).fetchone()[0]
    finally:
        conn.close()


def existing_objects(archive) -> list[str]:
    """Which of data/, warc/, index/, staging/ hold objects under the archive's prefix."""
    found = []
    for name in CONTENT:
        if next(iter(archive.store.list(archive.shared.key(name) + "/")), None):
            found.append(name)
    return found


def check_shared_catalog(archive, *, create: bool) -> None:
    loc = archive.shared
    if shared_catalog_exists(loc):
        return
    content = existing_objects(archive)
    where = f"schema {loc.schema} of {redact(loc.catalog_dsn)}"
    if content:
        raise ArchiveError(f"the archive catalog ({where}) is missing but {loc.url} holds archive data "
                           f"({', '.join(content)}); {RESTORE.replace('SCHEMA', loc.schema)}")
    if not create:
        raise ArchiveError(f"no archive at {loc.url} (no catalog in {where}); run `newsarchive run` first, "
                           f"or point --archive / ${ENV_ARCHIVE} at an existing archive")


def attach_shared(con: duckdb.DuckDBPyConnection, archive, read_only: bool,
                  snapshot: int | None = None) -> None:
    """ATTACH the Postgres-catalogued lake as ``lake`` and USE it."""
    loc = archive.shared
    # OVERRIDE_DATA_PATH: the archive stays addressable if its bucket or prefix is renamed or copied.
    opts = [f"DATA_PATH {_sql_string(archive.data_path)}", "OVERRIDE_DATA_PATH TRUE",
            f"METADATA_SCHEMA {_sql_string(loc.schema)}"]
    opts.append("READ_ONLY" if read_only else "DATA_INLINING_ROW_LIMIT 0")
    if snapshot is not None:
        opts.append(f"SNAPSHOT_VERSION {int(snapshot)}")
    try:
        con.execute(f"ATTACH {_sql_string('ducklake:postgres:' + loc.catalog_dsn)} AS {LAKE} ({', '.join(opts)})")
        con.execute(f"USE {LAKE}")
    except duckdb.Error as e:
        first = (redact(str(e)).strip().splitlines() or [type(e).__name__])[0]
        raise ArchiveError(f"cannot open the archive catalog (schema {loc.schema} of {redact(loc.catalog_dsn)}): "
                           f"{first}; check $NEWSARCHIVE_CATALOG, that Postgres is up, and the S3 variables") from None
