"""Commit a staged run into the lake: one transaction, hence one DuckLake snapshot per run.

Article rows become a new version only when their content hash differs from
the latest stored version of the same URL, so re-crawling unchanged pages adds
no article rows (the fetch log still records that they were seen).
"""
from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from typing import Any

import duckdb

from .lake import LAKE, Archive
from .schema import (ARTICLE_COLUMNS, BREAKING_SIGHTING_COLUMNS, FETCH_COLUMNS, RUN_COLUMNS,
                     RUN_STAT_COLUMNS)

from .shared_staging import SharedStaging, pending_shared_runs
from .staging import QUARANTINE, Staging, drop_torn_lines, kill_point, pending_runs

log = logging.getLogger("newsarchive.commit")

# Fields compared with the previous version to say what a revision changed.
TRACKED_CHANGES = ("title", "summary", "authors", "published_at", "modified_at", "tags", "body")


def _reader(files, columns: dict[str, str]) -> str:
    cols = ", ".join(f"'{k}': '{v}'" for k, v in columns.items())
    paths = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
    return f"read_json([{paths}], format = 'newline_delimited', columns = {{{cols}}})"


def commit_staging(con: duckdb.DuckDBPyConnection, staging: Staging, run: dict[str, Any],
                   stats: dict[str, dict[str, int]], *, attempts: int = 8) -> int:
    """Write the staged rows, the run row and its counters in one transaction; returns the snapshot id.

    Runs in other processes (backfill chunks on several workers, a scheduled run beside a
    backfill) may commit at the same moment; DuckLake then refuses one commit (a conflict,
    or its SQLite catalog locked by the other commit).
    The transaction is recomputed from the staged files and retried: versions are derived in
    SQL from what is committed, so a retry never writes a row twice.

    ``stats`` is updated in place to what was written: a page another run committed first
    (same content) is counted ``unchanged``, not ``new`` (see ``_recount``).
    """
    for attempt in range(1, attempts + 1):
        counted = {site: dict(c) for site, c in stats.items()}
        try:
            with staging.commit_lock():
                snapshot = _commit_once(con, staging, run, counted)
        except duckdb.Error as e:
            # A write-write conflict, or the catalog database locked by the other commit (DuckDB
            # reports some of these as "cannot rollback - no transaction is active").
            if attempt == attempts or not _retryable(e):
                raise
            time.sleep(min(0.1 * 2 ** attempt, 3.0) * (0.5 + random.random()))
            continue
        for site, c in counted.items():
            target = stats.setdefault(site, {})
            for key, value in c.items():
                target[key] = value
        return snapshot
    raise AssertionError("unreachable")


def _retryable(e: BaseException) -> bool:
    """Another commit got in the way (a conflict, or the catalog locked): recompute and retry."""
    return isinstance(e, duckdb.TransactionException) or any(
        w in str(e).lower() for w in ("conflict", "locked"))


def is_transient(e: BaseException) -> bool:
    """A failure of the moment (catalog busy, disk full, I/O), not of the staged rows themselves."""
    return _retryable(e) or isinstance(e, (duckdb.IOException, OSError))


