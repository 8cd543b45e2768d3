"""Commit a staged run into the lake: one transaction, hence one DuckLake snapshot per run.

Article rows become a new version only when their content hash differs from
the latest stored version of the same URL, so re-crawling unchanged pages adds
no article rows (the fetch log still records that they were seen).
"""
from __future__ import annotations

import json
import random
import shutil
import time
from typing import Any

import duckdb

from .lake import LAKE, Archive
from .schema import (ARTICLE_COLUMNS, BREAKING_SIGHTING_COLUMNS, FETCH_COLUMNS, RUN_COLUMNS,
                     RUN_STAT_COLUMNS)

# Fields compared with the previous version to say what a revision changed.
TRACKED_CHANGES = ("title", "summary", "authors", "published_at", "modified_at", "tags", "body")
from .staging import Staging, pending_runs


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
    """
    for attempt in range(1, attempts + 1):
        try:
            return _commit_once(con, staging, run, stats)
        except duckdb.Error as e:
            # A write-write conflict, or the catalog database locked by the other commit (DuckDB
            # reports some of these as "cannot rollback - no transaction is active").
            retryable = isinstance(e, duckdb.TransactionException) or any(
                w in str(e).lower() for w in ("conflict", "locked"))
            if attempt == attempts or not retryable:
                raise
            time.sleep(min(0.1 * 2 ** attempt, 3.0) * (0.5 + random.random()))
    raise AssertionError("unreachable")


def _commit_once(con: duckdb.DuckDBPyConnection, staging: Staging, run: dict[str, Any],
                 stats: dict[str, dict[str, int]]) -> int:
    con.execute("BEGIN")
    try:
        fetch_files = staging.files("fetch_log")
        if fetch_files:
            con.execute(f"INSERT INTO fetch_log SELECT * FROM {_reader(fetch_files, FETCH_COLUMNS)}")
        article_files = staging.files("article_versions")
        if article_files:
            cols = ", ".join(ARTICLE_COLUMNS)
            prev = ", ".join(f"{c} AS prev_{c}" for c in TRACKED_CHANGES)
            changed = ", ".join(f"CASE WHEN s.{c} IS DISTINCT FROM l.prev_{c} THEN '{c}' END" for c in TRACKED_CHANGES)
            # Last fetch of a URL within the run wins; a new version only when the content
            # changed, numbered after the latest one, saying which fields changed, and keeping
            # the duplicate/story links the first version got.
            con.execute(f"""
                INSERT INTO article_versions ({cols})
                WITH staged AS (
                    SELECT * FROM {_reader(article_files, ARTICLE_COLUMNS)}
                    QUALIFY row_number() OVER (PARTITION BY url ORDER BY seen_at DESC) = 1
                ), latest AS (
                    SELECT url, version AS v, content_hash AS h, duplicate_of AS prev_dup,
                           story_id AS prev_story, {prev}
                    FROM article_versions
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
        con.execute("COMMIT")
    except Exception:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass   # a failed COMMIT has already ended the transaction
        raise
    snapshot = con.execute(f"SELECT max(snapshot_id) FROM {LAKE}.snapshots()").fetchone()[0]
    staging.release()
    shutil.rmtree(staging.dir, ignore_errors=True)
    return snapshot


def recover(archive: Archive, con: duckdb.DuckDBPyConnection, *, skip: str | None = None) -> list[str]:
    """Commit staged runs whose process died before their commit. Returns their run ids."""
    recovered = []
    for staging in pending_runs(archive.staging_dir):
        if staging.dir.name == skip or staging.is_alive():
            continue   # our own run, or one still running in another process
        meta = staging.read_meta() or {"run_id": staging.dir.name}
        already = con.execute("SELECT count(*) FROM runs WHERE run_id = ?", [meta["run_id"]]).fetchone()[0]
        if already:  # committed, but the staging directory outlived the commit
            shutil.rmtree(staging.dir, ignore_errors=True)
            continue
        meta = {**meta, "status": "recovered"}
        commit_staging(con, staging, meta, {})
        recovered.append(meta["run_id"])
    return recovered
