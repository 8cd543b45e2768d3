"""Single records for the pages: an article with its versions, stories, the ticker, a run.

Bound parameters throughout; a missing record is ``None`` (the page answers 404).
"""
from __future__ import annotations

import re
from typing import Any

from crawl.warc import WarcRef
from crawl.warc_store import read_archived
from newsarchive.errors import NewsarchiveError
from storage.lake import Archive

from .diff import counts, shorten_same, word_diff
from .queries import rows_as_dicts

RAW_LIMIT = 3_000_000       # bytes of an archived page shown in the frame
_CHARSET = re.compile(r"charset=([\w.:-]+)", re.I)


def article_versions(con, url: str) -> list[dict[str, Any]]:
    """Every stored version of ``url``, oldest first, each with its diff against the one before."""
    versions = rows_as_dicts(con.execute("SELECT * FROM article_versions WHERE url = ? ORDER BY version", [url]))
    for prev, cur in zip([None] + versions, versions):
        if prev is None:
            cur["diff"] = None
            continue
        title = word_diff(prev["title"], cur["title"])
        body = word_diff(prev["body"], cur["body"])
        cur["diff"] = {"title": title if any(p.op != "same" for p in title) else None,
                       "body": shorten_same(body) if any(p.op != "same" for p in body) else None,
                       "counts": counts(title + body)}
    return versions


def near_duplicates(con, url: str, duplicate_of: str | None) -> dict[str, list[dict[str, Any]]]:
    """Copies of this article, and the original it copies (if it is a copy)."""
    copies = rows_as_dicts(con.execute(
        "SELECT url, site, title, published_at FROM duplicates WHERE duplicate_of = ? ORDER BY seen_at", [url]))
    original = []
    if duplicate_of:
        original = rows_as_dicts(con.execute(
            "SELECT url, site, title, published_at FROM article_versions WHERE url = ? "
            "ORDER BY version DESC LIMIT 1", [duplicate_of]))
    return {"copies": copies, "original": original}


def story_articles(con, story_id: str) -> list[dict[str, Any]]:
    return rows_as_dicts(con.execute(
        "SELECT url, site, title, summary, published_at, body, authors FROM articles WHERE story_id = ? "
        "ORDER BY published_at NULLS LAST, url", [story_id]))


def stories(con, limit: int, offset: int = 0, min_sites: int = 2) -> list[dict[str, Any]]:
    return rows_as_dicts(con.execute(
        "SELECT story_id, articles, sites, site_list, first_published, last_published, titles, urls "
        "FROM stories WHERE sites >= ? ORDER BY last_published DESC NULLS LAST, story_id LIMIT ? OFFSET ?",
        [min_sites, limit, offset]))


def by_site(articles: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for a in articles:
        out.setdefault(a["site"], []).append(a)
    return dict(sorted(out.items()))


def breaking(con, site: str | None, limit: int) -> list[dict[str, Any]]:
    return rows_as_dicts(con.execute(
        "SELECT site, text, first_seen, last_seen, times_seen, first_url FROM breaking "
        "WHERE ?::VARCHAR IS NULL OR site = ? ORDER BY first_seen DESC, site, text LIMIT ?",
        [site, site, limit]))


def run(con, run_id: str) -> dict[str, Any] | None:
    rows = rows_as_dicts(con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id]))
    return rows[0] if rows else None


def run_fetches(con, run_id: str) -> list[dict[str, Any]]:
    """Fetches per site, kind and outcome (with failure kinds) of one run."""
    return rows_as_dicts(con.execute(
        "SELECT site, kind, outcome, coalesce(error_kind, '') AS error_kind, count(*) AS n, "
        "round(avg(elapsed_ms)) AS avg_ms FROM fetch_log WHERE run_id = ? GROUP BY ALL ORDER BY ALL", [run_id]))


def run_failures(con, run_id: str, limit: int = 20) -> list[dict[str, Any]]:
    return rows_as_dicts(con.execute(
        "SELECT site, kind, url, status, error_kind, error FROM fetch_log WHERE run_id = ? AND outcome = 'failed' "
        "ORDER BY fetched_at LIMIT ?", [run_id, limit]))


def raw_page(archive: Archive, version: dict[str, Any]) -> dict[str, Any]:
    """The archived HTTP response of a version, from its WARC record: status, type, decoded HTML.

    ``error`` instead of ``html`` when the record is missing or unreadable: the page still renders.
    """
    name, offset, length = version.get("warc_file"), version.get("warc_offset"), version.get("warc_length")
    if not name or offset is None or not length:
        return {"error": "this version has no WARC record"}
    root = archive.warc_dir.resolve()
    path = (root / name).resolve()
    if root not in path.parents:     # a catalog row never points outside <archive>/warc
        return {"error": f"WARC file {name!r} is outside {root}"}
    try:
        url, status, headers, body = read_archived(archive, WarcRef(str(path.relative_to(root)), offset, length))
    except (OSError, ValueError, NewsarchiveError) as e:
        return {"error": f"cannot read the WARC record: {e}"}
    ctype = headers.get("content-type", "")
    m = _CHARSET.search(ctype)
    try:
        html = body[:RAW_LIMIT].decode(m.group(1) if m else "utf-8", errors="replace")
    except LookupError:
        html = body[:RAW_LIMIT].decode("utf-8", errors="replace")
    return {"url": url, "status": status, "content_type": ctype, "bytes": len(body), "html": html,
            "truncated": len(body) > RAW_LIMIT, "file": name, "offset": offset, "error": None}


def prefect_run_url(flow_run_id: str | None, env: dict[str, str]) -> str | None:
    """Link to the run in the Prefect UI: PREFECT_UI_URL, else PREFECT_API_URL without its /api."""
    if not flow_run_id:
        return None
    base = env.get("PREFECT_UI_URL") or ""
    if not base and env.get("PREFECT_API_URL"):
        base = re.sub(r"/api/?$", "", env["PREFECT_API_URL"].rstrip("/"))
    if not base.startswith(("http://", "https://")):
        return None
    return f"{base.rstrip('/')}/runs/flow-run/{flow_run_id}"


def phase_timings(stats: dict[str, dict[str, int]]) -> dict[str, int]:
    """Phase timings when a run stored them as counters (``phase_<name>_ms``); else empty."""
    out: dict[str, int] = {}
    for counters in stats.values():
        for name, value in counters.items():
            if name.startswith("phase_"):
                out[name.removeprefix("phase_")] = value
    return out