def _stage_articles(con: duckdb.DuckDBPyConnection, staging: Staging) -> bool:
    """The article rows to insert, in ``temp.main.new_versions``; False if none are staged."""
    article_files = staging.files("article_versions")
    if not article_files:
        return False
    prev = ", ".join(f"{c} AS prev_{c}" for c in TRACKED_CHANGES)
    changed = ", ".join(f"CASE WHEN s.{c} IS DISTINCT FROM l.prev_{c} THEN '{c}' END" for c in TRACKED_CHANGES)
    # Last fetch of a URL within the run wins; a new version only when the content
    # changed, numbered after the latest one, saying which fields changed, and keeping
    # the duplicate/story links the first version got.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE new_versions AS
        WITH staged AS (
            SELECT * FROM {_reader(article_files, ARTICLE_COLUMNS)}
            QUALIFY row_number() OVER (PARTITION BY url ORDER BY seen_at DESC) = 1
        ), latest AS (
            SELECT url, version AS v, content_hash AS h, duplicate_of AS prev_dup,
                   story_id AS prev_story, {prev}
            FROM {LAKE}.main.article_versions
            QUALIFY row_number() OVER (PARTITION BY url ORDER BY version DESC) = 1
        )
        SELECT s.* REPLACE (
            coalesce(l.v, 0) + 1 AS version,
            CASE WHEN l.v IS NULL THEN []::VARCHAR[]
                 ELSE list_filter([{changed}], x -> x IS NOT NULL) END AS changed,
            coalesce(l.prev_dup, s.duplicate_of) AS duplicate_of,
            coalesce(l.prev_story, s.story_id) AS story_id)
        FROM staged s LEFT JOIN latest l USING (url)
        WHERE l.h IS DISTINCT FROM s.content_hash
    """)
    return True


def _recount(con: duckdb.DuckDBPyConnection, stats: dict[str, dict[str, int]], recovering: bool) -> None:
    """Make the new/changed/stored counters say what this commit writes.

    A run counts a page ``new`` against the state it loaded; when another run committed the same
    content meanwhile (two runs at once), the commit writes nothing for it. Those pages are
    counted ``unchanged`` instead. A recovered run (no counters) gets the written counts.
    """
    written = {site: (new, changed) for site, new, changed in con.execute(
        "SELECT site, count(*) FILTER (WHERE version = 1), count(*) FILTER (WHERE version > 1) "
        "FROM temp.main.new_versions GROUP BY site").fetchall()}
    for site in set(stats) | set(written):
        c = stats.setdefault(site, {})
        if not recovering and not ({"new", "changed", "stored"} & c.keys()) and site not in written:
            continue   # counters of a kind this commit does not track
        new, changed = written.get(site, (0, 0))
        claimed = c.get("new", 0) + c.get("changed", 0)
        if claimed > new + changed:
            c["unchanged"] = c.get("unchanged", 0) + claimed - new - changed
        c.update(new=new, changed=changed, stored=new + changed)


def _insert_fetch_log(con: duckdb.DuckDBPyConnection, staging: Staging) -> int:
    """Insert the staged fetch rows (after the article rows); returns how many lost their validators.

    A fetched article page's ETag/Last-Modified (and content hash) are kept only if its article
    row is in the lake: a validator without its article would make every later run get 304 for
    a page the archive does not hold. Batches are staged atomically, so this only bites on
    staging of older versions or a dropped torn line; such a page is refetched next run.
    """
    files = staging.files("fetch_log")
    if not files:
        return 0
    cols = ", ".join(FETCH_COLUMNS)
    con.execute(f"CREATE OR REPLACE TEMP TABLE staged_fetch AS "
                f"SELECT *, row_number() OVER () AS staged_row FROM {_reader(files, FETCH_COLUMNS)}")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE unvouched AS
        SELECT staged_row FROM temp.main.staged_fetch f
        WHERE f.kind = 'article' AND f.content_hash IS NOT NULL
        EXCEPT
        SELECT f.staged_row FROM temp.main.staged_fetch f
        JOIN {LAKE}.main.article_versions a ON a.content_hash = f.content_hash
        WHERE f.kind = 'article' AND (a.url = f.url OR a.url = f.final_url OR a.fetched_url = f.final_url)
    """)
    keep = "u.staged_row IS NULL"
    con.execute(f"""
        INSERT INTO {LAKE}.main.fetch_log ({cols})
        SELECT f.* EXCLUDE (staged_row) REPLACE (
            CASE WHEN {keep} THEN f.etag END AS etag,
            CASE WHEN {keep} THEN f.last_modified END AS last_modified,
            CASE WHEN {keep} THEN f.content_hash END AS content_hash)
        FROM temp.main.staged_fetch f LEFT JOIN temp.main.unvouched u USING (staged_row)
        ORDER BY f.staged_row
    """)
    return con.execute("SELECT count(*) FROM temp.main.unvouched").fetchone()[0]


def _commit_once(con: duckdb.DuckDBPyConnection, staging: Staging, run: dict[str, Any],
                 stats: dict[str, dict[str, int]]) -> int:
    con.execute("BEGIN")
    try:
        if _stage_articles(con, staging):
            _recount(con, stats, recovering=run.get("status") == "recovered")
            con.execute(f"INSERT INTO {LAKE}.main.article_versions ({', '.join(ARTICLE_COLUMNS)}) "
                        f"SELECT {', '.join(ARTICLE_COLUMNS)} FROM temp.main.new_versions")
        unvouched = _insert_fetch_log(con, staging)
        if unvouched:
            log.warning("run %s: %d fetched page(s) have no article row (lost in a crash): their "
                        "ETag/Last-Modified are not kept, so the next run fetches them again",
                        run["run_id"], unvouched)
        ticker_files = staging.files("breaking_sightings")
        if ticker_files:
            sightings = _reader(ticker_files, BREAKING_SIGHTING_COLUMNS)
            # A distinct item (site + normalised text) is stored once, with the page it was
            # first seen on; every run adds its sightings (first/last seen, times seen).
            con.execute(f"""
                INSERT INTO breaking_items (site, key, text, first_seen, first_url, first_run_id)
                SELECT site, key, arg_min(text, first_seen), min(first_seen), arg_min(first_url, first_seen),
                       any_value(run_id)
                FROM {sightings} s
                WHERE NOT EXISTS (SELECT 1 FROM breaking_items i WHERE i.site = s.site AND i.key = s.key)
                GROUP BY site, key
            """)
            con.execute(f"INSERT INTO breaking_sightings SELECT * FROM {sightings}")
        con.execute(f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' * len(RUN_COLUMNS))})",
                    [run.get(c) for c in RUN_COLUMNS])
        stat_rows = [(run["run_id"], site, counter, int(value))
                     for site, counters in stats.items() for counter, value in counters.items()]
        if stat_rows:
            con.executemany(f"INSERT INTO run_stats ({', '.join(RUN_STAT_COLUMNS)}) VALUES (?, ?, ?, ?)", stat_rows)
        con.execute(f"CALL {LAKE}.set_commit_message('newsarchive', ?, extra_info => ?)",
                    [f"{run.get('flow_name') or 'run'} {run['run_id']}",
                     json.dumps({"run_id": run["run_id"], "flow_run_id": run.get("flow_run_id"),
                                 "sites": run.get("sites")})])
        kill_point("commit-before")
        con.execute("COMMIT")
    except BaseException:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass   # a failed COMMIT has already ended the transaction
        raise
    kill_point("commit-after")
    for table in ("new_versions", "staged_fetch", "unvouched"):
        con.execute(f"DROP TABLE IF EXISTS temp.main.{table}")
    snapshot = con.execute(f"SELECT max(snapshot_id) FROM {LAKE}.snapshots()").fetchone()[0]
    # Delete while still holding the run's lock: a recovery in another process never sees the
    # lock free while the committed staging directory is still there.
    staging.remove()
    staging.release()
    return snapshot


