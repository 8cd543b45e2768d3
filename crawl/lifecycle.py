"""One run against the archive, from opening it to its committed snapshot.

Every run (a scheduled scrape, a backfill chunk, a re-extraction) goes through the same
lifecycle, owned here in plain Python so it is tested without Prefect:

1. open: create or migrate the archive, commit the staged batches a crashed run left (recover);
2. load the dedup indexes (near-duplicates, stories, boilerplate), for the run's window;
3. stage: hold a staging directory (and, for crawls, open a WARC writer) for the run's batches;
4. commit: every staged batch and the run row in one DuckLake transaction: one snapshot;
5. save the dedup indexes (after the commit: they never get ahead of the lake);
6. refresh the derived search index (a failure there is logged, the run stays committed).

5 and 6 run side by side (they write different files); a flow overlaps 6 with
its reports as well (``commit_snapshot``, ``save_indexes``, ``update_search``).

Leaving the ``with`` block without ``commit`` (an exception, a cancel) releases the staging
lock, so the next run commits what was staged (crash recovery). Wall time of every phase is
kept in ``timings`` (5 and 6 each their own, overlapping): per-run cost must stay flat as the
archive grows.
"""
from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone

import duckdb

from dedup.state import DedupState
from newsarchive import __version__
from storage.commit import commit_staging, recover
from storage.lake import Archive
from storage.search import SearchError, refresh_index
from storage.shared_staging import SharedStaging
from storage.staging import Staging

from .indexes import load_dedup, save_dedup
from .warc import WarcWriter
from .warc_store import ship_sealed

log = logging.getLogger("newsarchive.run")


def new_run_id(flow_run_id: str | None = None) -> str:
    """Sortable and unique: UTC start time plus 8 hex digits of the flow run's (or a random) id.

    The id's *last* digits: a Prefect server on Postgres gives flow runs UUIDv7 ids, whose first
    8 digits are their creation time, so two deployments' runs scheduled for the same tick and
    started in the same second had one run id, one staging directory, and the second failed on
    the first's staging lock (seen with two workers, `@every 20s`). The last 8 are random in
    UUIDv4 and UUIDv7 alike. The run row keeps the whole flow run id."""
    tail = (flow_run_id or uuid.uuid4().hex).replace("-", "")[-8:]
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{tail}"


@dataclass
class RunResult:
    run_id: str
    snapshot: int
    status: str
    timings: dict[str, float]
    search: str | None = None   # what the search refresh did, or None when it failed


@dataclass
class ArchiveRun:
    """Context manager owning one run's lifecycle (see the module docstring)."""
    archive: Archive
    flow_label: str
    sites: list[str]
    flow_run_id: str | None = None
    since: datetime | None = None   # the run's publication window: which story months to load
    until: datetime | None = None
    warc: bool = True               # crawls write WARC; re-extraction reads it
    work_phase: str = "crawl"       # the name of the run's own work in ``timings``
    refresh_search: bool = True
    run_id: str = ""
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    timings: dict[str, float] = field(default_factory=dict)
    recovered: list[str] = field(default_factory=list)
    dedup: DedupState | None = None
    staging: Staging | None = None
    warc_writer: WarcWriter | None = None
    _clock: float = field(default_factory=time.perf_counter)
    _committed: bool = False

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.timings[phase] = round(now - self._clock, 3)
        self._clock = now

    def __enter__(self) -> "ArchiveRun":
        self.run_id = self.run_id or new_run_id(self.flow_run_id)
        self.archive.init()
        self.recovered = recover(self.archive)
        if self.recovered:
            log.warning("committed %d staged run(s) left by a crashed process: %s",
                        len(self.recovered), ", ".join(self.recovered))
        self.lap("open")
        self.dedup = load_dedup(self.archive, since=self.since, until=self.until)
        self.lap("load_dedup")
        if self.archive.shared:
            self.staging = SharedStaging(self.archive, self.run_id, before_stage=self._ship_warc).hold()
        else:
            self.staging = Staging(self.archive.staging_dir, self.run_id).hold()
        self.staging.write_meta({"run_id": self.run_id, "flow_run_id": self.flow_run_id,
                                 "flow_name": self.flow_label, "sites": self.sites, "started_at": self.started,
                                 "newsarchive_version": __version__})
        if self.warc:
            self.warc_writer = WarcWriter(self.archive.warc_dir, prefix=f"newsarchive-{self.run_id}")
        return self

    def _ship_warc(self) -> None:
        """Shared archive, before a batch is staged: its WARC records go to the bucket first."""
        if self.warc_writer is not None:
            ship_sealed(self.archive, self.warc_writer)

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.warc_writer is not None:
            self.warc_writer.close()
        if not self._committed and self.staging is not None:
            # Staged batches stay on disk; releasing the lock lets the next run commit them.
            self.staging.release()

    def commit(self, stats: dict[str, Counter], status: str) -> RunResult:
        """Commit the staged batches and the run row as one snapshot, then save and refresh indexes
        (the two side by side: they write different files)."""
        result = self.commit_snapshot(stats, status)
        with ThreadPoolExecutor(1, thread_name_prefix="search-refresh") as pool:
            search = pool.submit(self.update_search)
            self.save_indexes()
            result.search = search.result()
        result.timings = dict(self.timings)
        return result

    def commit_snapshot(self, stats: dict[str, Counter], status: str) -> RunResult:
        """Step 4: the staged batches and the run row, one snapshot. The derived indexes are
        :meth:`save_indexes` (before the run lets go of its run lock: the next run loads them)
        and :meth:`update_search` (any time after; a flow overlaps it with its reports)."""
        if self.archive.shared:
            self._ship_warc()
        elif self.warc_writer is not None:
            self.warc_writer.close()
        self.lap(self.work_phase)
        row = {"run_id": self.run_id, "flow_run_id": self.flow_run_id, "flow_name": self.flow_label,
               "sites": self.sites, "started_at": self.started, "finished_at": datetime.now(timezone.utc),
               "status": status, "newsarchive_version": __version__}
        con = self.archive.connect()
        try:
            snapshot = commit_staging(con, self.staging, row, stats)
            self._committed = True
        finally:
            self.staging.release()   # committed (directory gone) or not: then the next run recovers it
            con.close()
        self.lap("commit")
        return RunResult(self.run_id, snapshot, status, dict(self.timings))

    def save_indexes(self) -> None:
        """Step 5, after the commit: the dedup indexes never get ahead of the lake."""
        started = time.perf_counter()
        save_dedup(self.archive, self.dedup)
        self.timings["save_dedup"] = round(time.perf_counter() - started, 3)

    def update_search(self) -> str | None:
        """Step 6: what the search refresh did, or None (not refreshed; logged, the run stays committed).
        Its own wall time in ``timings``; it may overlap :meth:`save_indexes`."""
        started = time.perf_counter()
        search = None
        try:
            # A shared archive's index is per host, brought up to date by `search` itself
            # (storage.search.ensure_current): a worker refreshing its own would only warm its cache.
            refresh = self.refresh_search and not self.archive.shared
            search = str(refresh_index(self.archive)) if refresh else None
        except (SearchError, OSError, duckdb.Error) as e:   # the archive is committed; the index catches up
            log.warning("search index not refreshed: %s; run `newsarchive search --refresh`", e)
        self.timings["search_refresh"] = round(time.perf_counter() - started, 3)
        return search
