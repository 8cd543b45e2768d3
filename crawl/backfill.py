"""Backfill windows: a date range split into chunks, each crawled as its own flow run."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from newsarchive.errors import NewsarchiveError


class BackfillError(NewsarchiveError, ValueError):
    pass


def split_range(date_from: date, date_to: date, chunk_days: int, *, today: date | None = None,
                site: str = "") -> list[tuple[datetime, datetime]]:
    """[date_from, date_to] (inclusive days, UTC) as consecutive (since, until) windows, newest first.

    Newest first, so an interrupted backfill has already archived the most
    recent (usually most wanted) part.
    """
    today = today or datetime.now(timezone.utc).date()
    where = f"backfill of {site}: " if site else "backfill: "
    if chunk_days < 1:
        raise BackfillError(f"{where}--chunk-days must be >= 1 (got {chunk_days})")
    if date_from > date_to:
        raise BackfillError(f"{where}--from {date_from} is after --to {date_to}; swap them")
    if date_from > today:
        raise BackfillError(f"{where}--from {date_from} is in the future (today is {today} UTC); "
                            f"a backfill fetches the past")
    chunks = []
    start = date_from
    while start <= date_to:
        end = min(start + timedelta(days=chunk_days - 1), date_to)
        chunks.append((datetime.combine(start, time.min, timezone.utc),
                       datetime.combine(end, time.max, timezone.utc)))
        start = end + timedelta(days=1)
    return chunks[::-1]
