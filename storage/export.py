"""Export one snapshot as a standalone folder readable without DuckLake.

The result is what a user hands to a colleague or loads into pandas, polars or
Spark: plain files plus ``manifest.json``::

    DIR/manifest.json
    DIR/articles/site=reuters/year=2022/data_0.parquet     (zstd)
    DIR/article_versions/site=.../year=.../data_0.parquet
    DIR/fetch_log/data.parquet, DIR/runs/data.parquet, ...

Relations with ``site`` and ``published_at`` columns (the article tables and
views, whatever later migrations add) are partitioned by site and publication
year; the others are small and written as one file. Partition columns are
also kept inside the files, so a file read on its own is complete.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from newsarchive.errors import NewsarchiveError

from .lake import LAKE, Archive, ArchiveError, schema_version
from .snapshots import connect_at

FORMATS = ("parquet", "jsonl")
MANIFEST = "manifest.json"
# Year, not month: news archives span years with a few hundred articles a month per site, and a
# file per month gave hundreds of tiny files (183 for 300 rows); a year per site is a sensible file.
PARTITION_COLUMNS = ("site", "year")
NO_YEAR = "unknown"          # partition of rows without a publication date
SKIP = {"schema_info"}        # bookkeeping; its content is the manifest's schema_version


class ExportError(NewsarchiveError, RuntimeError):
    pass


@dataclass
class TableExport:
    rows: int
    path: str
    partitioning: list[str]
    files: int
    columns: dict[str, str]


@dataclass
class Manifest:
    snapshot_id: int
    created_at: str
    schema_version: int
    newsarchive_version: str
    format: str
    compression: str
    archive: str
    tables: dict[str, TableExport] = field(default_factory=dict)
    read_with: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)


def _newsarchive_version() -> str:
    try:
        from importlib.metadata import version
        return version("newsarchive")
    except Exception:  # running from a source tree that was never installed
        return "unknown"


def _relations(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main' "
        "UNION SELECT view_name FROM duckdb_views() WHERE database_name = ? AND schema_name = 'main' "
        "AND NOT internal ORDER BY 1", [LAKE, LAKE]).fetchall()
    return [r[0] for r in rows if r[0] not in SKIP]


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    cur = con.execute(f"SELECT * FROM {relation} LIMIT 0")
    return {d[0]: str(d[1]) for d in cur.description}


def _sql_str(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _prepare_dir(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir} exists and is not a directory; choose a new directory")
    if out_dir.exists() and any(out_dir.iterdir()):
        if not overwrite:
            raise ExportError(f"{out_dir} is not empty; choose a new directory or add --overwrite "
                              f"to replace an earlier export there")
        if not (out_dir / MANIFEST).exists():
            # --overwrite replaces an earlier export, never an unrelated folder.
            raise ExportError(f"{out_dir} is not empty and holds no {MANIFEST} (not a newsarchive "
                              f"export); --overwrite only replaces an earlier export; choose a new directory")


def _export_partitioned(con, relation: str, dest: Path, fmt: str) -> int:
    year = f"coalesce(strftime(published_at, '%Y'), '{NO_YEAR}')"
    source = f"SELECT *, {year} AS year FROM {relation}"
    if fmt == "parquet":
        return con.execute(
            f"COPY ({source}) TO {_sql_str(dest)} (FORMAT parquet, COMPRESSION zstd, "
            f"PARTITION_BY (site, year), WRITE_PARTITION_COLUMNS true)").fetchone()[0]
    # DuckDB's JSON writer has no PARTITION_BY: stage once, then one COPY per partition.
    con.execute(f"CREATE OR REPLACE TEMP TABLE export_stage AS {source} ORDER BY site, year")
    total = 0
    for site, yr in con.execute("SELECT DISTINCT site, year FROM export_stage ORDER BY 1, 2").fetchall():
        part = dest / f"site={site}" / f"year={yr}"
        part.mkdir(parents=True, exist_ok=True)
        total += con.execute(
            f"COPY (SELECT * FROM export_stage WHERE site IS NOT DISTINCT FROM ? AND year = ?) "
            f"TO {_sql_str(part / 'data_0.jsonl.gz')} (FORMAT json, COMPRESSION gzip)",
            [site, yr]).fetchone()[0]
    con.execute("DROP TABLE export_stage")
    return total


def _export_plain(con, relation: str, dest: Path, fmt: str) -> int:
    dest.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        target, opts = dest / "data.parquet", "FORMAT parquet, COMPRESSION zstd"
    else:
        target, opts = dest / "data.jsonl.gz", "FORMAT json, COMPRESSION gzip"
    return con.execute(f"COPY (SELECT * FROM {relation}) TO {_sql_str(target)} ({opts})").fetchone()[0]


def export_snapshot(archive: Archive, out_dir: str | os.PathLike, *, at: int | None = None,
                    fmt: str = "parquet", overwrite: bool = False) -> Manifest:
    """Write the archive as of snapshot ``at`` (default: the latest) to ``out_dir``."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    out_dir = Path(out_dir).resolve()
    _prepare_dir(out_dir, overwrite)
    if at is None:
        # Pin even "latest", so every table comes from the same snapshot while runs commit.
        con = archive.connect(read_only=True)
        try:
            at = con.execute(f"SELECT id FROM {LAKE}.current_snapshot()").fetchone()[0]
        finally:
            con.close()
    con = connect_at(archive, at)
    # Build next to the target and swap at the end: a failed export leaves no half folder.
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        manifest = Manifest(
            snapshot_id=at, created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            schema_version=schema_version(con), newsarchive_version=_newsarchive_version(),
            format=fmt, compression="zstd" if fmt == "parquet" else "gzip", archive=archive.location)
        for relation in _relations(con):
            columns = _columns(con, relation)
            partitioned = "site" in columns and "published_at" in columns
            dest = work / relation
            if partitioned:
                rows = _export_partitioned(con, relation, dest, fmt)
            else:
                rows = _export_plain(con, relation, dest, fmt)
            files = sum(1 for p in dest.rglob("*") if p.is_file()) if dest.exists() else 0
            if partitioned:
                columns["year"] = "VARCHAR"
            manifest.tables[relation] = TableExport(
                rows=rows, path=f"{relation}/", partitioning=list(PARTITION_COLUMNS) if partitioned else [],
                files=files, columns=columns)
        if fmt == "parquet":
            manifest.read_with = (f"SELECT * FROM read_parquet('{out_dir}/articles/**/*.parquet', "
                                  f"hive_partitioning = true)")
        else:
            manifest.read_with = (f"SELECT * FROM read_json('{out_dir}/articles/**/*.jsonl.gz', "
                                  f"hive_partitioning = true)")
        (work / MANIFEST).write_text(manifest.to_json() + "\n", "utf-8")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(work, out_dir)
        return manifest
    except duckdb.Error as e:
        raise ExportError(f"export of snapshot {at} failed: {e}") from None
    finally:
        con.close()
        shutil.rmtree(work, ignore_errors=True)


def read_manifest(out_dir: str | os.PathLike) -> dict:
    path = Path(out_dir) / MANIFEST
    if not path.exists():
        raise ArchiveError(f"{path} not found: not a newsarchive export")
    return json.loads(path.read_text("utf-8"))
