"""Compaction: merge small files, expire old snapshots, delete files nothing refers to.

Every run writes a few small parquet files per table; over months that is many
thousands of files and slow scans. Compaction never changes what the latest
snapshot contains:

- ``ducklake_merge_adjacent_files`` rewrites small files into larger ones and
  keeps each row's snapshot id inside the merged file, so time travel to
  snapshots that are kept still works;
- ``ducklake_expire_snapshots`` only forgets old snapshots (time travel to them);
  rows visible in the latest snapshot stay, since that snapshot is never expired;
- ``ducklake_cleanup_old_files`` deletes replaced files, but only once they were
  replaced more than ``grace`` ago (in practice: at the next compaction), so a
  reader that started a scan before the compaction does not find its files gone;
- ``ducklake_delete_orphaned_files`` deletes data files the catalog never knew: those a
  run wrote before it was killed in the middle of its commit. Only files older than
  ``orphan_grace`` (default one hour): a younger one may belong to a commit going on now.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import duckdb

from .lake import LAKE, Archive, ArchiveError

DEFAULT_KEEP_DAYS = 90
DEFAULT_KEEP_LAST = 10
DEFAULT_GRACE = timedelta(minutes=10)
DEFAULT_ORPHAN_GRACE = timedelta(hours=1)


class CompactError(ArchiveError):
    pass


@dataclass
class CompactReport:
    snapshot_id: int                      # the archive's latest snapshot after compaction
    expired: list[int] = field(default_factory=list)
    snapshots_kept: int = 0
    files_before: int = 0
    files_after: int = 0
    files_merged: int = 0
    files_created: int = 0
    files_deleted: int = 0
    files_pending: int = 0                # replaced files kept for the grace period (deleted next time)
    orphans_deleted: int = 0              # data files of commits killed midway, never in the catalog
    rows: dict[str, int] = field(default_factory=dict)   # per table, identical before and after


def _live_files(con: duckdb.DuckDBPyConnection, meta: str) -> int:
    return con.execute(f"SELECT count(*) FROM {meta}.ducklake_data_file WHERE end_snapshot IS NULL").fetchone()[0]


def _row_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main' ORDER BY 1",
        [LAKE]).fetchall()]
    return {t: con.execute(f"SELECT count(*) FROM {LAKE}.main.{t}").fetchone()[0] for t in tables}


def _cleanup_after_grace(con: duckdb.DuckDBPyConnection, grace: timedelta, meta: str) -> list:
    """Delete replaced files if all were scheduled more than ``grace`` ago, else none.

    All or nothing because ducklake_cleanup_old_files(older_than => ...) is unreliable
    below one day with a SQLite catalog in DuckLake/DuckDB 1.5.5 (it also deleted files
    scheduled seconds ago), so only ``cleanup_all`` is used, after checking the ages here.
    """
    newest = con.execute(f"SELECT max(schedule_start::TIMESTAMPTZ) FROM {meta}.ducklake_files_scheduled_for_deletion"
                         ).fetchone()[0]
    if newest is None or newest > datetime.now(timezone.utc) - grace:
        return []
    return con.execute(f"CALL ducklake_cleanup_old_files('{LAKE}', cleanup_all => true)").fetchall()


def _delete_orphans(con: duckdb.DuckDBPyConnection, grace: timedelta) -> list:
    """Delete data files no snapshot ever referenced, once older than ``grace`` (file time)."""
    if grace.total_seconds() <= 0:
        return con.execute(f"CALL ducklake_delete_orphaned_files('{LAKE}', cleanup_all => true)").fetchall()
    return con.execute(f"CALL ducklake_delete_orphaned_files('{LAKE}', older_than => ?::TIMESTAMPTZ)",
                       [datetime.now(timezone.utc) - grace]).fetchall()


def snapshots_to_expire(snapshots: list[tuple[int, datetime]], *, keep_days: int | None,
                        keep_last: int | None, now: datetime | None = None) -> list[int]:
    """Ids outside the retention: older than ``keep_days`` and not among the last ``keep_last``.

    A snapshot is kept if either rule keeps it; with neither rule, nothing expires.
    The latest snapshot is always kept.
    """
    if keep_days is None and keep_last is None:
        return []
    if (keep_days is not None and keep_days < 0) or (keep_last is not None and keep_last < 1):
        raise CompactError("retention: keep_days must be >= 0 and keep_last >= 1")
    ordered = sorted(snapshots)
    keep = {ordered[-1][0]} if ordered else set()
    if keep_last is not None:
        keep |= {sid for sid, _ in ordered[-keep_last:]}
    if keep_days is not None:
        cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=keep_days)
        keep |= {sid for sid, t in ordered if t >= cutoff}
    elif keep_last is None:
        keep |= {sid for sid, _ in ordered}
    return [sid for sid, _ in ordered if sid not in keep]


def compact(archive: Archive, *, keep_days: int | None = DEFAULT_KEEP_DAYS,
            keep_last: int | None = DEFAULT_KEEP_LAST, grace: timedelta = DEFAULT_GRACE,
            orphan_grace: timedelta = DEFAULT_ORPHAN_GRACE) -> CompactReport:
    if not archive.shared:
        archive.ensure_wal()   # (a Postgres catalog has no journal mode to set)
    con = archive.connect()
    try:
        before = _row_counts(con)
        files_before = _live_files(con, archive.meta)
        # Files replaced by an earlier compaction go first, once they are older than the grace.
        deleted = _cleanup_after_grace(con, grace, archive.meta)
        # One snapshot for the merge, labelled so `newsarchive snapshots` shows what it was.
        con.execute("BEGIN")
        try:
            con.execute(f"CALL {LAKE}.set_commit_message('newsarchive', 'compact: merge adjacent files')")
            merged = con.execute(f"CALL ducklake_merge_adjacent_files('{LAKE}')").fetchall()
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        snaps = con.execute(f"SELECT snapshot_id, snapshot_time FROM {LAKE}.snapshots()").fetchall()
        expire = snapshots_to_expire(snaps, keep_days=keep_days, keep_last=keep_last)
        if expire:
            con.execute(f"CALL ducklake_expire_snapshots('{LAKE}', versions => ?)", [expire])
        if grace.total_seconds() <= 0:
            deleted += con.execute(f"CALL ducklake_cleanup_old_files('{LAKE}', cleanup_all => true)").fetchall()
        orphans = _delete_orphans(con, orphan_grace)
        pending = con.execute(f"SELECT count(*) FROM {archive.meta}.ducklake_files_scheduled_for_deletion").fetchone()[0]
        after = _row_counts(con)
        lost = {t: (n, after.get(t, 0)) for t, n in before.items() if after.get(t, 0) < n}
        if lost:  # cannot happen with the calls above (a run committing meanwhile only adds rows)
            raise CompactError(f"rows missing after compaction (before, after): {lost}")
        return CompactReport(
            snapshot_id=con.execute(f"SELECT id FROM {LAKE}.current_snapshot()").fetchone()[0],
            expired=expire, snapshots_kept=len(snaps) - len(expire),
            files_before=files_before, files_after=_live_files(con, archive.meta),
            files_merged=sum(r[2] for r in merged), files_created=sum(r[3] for r in merged),
            files_deleted=len(deleted), files_pending=pending, orphans_deleted=len(orphans), rows=after)
    except duckdb.Error as e:
        raise CompactError(f"compaction of {archive.location} failed: {e}") from None
    finally:
        con.close()