def recover(archive: Archive, con: duckdb.DuckDBPyConnection | None = None, *,
            skip: str | None = None) -> list[str]:
    """Commit staged runs whose process died before their commit. Returns their run ids.

    Never blocks the run that calls it: a staged run that cannot be committed because of its
    files (rows DuckDB cannot read) is moved to ``staging/quarantine/`` with a warning; one that
    fails for a passing reason (the catalog busy) is left for the next run. Without ``con``, a
    connection is opened only when some run is staged (0.1-0.2 s at the start of every run).
    """
    runs = pending_shared_runs(archive) if archive.shared else pending_runs(archive.staging_dir)
    runs = [r for r in runs if r.dir.name != skip]   # not our own run
    if not runs:
        return []
    if con is None:
        with contextlib.closing(archive.connect()) as own:
            return _recover_runs(archive, own, runs)
    return _recover_runs(archive, con, runs)


def _recover_runs(archive: Archive, con: duckdb.DuckDBPyConnection, runs: list) -> list[str]:
    recovered = []
    for staging in runs:
        try:
            if not staging.take():   # its process still runs, another run recovers it, or it is gone
                continue
        except OSError as e:
            log.warning("staged run %s not recovered now (%s); the next run tries again", staging.dir, e)
            continue
        try:
            run_id = _recover_one(con, staging)
        except Exception as e:   # noqa: BLE001 - recovery must never stop the run that calls it
            _set_aside(archive, staging, e)
            continue
        finally:
            staging.release()
        if run_id:
            recovered.append(run_id)
    return recovered


def _recover_one(con: duckdb.DuckDBPyConnection, staging: Staging) -> str | None:
    meta = staging.read_meta() or {"run_id": staging.dir.name}
    already = con.execute("SELECT count(*) FROM runs WHERE run_id = ?", [meta["run_id"]]).fetchone()[0]
    if already or not staging.dir.exists():   # committed, but the directory outlived the commit
        staging.remove()
        return None
    for path in staging.legacy_files():
        dropped = drop_torn_lines(path)
        if dropped:
            log.warning("%s: dropped %d torn line(s) cut short by a kill (%s; kept in %s.torn); "
                        "their pages are fetched again by the next run", path, len(dropped),
                        ", ".join(dropped[:3]), path.name)
    meta = {**meta, "status": "recovered"}
    commit_staging(con, staging, meta, {})
    return meta["run_id"]


def _set_aside(archive: Archive, staging: Staging, error: Exception) -> None:
    """A staged run that cannot be committed goes to staging/quarantine/ (a passing failure: left)."""
    if is_transient(error):
        log.warning("staged run %s not recovered now (%s); the next run tries again",
                    staging.dir, str(error).splitlines()[0])
        return
    if isinstance(staging, SharedStaging):
        where = staging.set_aside(error)
        log.warning("staged run %s cannot be committed (%s: %s); moved to %s so that runs go on: its pages "
                    "are fetched again by the next run, inspect or delete the objects", staging.run_id,
                    type(error).__name__, str(error).splitlines()[0][:300], where)
        return
    target = archive.staging_dir / QUARANTINE / staging.dir.name
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target = target.with_name(f"{target.name}-{time.time_ns()}")
    staging.dir.rename(target)
    log.warning("staged run %s cannot be committed (%s: %s); moved to %s so that runs go on: its "
                "pages are fetched again by the next run, inspect or delete the directory",
                staging.dir.name, type(error).__name__, str(error).splitlines()[0][:300], target)
