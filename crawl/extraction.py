"""Extraction in the crawl: off the event loop, within a per-page budget, and only of pages
that can be articles.

The crawl's event loop keeps fetching while a page is parsed in a worker process
(crawl/parsepool.py, crawl/parsejob.py) or, without one, in a worker thread
(``extract_page_off_loop``); pages are bounded before parsing (``extractors.limits``), so the
budget only catches what the bounds miss. Bodies that cannot be an article (empty, or bytes
that are not text under an HTML type) are refused before any extractor sees them
(``unusable_page``). Both mark the fetch failed without validators, so the next run fetches
the page again instead of getting a 304 for an article the archive lacks.
"""
from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from extractors import GENERIC, Article, Extractor

from .fetch import FetchResult, looks_like_text
from .health import missing_fields

if TYPE_CHECKING:
    from .pipeline import SiteRun

HTML_TYPES = ("text/html", "application/xhtml+xml")
# Wall-clock budget of one page's extraction in the crawl. A page over it is not stored
# (failed:extract_timeout) and is fetched again next run.
EXTRACT_BUDGET_S = 20.0


@dataclass
class Parsed:
    """What the extractors made of one page (computed off the event loop, applied on it)."""
    art: Article | None = None
    error: str | None = None              # the site extractor raised
    fallback: Article | None = None       # generic record, when the site one failed or had no body
    fallback_error: str | None = None


def parse_page(extractor: Extractor, html: str, url: str) -> Parsed:
    """Site extractor first; the generic fallback when it fails or finds no body. Pure: safe in a
    worker thread (touches no run state)."""
    out = Parsed()
    try:
        out.art = extractor.parse(html, url)
    except Exception as e:  # a broken page must not stop the run
        out.error = f"{type(e).__name__}: {e}"
    if (out.art is None or not out.art.body) and extractor is not GENERIC:
        try:
            out.fallback = GENERIC.parse(html, url)
        except Exception as e:
            out.fallback_error = f"{type(e).__name__}: {e}"
    return out


def apply_parsed(run: "SiteRun", r: FetchResult, parsed: Parsed) -> Article | None:
    """Count and note what ``parse_page`` found; the record to store (or None)."""
    art = parsed.art
    if parsed.error is not None:
        run.counters["extract_failed"] += 1
        run.note_error("extract", f"{run.site.name}: extractor {run.extractor.name!r} failed on "
                                  f"{r.final_url}: {parsed.error}; falling back to 'generic'")
    if run.extractor is not GENERIC:
        run.health.record(r.final_url, missing_fields(art, run.health_settings.min_body_chars))
    if parsed.fallback_error is not None:
        run.note_error("extract", f"{run.site.name}: generic extractor failed on {r.final_url}: "
                                  f"{parsed.fallback_error}")
    if parsed.fallback is not None:
        parsed.fallback.quality.append(f"fallback:generic(from {run.extractor.name})")
        run.counters["extract_fallback"] += 1
        art = parsed.fallback
    return art


async def extract_page_off_loop(run: "SiteRun", r: FetchResult) -> Article | None:
    """Extract in a worker thread within ``run.extract_budget_s``, so a slow page never stalls
    the other fetches of the crawl. Over budget: None, the fetch marked failed:extract_timeout
    (no validators kept, so the next run fetches it again); the thread's late result is dropped."""
    try:
        parsed = await asyncio.wait_for(in_thread(parse_page, run.extractor, r.text or "", r.final_url),
                                        run.extract_budget_s)
    except TimeoutError:
        extract_timed_out(run, r)
        return None
    return apply_parsed(run, r, parsed)


def extract_timed_out(run: "SiteRun", r: FetchResult) -> None:
    run.counters["failed:extract_timeout"] += 1
    r.outcome, r.error_kind, r.etag, r.last_modified = "failed", "extract_timeout", None, None
    r.error = (f"{run.site.name}: {r.final_url} not stored: extraction took longer than "
               f"{run.extract_budget_s:g}s; the page is fetched again next run (its raw response "
               f"is in the WARC files)")
    run.note_error("extract_timeout", r.error)


def in_thread(fn: Callable[..., Any], *args: Any) -> asyncio.Future:
    """``fn(*args)`` in its own daemon thread. Unlike a shared pool, a page still running past its
    budget holds no worker that later pages (or the archive lookups) wait for."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future = loop.create_future()

    def deliver(ok: bool, value: Any) -> None:
        if not fut.done():   # cancelled by the budget: the result is dropped
            fut.set_result(value) if ok else fut.set_exception(value)

    def work() -> None:
        try:
            ok, value = True, fn(*args)
        except BaseException as e:  # delivered to the awaiting coroutine
            ok, value = False, e
        try:
            loop.call_soon_threadsafe(deliver, ok, value)
        except RuntimeError:   # the loop is gone (run over): nobody waits for this page any more
            pass

    threading.Thread(target=work, name="extract", daemon=True).start()
    return fut


def unusable_page(run: "SiteRun", r: FetchResult, *, check_text: bool = True) -> str | None:
    """Why a fetched 200 cannot be an article: "not_html" (another content type, or bytes that
    are not text) or "empty"; None when it can; counted. A body that is not text or empty is a
    server fault: the fetch is marked failed (no validators kept), so the next run fetches it
    again. ``check_text=False``: whether the body is text is left to the parse worker, which
    decodes it anyway (``refuse_unless_text`` then, in this process, with what it found)."""
    ctype = r.headers.get("content-type", "text/html").split(";")[0].strip().lower()
    if ctype not in HTML_TYPES:
        run.counters["not_html"] += 1
        return "not_html"
    if not (r.content or b"").strip():
        return _refuse(run, r, "empty", "the body is empty")
    if check_text and not refuse_unless_text(run, r, looks_like_text(r.text)):
        return "not_html"
    return None


def refuse_unless_text(run: "SiteRun", r: FetchResult, is_text: bool) -> bool:
    """``is_text`` (``looks_like_text`` of the page's text); a page that is not text is refused as
    ``unusable_page`` refuses it."""
    if not is_text:
        _refuse(run, r, "not_html", f"the {len(r.content)}-byte body is not text (binary or garbage bytes)")
    return is_text


def _refuse(run: "SiteRun", r: FetchResult, kind: str, what: str) -> str:
    run.counters[kind] += 1
    r.outcome, r.error_kind, r.etag, r.last_modified = "failed", kind, None, None
    r.error = (f"{run.site.name}: {r.final_url} not stored: HTTP {r.status} but {what}; the server sent a "
               f"broken response, the URL will be fetched again next run")
    run.note_error(kind, r.error)
    return kind
