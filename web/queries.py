"""Read-only queries behind the pages. Every value reaches SQL as a bound parameter.

A ``Reader`` opens one read-only connection per page (``Archive.connect(read_only=True)``,
or ``storage.snapshots.connect_at`` when browsing as of a snapshot): the lake is never opened
for writing, and each page sees the latest committed snapshot (or the pinned one).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterator

import duckdb

from storage.lake import Archive
from storage.snapshots import connect_at

OUTCOMES = ("fetched", "not_modified", "failed", "skipped")
HEALTH_FIELDS = ("title", "body", "date")
RUN_CHART_LIMIT = 40        # runs shown in the per-run charts (the most recent)


@dataclass
class Series:
    labels: list[str]
    values: dict[str, list[Any]]


def rows_as_dicts(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


class Reader:
    def __init__(self, archive: Archive, at: int | None = None):
        self.archive = archive
        self.at = at

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = connect_at(self.archive, self.at) if self.at is not None else self.archive.connect(read_only=True)
        try:
            yield con
        finally:
            con.close()


def _since(since: date | None) -> datetime:
    return datetime.combine(since, datetime.min.time(), timezone.utc) if since else datetime(1, 1, 2, tzinfo=timezone.utc)


TOTALS = {"articles": "SELECT count(*) FROM articles",
          "versions": "SELECT count(*) FROM article_versions",
          "near-duplicates": "SELECT count(*) FROM duplicates",
          "multi-site stories": "SELECT count(*) FROM stories WHERE sites > 1",
          "breaking items": "SELECT count(*) FROM breaking",
          "runs": "SELECT count(*) FROM runs"}


def totals(con) -> dict[str, int]:
    # One statement: each lake query pays a catalog round trip, six of them showed.
    row = con.execute("SELECT " + ", ".join(f"({sql})" for sql in TOTALS.values())).fetchone()
    return dict(zip(TOTALS, row))


def sites(con) -> list[str]:
    return [r[0] for r in con.execute("SELECT DISTINCT site FROM article_versions ORDER BY 1").fetchall()]


def _bucket_for(first: date, last: date) -> str:
    span = (last - first).days
    return "day" if span <= 92 else "week" if span <= 730 else "month"


def _step(d: date, bucket: str) -> date:
    if bucket == "day":
        return d + timedelta(days=1)
    if bucket == "week":
        return d + timedelta(days=7)
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def articles_per_bucket(con, since: date | None = None, bucket: str | None = None) -> tuple[str, Series]:
    """Articles per publication day (or week/month when the archive spans longer), per site."""
    start = _since(since)
    first, last = con.execute("SELECT min(published_at)::DATE, max(published_at)::DATE FROM articles "
                              "WHERE published_at >= ?", [start]).fetchone()
    if first is None:
        return "day", Series([], {})
    bucket = bucket if bucket in ("day", "week", "month") else _bucket_for(first, last)
    counts = con.execute("SELECT site, date_trunc(?, published_at)::DATE AS b, count(*) FROM articles "
                         "WHERE published_at >= ? GROUP BY ALL", [bucket, start]).fetchall()
    labels, d = [], con.execute("SELECT date_trunc(?, ?::DATE)::DATE", [bucket, first]).fetchone()[0]
    while d <= last:
        labels.append(d)
        d = _step(d, bucket)
    index = {b: i for i, b in enumerate(labels)}
    values: dict[str, list[int]] = {}
    for site, b, n in counts:
        values.setdefault(site, [0] * len(labels))[index[b]] = n
    fmt = "%Y-%m" if bucket == "month" else "%Y-%m-%d"
    return bucket, Series([b.strftime(fmt) for b in labels], dict(sorted(values.items())))


def recent_runs(con, since: date | None = None, limit: int = RUN_CHART_LIMIT) -> list[dict[str, Any]]:
    return rows_as_dicts(con.execute(
        "SELECT * FROM (SELECT * FROM runs WHERE started_at >= ? ORDER BY started_at DESC LIMIT ?) "
        "ORDER BY started_at", [_since(since), limit]))


def run_labels(runs: list[dict[str, Any]]) -> list[str]:
    """Short x-axis labels for runs: start minute, with seconds when two runs share a minute."""
    labels = [r["started_at"].strftime("%m-%d %H:%M") if r.get("started_at") else r["run_id"] for r in runs]
    if len(set(labels)) < len(labels):
        labels = [r["started_at"].strftime("%m-%d %H:%M:%S") if r.get("started_at") else r["run_id"]
                  for r in runs]
    return labels


def fetch_outcomes(con, run_ids: list[str], site: str | None = None) -> dict[str, list[int]]:
    """Fetches per outcome for each run (all kinds: robots, sitemaps, feeds, pages, articles)."""
    rows = con.execute("SELECT run_id, outcome, count(*) FROM fetch_log WHERE run_id = ANY(?::VARCHAR[]) "
                       "AND (?::VARCHAR IS NULL OR site = ?) GROUP BY ALL", [run_ids, site, site]).fetchall()
    index = {r: i for i, r in enumerate(run_ids)}
    found = {o for _, o, _ in rows}
    out = {o: [0] * len(run_ids) for o in OUTCOMES if o in found}
    out.update({o: [0] * len(run_ids) for o in sorted(found - set(OUTCOMES))})
    for run_id, outcome, n in rows:
        out[outcome][index[run_id]] = n
    return out


def run_stats(con, run_ids: list[str]) -> dict[str, dict[str, dict[str, int]]]:
    """run_id -> site -> counter -> value."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for run_id, site, counter, value in con.execute(
            "SELECT run_id, site, counter, value FROM run_stats WHERE run_id = ANY(?::VARCHAR[])",
            [run_ids]).fetchall():
        out.setdefault(run_id, {}).setdefault(site, {})[counter] = value
    return out


def health_shares(stats: dict[str, int]) -> dict[str, float] | None:
    """Share of a run's pages with each field found (None: the run recorded no health counters)."""
    pages = stats.get("health_pages")
    if not pages:
        return None
    return {f: 1 - stats.get(f"health_missing_{f}", 0) / pages for f in HEALTH_FIELDS}


def health_series(runs: list[dict[str, Any]], stats) -> dict[str, list[float | None]]:
    """Per site, the worst field's share of healthy pages in each run, in percent."""
    sites_seen = sorted({s for r in runs for s in stats.get(r["run_id"], {})})
    out = {}
    for site in sites_seen:
        vals = []
        for r in runs:
            shares = health_shares(stats.get(r["run_id"], {}).get(site, {}))
            vals.append(round(100 * min(shares.values()), 1) if shares else None)
        if any(v is not None for v in vals):
            out[site] = vals
    return out


def run_totals(per_site: dict[str, dict[str, int]]) -> dict[str, int]:
    """A run's main counters summed over its sites (failed: every failed:<kind> counter)."""
    out = {k: sum(c.get(k, 0) for c in per_site.values())
           for k in ("fetched", "not_modified", "new", "changed", "unchanged", "stored")}
    out["failed"] = sum(v for c in per_site.values() for k, v in c.items() if k.startswith("failed"))
    return out
