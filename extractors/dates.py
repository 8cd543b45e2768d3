"""Date parsing for extractors: everything returned is timezone-aware UTC.

When a page gives only a local wall-clock time, the caller passes the site's
timezone (``tz``) and it is applied before converting to UTC.
"""
from __future__ import annotations

from datetime import datetime, timezone, tzinfo
from zoneinfo import ZoneInfo

from dateutil import parser as _dateutil

UTC = timezone.utc
BEIRUT = ZoneInfo("Asia/Beirut")

# Abbreviations dateutil does not know on its own (it only knows UTC/GMT/Z).
_TZINFOS = {
    "UTC": 0, "GMT": 0, "Z": 0,
    "EST": -5 * 3600, "EDT": -4 * 3600, "CST": -6 * 3600, "CDT": -5 * 3600,
    "MST": -7 * 3600, "MDT": -6 * 3600, "PST": -8 * 3600, "PDT": -7 * 3600,
    "BST": 3600, "CET": 3600, "CEST": 7200, "EET": 7200, "EEST": 3 * 3600,
    "IST": 5 * 3600 + 1800, "JST": 9 * 3600, "AEST": 10 * 3600, "AEDT": 11 * 3600,
}


def to_utc(dt: datetime, tz: tzinfo | None = None) -> datetime:
    """Aware datetime in UTC; a naive one is taken as local time in ``tz``
    (UTC when no timezone is given)."""
    if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
        dt = dt.replace(tzinfo=tz or UTC)
    return dt.astimezone(UTC)


def parse_datetime(value: object, tz: tzinfo | None = None) -> datetime | None:
    """Parse an ISO 8601 / RFC 2822 / free-form date string to aware UTC.

    Returns None for empty or unparseable values, and for bare dates far from
    plausible news dates (year < 1990 or > 2100)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return to_utc(value, tz)
    s = str(value).strip()
    if not s:
        return None
    dt: datetime | None
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        try:
            dt = _dateutil.parse(s, tzinfos=_TZINFOS, fuzzy=True)
        except (ValueError, OverflowError, TypeError):
            return None
    if not 1990 <= dt.year <= 2100:
        return None
    return to_utc(dt, tz)


def parse_local(value: str, formats: tuple[str, ...], tz: tzinfo) -> datetime | None:
    """Parse a visible local timestamp with explicit ``strptime`` formats,
    apply the site timezone ``tz``, return UTC."""
    s = " ".join(value.split())
    for fmt in formats:
        try:
            return to_utc(datetime.strptime(s, fmt), tz)
        except ValueError:
            continue
    return None
