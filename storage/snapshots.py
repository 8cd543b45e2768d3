"""Snapshots of the archive: list them, and query the archive as it was at one of them.

Every committed run is one DuckLake snapshot (storage.commit). The run's id,
flow run and sites travel in the snapshot's ``commit_extra_info``; the rows each
snapshot added come from DuckLake's own file catalog, so listing stays cheap on
a large archive (no data scan, except the snapshot column of merged files).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

import duckdb

from .lake import LAKE, Archive, ArchiveError
from .shared_catalog import attach_shared
from .sql_guard import QueryError, execute

@dataclass
class SnapshotInfo:
    snapshot_id: int
    time: datetime
    run_id: str | None
    flow_run_id: str | None
    sites: list[str]
    message: str | None
    rows_added: dict[str, int] = field(default_factory=dict)
    rows_deleted: dict[str, int] = field(default_factory=dict)


def snapshot_ids(con: duckdb.DuckDBPyConnection) -> list[int]:
    return [r[0] for r in con.execute(f"SELECT snapshot_id FROM {LAKE}.snapshots() ORDER BY 1").fetchall()]


def _join(parent: str, path: str, relative: bool) -> str:
    """DuckLake's relative paths, chained (a directory or an s3:// prefix, so plain strings)."""
    return parent.rstrip("/") + "/" + path if relative else path


def _rows_per_snapshot(con: duckdb.DuckDBPyConnection, archive: Archive,
                       ) -> tuple[dict[int, dict[str, int]], dict[int, dict[str, int]]]:
    added: dict[int, dict[str, int]] = {}
    deleted: dict[int, dict[str, int]] = {}
    meta = archive.meta
    # Files written by one commit carry their snapshot as begin_snapshot.
    for snap, table, n in con.execute(f"""
            SELECT f.begin_snapshot, t.table_name, sum(f.record_count)::BIGINT
            FROM {meta}.ducklake_data_file f JOIN {meta}.ducklake_table t USING (table_id)
            WHERE f.partial_max IS NULL
            GROUP BY ALL""").fetchall():
        added.setdefault(snap, {})[table] = added.get(snap, {}).get(table, 0) + n
    # Files produced by ducklake_merge_adjacent_files hold rows of several
    # snapshots and record each row's snapshot in a column of their own.
    merged = con.execute(f"""
            SELECT t.table_name, s.path, s.path_is_relative, t.path, t.path_is_relative,
                   f.path, f.path_is_relative
            FROM {meta}.ducklake_data_file f
            JOIN {meta}.ducklake_table t USING (table_id)
            JOIN {meta}.ducklake_schema s ON s.schema_id = t.schema_id AND s.end_snapshot IS NULL
            WHERE f.partial_max IS NOT NULL AND f.end_snapshot IS NULL
              AND t.end_snapshot IS NULL""").fetchall()
    for table, spath, srel, tpath, trel, fpath, frel in merged:
        # Relative paths chain data path / schema / table / file; the archive's own
        # data directory is the root (the catalog may name where it was created).
        path = _join(_join(_join(archive.data_path, spath, srel), tpath, trel), fpath, frel)
        for snap, n in con.execute(
                "SELECT _ducklake_internal_snapshot_id, count(*) FROM read_parquet(?) GROUP BY 1",
                [str(path)]).fetchall():
            added.setdefault(snap, {})[table] = added.get(snap, {}).get(table, 0) + n
    for snap, table, n in con.execute(f"""
            SELECT d.begin_snapshot, t.table_name, sum(d.delete_count)::BIGINT
            FROM {meta}.ducklake_delete_file d JOIN {meta}.ducklake_table t USING (table_id)
            GROUP BY ALL""").fetchall():
        deleted.setdefault(snap, {})[table] = n
    return added, deleted


def list_snapshots(archive: Archive) -> list[SnapshotInfo]:
    """Every snapshot still in the archive (expired ones are gone), oldest first."""
    con = archive.connect(read_only=True)
    try:
        added, deleted = _rows_per_snapshot(con, archive)
        out = []
        for sid, time, message, extra in con.execute(
                f"SELECT snapshot_id, snapshot_time, commit_message, commit_extra_info "
                f"FROM {LAKE}.snapshots() ORDER BY snapshot_id").fetchall():
            try:
                info = json.loads(extra) if extra else {}
            except ValueError:  # written by another tool: keep the message, skip the details
                info = {}
            out.append(SnapshotInfo(
                snapshot_id=sid, time=time, run_id=info.get("run_id"),
                flow_run_id=info.get("flow_run_id"), sites=list(info.get("sites") or []),
                message=message, rows_added=dict(sorted(added.get(sid, {}).items())),
                rows_deleted=dict(sorted(deleted.get(sid, {}).items()))))
        return out
    finally:
        con.close()


def _describe_range(ids: list[int]) -> str:
    if not ids:
        return "none"
    contiguous = ids == list(range(ids[0], ids[-1] + 1))
    return f"{ids[0]}..{ids[-1]}" + ("" if contiguous else " (older ones expired; some ids missing)")


def connect_at(archive: Archive, snapshot_id: int) -> duckdb.DuckDBPyConnection:
    """A read-only connection where unqualified names (articles, runs, ...) resolve at ``snapshot_id``.

    The lake is re-attached with DuckLake's SNAPSHOT_VERSION, so views such as
    ``articles`` are evaluated against the pinned snapshot too, which
    ``AT (VERSION => N)`` on a view would not do.
    """
    con = archive.connect(read_only=True)
    try:
        ids = snapshot_ids(con)
        if snapshot_id not in ids:
            raise ArchiveError(
                f"--at {snapshot_id}: no such snapshot in {archive.location}; valid: {_describe_range(ids)} "
                f"(see `newsarchive snapshots`)")
        con.execute("USE memory")
        con.execute(f"DETACH {LAKE}")
        if archive.shared:
            attach_shared(con, archive, True, snapshot=snapshot_id)
            return con
        # OVERRIDE_DATA_PATH as in Archive.connect: the catalog may name where the archive was created.
        opts = [f"DATA_PATH '{archive.data_path}'", "OVERRIDE_DATA_PATH TRUE", "READ_ONLY",
                f"SNAPSHOT_VERSION {int(snapshot_id)}"]
        con.execute(f"ATTACH 'ducklake:sqlite:{archive.catalog}' AS {LAKE} ({', '.join(opts)})")
        con.execute(f"USE {LAKE}")
        return con
    except BaseException:
        con.close()
        raise


def query_at(archive: Archive, sql: str, snapshot_id: int) -> tuple[list[str], list[tuple]]:
    """Like storage.sql.query, read-only, pinned to one snapshot (``newsarchive sql --at N``)."""
    con = connect_at(archive, snapshot_id)
    try:
        return execute(con, sql)
    finally:
        con.close()


__all__ = ["SnapshotInfo", "list_snapshots", "connect_at", "query_at", "snapshot_ids", "QueryError"]
