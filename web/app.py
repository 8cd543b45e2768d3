"""`newsarchive browse`: a read-only Starlette app over the archive (server-side pages, no JS).

Read-only by construction: every page opens a READ_ONLY lake connection (web.queries.Reader),
the search index read-only (storage.search), WARC files for reading. A bad URL or id answers a
404 page; any other failure a one-line error page, never a traceback.
"""
from __future__ import annotations

import functools
import logging
import os
from html import escape
from datetime import date
from typing import Any, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from crawl.config import HealthSettings
from storage.lake import Archive, ArchiveError
from storage.search import SearchError, index_path, search

from . import charts, queries, records
from .overview import outcomes_svg, overview_context
from .render import STATIC_DIR, render

log = logging.getLogger("newsarchive.browse")

# Scripts off everywhere (the pages need none); the archived page in the srcdoc frame inherits
# this policy, so it can neither run scripts nor load anything from the live web. No frame-src:
# Chromium checks the srcdoc frame against it and 'self' blocks it (default-src does not).
CSP = "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'self'"
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer", "X-Frame-Options": "SAMEORIGIN"}
PAGE_SIZE = 50


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    state = request.app.state
    html = render(template, request=request, at=state.at, snapshot=state.snapshot, nav=template, **context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _int(request: Request, name: str, default: int, minimum: int = 0) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HTTPException(400, f"{name}={raw!r}: not a whole number") from None
    if value < minimum:
        raise HTTPException(400, f"{name}={value}: must be {minimum} or more")
    return value


def _date(request: Request, name: str) -> date | None:
    raw = request.query_params.get(name) or None
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise HTTPException(400, f"{name}={raw!r}: not a date; use YYYY-MM-DD") from None


def overview(request: Request) -> HTMLResponse:
    bucket = request.query_params.get("bucket")
    with request.app.state.reader.connect() as con:
        ctx = overview_context(con, since=_date(request, "since"), bucket=bucket,
                               threshold=request.app.state.health.threshold)
    return page(request, "overview.html", **ctx)


def search_page(request: Request) -> HTMLResponse:
    state = request.app.state
    q = (request.query_params.get("q") or "").strip()
    site = request.query_params.get("site") or None
    date_from, date_to = _date(request, "from"), _date(request, "to")
    limit = min(_int(request, "limit", PAGE_SIZE, 1), 500)
    with state.reader.connect() as con:
        all_sites = queries.sites(con)
        hits, error = [], None
        if q and not state.archive.shared and not index_path(state.archive).exists():
            error = "no search index yet: run `newsarchive search --refresh` (a scrape run builds it too)"
        # (a shared archive's search builds this host's index itself: storage.search.ensure_current)
        elif q:
            try:
                hits = search(state.archive, q, site=site, date_from=date_from, date_to=date_to, limit=limit)
            except SearchError as e:
                raise HTTPException(400, str(e)) from None
            if state.at is not None:   # the index follows the latest snapshot: keep what existed then
                present = {r[0] for r in con.execute("SELECT url FROM articles WHERE url = ANY(?::VARCHAR[])",
                                                     [[h.url for h in hits]]).fetchall()}
                hits = [h for h in hits if h.url in present]
    return page(request, "search.html", q=q, site=site, sites=all_sites, date_from=date_from,
                date_to=date_to, hits=hits, error=error)


def article_page(request: Request) -> HTMLResponse:
    url = request.query_params.get("url") or ""
    state = request.app.state
    with state.reader.connect() as con:
        versions = records.article_versions(con, url) if url else []
        if not versions:
            raise HTTPException(404, f"no article with URL {url!r} in the archive")
        latest = versions[-1]
        shown = _int(request, "v", latest["version"], 1)
        chosen = next((v for v in versions if v["version"] == shown), None)
        if chosen is None:
            raise HTTPException(404, f"article {url!r} has no version {shown} (versions 1..{latest['version']})")
        dups = records.near_duplicates(con, url, latest["duplicate_of"])
        story = records.story_articles(con, latest["story_id"]) if latest["story_id"] else []
    raw = records.raw_page(state.archive, chosen)
    return page(request, "article.html", a=latest, versions=versions, chosen=chosen, dups=dups,
                story=[s for s in story if s["url"] != url], raw=raw)


def stories_page(request: Request) -> HTMLResponse:
    n = _int(request, "page", 1, 1)
    with request.app.state.reader.connect() as con:
        rows = records.stories(con, PAGE_SIZE + 1, (n - 1) * PAGE_SIZE)
    return page(request, "stories.html", stories=rows[:PAGE_SIZE], page_no=n, more=len(rows) > PAGE_SIZE)


def story_page(request: Request) -> HTMLResponse:
    story_id = request.path_params["story_id"]
    with request.app.state.reader.connect() as con:
        arts = records.story_articles(con, story_id)
    if not arts:
        raise HTTPException(404, f"no story {story_id!r} in the archive")
    return page(request, "story.html", story_id=story_id, columns=records.by_site(arts), count=len(arts))


def ticker_page(request: Request) -> HTMLResponse:
    site = request.query_params.get("site") or None
    limit = min(_int(request, "limit", 60, 1), 1000)
    with request.app.state.reader.connect() as con:
        items = records.breaking(con, site, limit)
        all_sites = [r[0] for r in con.execute("SELECT DISTINCT site FROM breaking ORDER BY 1").fetchall()]
    rows = [(i["text"], i["site"], i["first_seen"], i["last_seen"],
             f"{i['site']}: {i['text']} | first {i['first_seen']:%Y-%m-%d %H:%M:%S}, last "
             f"{i['last_seen']:%Y-%m-%d %H:%M:%S}, seen {i['times_seen']} times") for i in items]
    chart = charts.timeline("BREAKING items: first seen to last seen", rows)
    return page(request, "ticker.html", items=items, chart=chart, site=site, sites=all_sites)


def runs_page(request: Request) -> HTMLResponse:
    limit = min(_int(request, "limit", 200, 1), 5000)
    with request.app.state.reader.connect() as con:
        runs = list(reversed(queries.recent_runs(con, limit=limit)))
        stats = queries.run_stats(con, [r["run_id"] for r in runs])
    for r in runs:
        per_site = stats.get(r["run_id"], {})
        r["totals"] = queries.run_totals(per_site)
        r["prefect_url"] = records.prefect_run_url(r.get("flow_run_id"), dict(os.environ))
    return page(request, "runs.html", runs=runs)


def run_page(request: Request) -> HTMLResponse:
    run_id = request.path_params["run_id"]
    with request.app.state.reader.connect() as con:
        run = records.run(con, run_id)
        if run is None:
            raise HTTPException(404, f"no run {run_id!r} in the archive")
        stats = queries.run_stats(con, [run_id]).get(run_id, {})
        fetches = records.run_fetches(con, run_id)
        failures = records.run_failures(con, run_id)
    counts: dict[str, dict[str, int]] = {}
    for f in fetches:
        counts.setdefault(f["site"], {}).setdefault(f["outcome"], 0)
        counts[f["site"]][f["outcome"]] += f["n"]
    counters = sorted({k for c in stats.values() for k in c})
    health = {s: queries.health_shares(c) for s, c in sorted(stats.items())}
    return page(request, "run.html", run=run, stats=dict(sorted(stats.items())), counters=counters,
                fetches=fetches, failures=failures, chart=outcomes_svg(run_id, counts), health=health,
                health_settings=request.app.state.health, timings=records.phase_timings(stats),
                prefect_url=records.prefect_run_url(run.get("flow_run_id"), dict(os.environ)))


async def http_error(request: Request, exc: HTTPException) -> HTMLResponse:
    title = {404: "Not found", 400: "Bad request"}.get(exc.status_code, "Error")
    default = not exc.detail or exc.detail.lower() == title.lower()
    detail = f"nothing at {request.url.path}" if default else exc.detail
    return page(request, "error.html", status=exc.status_code, code=exc.status_code, title=title, message=detail)


def error_page(request: Request, exc: Exception) -> HTMLResponse:
    """A failure inside a page: a one-line 500 page and one log line (no traceback anywhere)."""
    log.error("%s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    message = (str(exc) if isinstance(exc, ArchiveError) else f"{type(exc).__name__}: {exc}").splitlines()
    try:
        return page(request, "error.html", status=500, code=500, title="Server error", message=message[0])
    except Exception:   # the error page itself failed (e.g. the archive went away): plain text, still one line
        return HTMLResponse(f"<h1>500 Server error</h1><p>{escape(message[0])}</p>", 500, headers=HEADERS)


async def server_error(request: Request, exc: Exception) -> HTMLResponse:
    return error_page(request, exc)


def guarded(endpoint: Callable[[Request], HTMLResponse]) -> Callable[[Request], HTMLResponse]:
    """The endpoint, answering its own failures with the error page: Starlette's last-resort handler
    would also re-raise them, and the server would log a traceback."""
    @functools.wraps(endpoint)
    def run(request: Request) -> HTMLResponse:
        try:
            return endpoint(request)
        except HTTPException:
            raise
        except Exception as e:   # noqa: BLE001  (any failure of a page becomes the error page)
            return error_page(request, e)
    return run


def create_app(archive: Archive, *, at: int | None = None,
               health: HealthSettings | None = None) -> Starlette:
    """The browse app over ``archive`` (latest snapshot, or ``at``). Raises ArchiveError if it cannot open."""
    reader = queries.Reader(archive, at)
    with reader.connect() as con:      # fail now, with one line, if the archive or snapshot is unusable
        # Pinned: that snapshot; else the latest (what every page sees until the next commit).
        snapshot = con.execute("SELECT snapshot_id, snapshot_time FROM lake.snapshots() "
                               "WHERE ?::BIGINT IS NULL OR snapshot_id = ? ORDER BY snapshot_id DESC LIMIT 1",
                               [at, at]).fetchone()
    routes = [
        *(Route(path, guarded(endpoint)) for path, endpoint in (
            ("/", overview), ("/search", search_page), ("/article", article_page), ("/stories", stories_page),
            ("/story/{story_id}", story_page), ("/ticker", ticker_page), ("/runs", runs_page),
            ("/run/{run_id}", run_page))),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error, Exception: server_error})
    app.state.archive, app.state.reader, app.state.at = archive, reader, at
    # The drift alarm's settings ([health] of the site config) for the health charts and verdicts.
    app.state.snapshot, app.state.health = snapshot, health or HealthSettings()
    return app
