"""Extraction in the crawl: off the event loop, within a per-page budget, and only of pages
that can be articles.

The crawl's event loop keeps fetching while a page is parsed in a worker thread
(``extract_page_off_loop``); pages are bounded before parsing (``extractors.limits``), so the
budget only catches what the bounds miss. Bodies that cannot be an article (empty, or bytes
that are not text under an HTML type) are refused before any extractor sees them
(``unusable_page``). Both mark the fetch failed without validators, so the next run fetches
the page again instead of getting a 304 for an article the archive lacks.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import extractors
from extractors import GENERIC, Article, Extractor

from .fetch import FetchResult, looks_like_text
from .health import missing_fields

if TYPE_CHECKING:
    from .parsejob import Facts, JobSpec
    from .parsepool import PoolJob
    from .pipeline import SiteRun

log = logging.getLogger("newsarchive.crawl")

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
        _extract_timed_out(run, r)
        return None
    return apply_parsed(run, r, parsed)


def job_spec(run: "SiteRun") -> "JobSpec | None":
    """What a parse worker needs for this run's pages; None when the run's extractor is not the
    registry's own (a test double, which only exists in this process): parsed here then."""
    from .parsejob import JobSpec, code_fingerprint
    name = run.extractor.name
    if name not in extractors.registry.names() or extractors.registry.get(name) is not run.extractor:
        return None
    code = (code_fingerprint(run.extractor), code_fingerprint(GENERIC))
    if code in _STALE_CODE:     # a worker found other code for it: this process's code parses
        return None
    nd = run.dedup.neardup if run.dedup is not None else None
    stories = run.dedup.stories if run.dedup is not None else None
    return JobSpec(name, code, run.url_rules,
                   (nd.threshold, nd.num_perm, nd.bands, nd.shingle, nd.min_tokens, nd.seed) if nd is not None else None,
                   stories.lead_paragraphs if stories is not None else None)


async def extract_in_pool(run: "SiteRun", r: FetchResult, job: "PoolJob") -> "tuple[Article | None, Facts | None]":
    """The record parsed by a pool worker (``crawl.parsepool``), within ``run.extract_budget_s``
    from when the crawl waits for it. Over budget: the workers are stuck, so they are killed and
    the page is failed:extract_timeout as in ``extract_page_off_loop``. Workers gone (killed for
    another page, crashed): the page is parsed here instead."""
    try:
        parsed, facts = await asyncio.wait_for(asyncio.wrap_future(job.future), run.extract_budget_s)
    except TimeoutError:
        job.pool.broken(job.generation, f"{r.final_url} took longer than {run.extract_budget_s:g}s", kill=True)
        _extract_timed_out(run, r)
        return None, None
    except Exception as e:   # BrokenProcessPool, or a worker-side failure: as before the pool
        from .parsejob import StaleExtractor
        if isinstance(e, BrokenProcessPool):
            job.pool.broken(job.generation, "a parse worker exited")
        elif isinstance(e, StaleExtractor):
            _STALE_CODE.add(job.spec_code)
            log.info("%s: %s; its pages are parsed in the crawl process", run.site.name, e)
        else:
            log.debug("%s: parse worker failed on %s (%s: %s); parsing it here", run.site.name, r.final_url,
                      type(e).__name__, e)
        return await extract_page_off_loop(run, r), None
    return apply_parsed(run, r, parsed), facts


# Extractor code (JobSpec.code) that the workers do not run: parsed in this process from then on.
_STALE_CODE: set[tuple] = set()


def _extract_timed_out(run: "SiteRun", r: FetchResult) -> None:
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


def unusable_page(run: "SiteRun", r: FetchResult) -> str | None:
    """Why a fetched 200 cannot be an article: "not_html" (another content type, or bytes that
    are not text) or "empty"; None when it can. A body that is not text or empty is a server
    fault: the fetch is marked failed (no validators kept), so the next run fetches it again."""
    ctype = r.headers.get("content-type", "text/html").split(";")[0].strip().lower()
    if ctype not in HTML_TYPES:
        return "not_html"
    if not (r.content or b"").strip():
        kind, what = "empty", "the body is empty"
    elif not looks_like_text(r.text):
        kind, what = "not_html", f"the {len(r.content)}-byte body is not text (binary or garbage bytes)"
    else:
        return None
    r.outcome, r.error_kind, r.etag, r.last_modified = "failed", kind, None, None
    r.error = (f"{run.site.name}: {r.final_url} not stored: HTTP {r.status} but {what}; the server sent a "
               f"broken response, the URL will be fetched again next run")
    run.note_error(kind, r.error)
    return kind
