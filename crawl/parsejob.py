"""One page's parse in a worker process, with what follows from the parsed record alone.

``parse_job`` runs in a ``crawl.parsepool`` worker (``job_spec`` and ``extract_in_pool`` are
its crawl-process side): the site extractor (generic fallback) as
``crawl.extraction.parse_page``, then the facts the article steps (crawl/steps.py) would
otherwise work out in the crawl process from the record as parsed: its content hash, the
ticker keys of its BREAKING items and of its body paragraphs, its near-duplicate signature and
its story features. They are pure functions of the record; a step uses a fact only while the
body is still the one it was computed on (``Page.pristine_body``), so a record that a step
changed (ticker lines or boilerplate removed) is worked out again exactly as before.
"""
from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import zlib
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import extractors
from dedup.hashing import content_hash
from dedup.neardup import NearDupIndex
from dedup.stories import features, title_names
from dedup.ticker import normalize_ticker, paragraph_keys
from dedup.urls import SiteRules, canonicalize

from .extraction import (Parsed, apply_parsed, extract_page_off_loop, extract_timed_out, parse_page,
                         refuse_unless_text)
from .fetch import FetchResult, decode_body, looks_like_text
from .parsepool import PoolJob

if TYPE_CHECKING:
    from .pipeline import SiteRun

log = logging.getLogger("newsarchive.crawl")

@dataclass
class Facts:
    """Pure facts of the record ``apply_parsed`` keeps (the fallback when there is one)."""
    content_hash: str
    ticker_keys: list[str]               # normalize_ticker of each item of article.ticker
    paragraph_keys: list[str]            # normalize_ticker of each body.split("\n\n")
    canonical_url: str | None = None     # canonicalize(fetched URL, the site's rules, hint=article.url)
    signature: Any = None                # NearDupIndex.signature(body) (None: too short) ...
    has_signature: bool = False          # ... when worked out
    story: tuple | None = None           # (phrases, terms, title names) as StoryIndex._features


class StaleExtractor(Exception):
    """The worker's extractor code is not the crawl process's (patched or reloaded there)."""


def code_fingerprint(extractor: extractors.Extractor) -> tuple:
    """Which code ``extractor.parse`` runs: equal in the crawl process and a worker only when
    both would parse alike (an extractor patched in the crawl process, as tests do, differs)."""
    fn = inspect.unwrap(getattr(extractor.parse, "__func__", extractor.parse))
    code = getattr(fn, "__code__", None)
    if code is None:
        return (repr(fn),)
    return _fingerprinted(fn, code)[1]


def code_digest(extractor: extractors.Extractor) -> str:
    """``code_fingerprint`` as 128 bits: what a job carries (the fingerprint is 2 KiB of
    constants, pickled in the crawl process and unpickled in a worker for every page)."""
    fn = inspect.unwrap(getattr(extractor.parse, "__func__", extractor.parse))
    code = getattr(fn, "__code__", None)
    if code is None:
        return _digest((repr(fn),))
    return _fingerprinted(fn, code)[2]


def _digest(fingerprint: tuple) -> str:
    return hashlib.blake2b(repr(fingerprint).encode(), digest_size=16).hexdigest()


def _fingerprinted(fn, code) -> tuple:
    """(code, fingerprint, digest), worked out once per code object (a worker checks it for
    every page: 30 us each time). Code objects are immutable, and the cache holds them, so an id
    is never reused for another."""
    key = (id(code), fn.__module__, fn.__qualname__)
    cached = _FINGERPRINTS.get(key)
    if cached is None or cached[0] is not code:
        fingerprint = (fn.__module__, fn.__qualname__, code.co_filename, code.co_firstlineno, _code_key(code))
        cached = _FINGERPRINTS[key] = (code, fingerprint, _digest(fingerprint))
    return cached


_FINGERPRINTS: dict[tuple, tuple] = {}   # (id(code), module, qualname) -> (code, fingerprint, digest)


def _code_key(code) -> tuple:
    """The code's bytes and constants, nested code objects included (their repr has an address)."""
    consts = tuple(_code_key(c) if inspect.iscode(c) else repr(c) for c in code.co_consts)
    return (zlib.crc32(code.co_code), consts)


@dataclass(frozen=True)
class JobSpec:
    """What a worker needs besides the page: picklable settings of the run's indexes."""
    extractor: str
    code: tuple = ()                     # code_digest of the extractor and of GENERIC, here
    url_rules: SiteRules | None = None   # the run's; None: canonical URLs worked out in the crawl
    neardup: tuple | None = None         # (threshold, num_perm, bands, shingle, min_tokens, seed)
    lead_paragraphs: int | None = None   # the story index's


_INDEXES: dict[tuple, NearDupIndex] = {}


def _neardup(params: tuple) -> NearDupIndex:
    index = _INDEXES.get(params)
    if index is None:
        threshold, num_perm, bands, shingle, min_tokens, seed = params
        index = _INDEXES[params] = NearDupIndex(threshold, num_perm, bands=bands, shingle=shingle,
                                                min_tokens=min_tokens, seed=seed)
    return index


def record_facts(art: extractors.Article, spec: JobSpec, url: str) -> Facts:
    body = art.body or ""
    facts = Facts(content_hash(art), [normalize_ticker(t) for t in art.ticker],
                  paragraph_keys(body) if body else [])
    if spec.url_rules is not None:
        facts.canonical_url = canonicalize(url, site_rules=spec.url_rules, canonical_hint=art.url)
    if body and spec.neardup is not None:
        facts.signature, facts.has_signature = _neardup(spec.neardup).signature(body), True
    if body and art.title and spec.lead_paragraphs is not None:
        phrases, terms = features(art.title, body, spec.lead_paragraphs)
        facts.story = (phrases, terms, title_names(art.title))
    return facts


def parse_job(spec: JobSpec, content: bytes, content_type: str | None,
              url: str) -> tuple[Parsed | None, Facts | None]:
    """In a worker: the page decoded and parsed as in the crawl process, and the kept record's
    facts; (None, None) when the body is not text (``looks_like_text``: refused, not parsed)."""
    extractor = extractors.registry.get(spec.extractor)
    if spec.code != (code_digest(extractor), code_digest(extractors.GENERIC)):
        raise StaleExtractor(f"extractor {spec.extractor!r} runs other code in the crawl process")
    html = decode_body(content, content_type)[1]
    if not looks_like_text(html):
        return None, None
    parsed = parse_page(extractor, html, url)
    art = parsed.fallback if parsed.fallback is not None else parsed.art
    return parsed, (record_facts(art, spec, url) if art is not None else None)


# -- in the crawl process ------------------------------------------------------------------
# Extractor code (JobSpec.code) that the workers do not run: parsed in this process from then on.
_STALE_CODE: set[tuple] = set()


def job_spec(run: "SiteRun") -> JobSpec | None:
    """What a parse worker needs for this run's pages; None when the run's extractor is not the
    registry's own (a test double, which only exists in this process) or runs other code than
    the workers': its pages are parsed here then."""
    name = run.extractor.name
    if name not in extractors.registry.names() or extractors.registry.get(name) is not run.extractor:
        return None
    code = (code_digest(run.extractor), code_digest(extractors.GENERIC))
    if code in _STALE_CODE:
        return None
    nd = run.dedup.neardup if run.dedup is not None else None
    stories = run.dedup.stories if run.dedup is not None else None
    return JobSpec(name, code, run.url_rules,
                   (nd.threshold, nd.num_perm, nd.bands, nd.shingle, nd.min_tokens, nd.seed) if nd is not None else None,
                   stories.lead_paragraphs if stories is not None else None)


async def extract_in_pool(run: "SiteRun", r: FetchResult, job: PoolJob) -> tuple[extractors.Article | None, Facts | None]:
    """The record parsed by a pool worker (``crawl.parsepool``), within ``run.extract_budget_s``
    from when the crawl waits for it; a page the worker found not to be text is refused here
    (``refuse_unless_text``), and so is one parsed here instead that is not text. Over budget:
    the workers are stuck, so they are killed and the page is failed:extract_timeout as in
    ``extract_page_off_loop``; but when the page went to the worker with others
    (``ParsePool.submit_soon``), which of them is stuck is not known, so each is sent again
    alone and only the stuck one fails. Workers gone (killed for another page,
    crashed) or running other extractor code: the page is parsed here instead."""
    fut = job.future
    if fut.cancelled():
        # Dropped from the queue when the pool stopped (another page over budget, a worker exit):
        # like a worker gone, the page is parsed here.
        return await _after_workers_gone(run, r, job)
    try:
        if fut.done():
            # Parsed while the crawl went on fetching (most pages): its result (or exception, handled
            # below as before), without a wrapping future, a timeout handle and a loop wake-up.
            parsed, facts = fut.result()
        else:
            parsed, facts = await asyncio.wait_for(asyncio.wrap_future(fut), run.extract_budget_s)
    except asyncio.CancelledError:
        # The job was dropped while we waited (the pool stopped: its queue is cancelled), not this
        # crawl: parse here. A cancelled crawl (this task being cancelled) goes on cancelling.
        if fut.cancelled() and not asyncio.current_task().cancelling():
            return await _after_workers_gone(run, r, job)
        raise
    except TimeoutError:
        batch = job.batch
        if batch is not None and batch.size > 1:
            batch.suspect = True
            job.pool.broken(job.generation, f"a job of {batch.size} pages took longer than "
                            f"{run.extract_budget_s:g}s", kill=True, count=False)
            return await _after_workers_gone(run, r, job)
        job.pool.broken(job.generation, f"{r.final_url} took longer than {run.extract_budget_s:g}s", kill=True)
        extract_timed_out(run, r)
        return None, None
    except Exception as e:   # BrokenProcessPool, or a worker-side failure: as before the pool
        if isinstance(e, BrokenProcessPool):
            job.pool.broken(job.generation, "a parse worker exited")
            return await _after_workers_gone(run, r, job)
        if isinstance(e, StaleExtractor):
            _STALE_CODE.add(job.spec_code)
            log.info("%s: %s; its pages are parsed in the crawl process", run.site.name, e)
        else:
            log.debug("%s: parse worker failed on %s (%s: %s); parsing it here", run.site.name, r.final_url,
                      type(e).__name__, e)
        return await _parse_here(run, r), None
    if parsed is None:
        refuse_unless_text(run, r, False)
        return None, None
    return apply_parsed(run, r, parsed), facts


async def _parse_here(run: "SiteRun", r: FetchResult) -> extractors.Article | None:
    """A page sent to the workers, parsed in this process after all: checked first for what the
    worker would have checked (whether the body is text), as ``unusable_page`` left that to it."""
    if not refuse_unless_text(run, r, looks_like_text(r.text)):
        return None
    return await extract_page_off_loop(run, r)


async def _after_workers_gone(run: "SiteRun", r: FetchResult, job: PoolJob) -> tuple[extractors.Article | None, Facts | None]:
    """The page of a job the workers did not finish: parsed here, or, when its batch was over
    budget (one of its pages may be the stuck one, which must not run in this process), sent
    again alone, to new workers."""
    if job.batch is not None and job.batch.suspect:
        alone = job.pool.resend_alone(job)
        if alone is not None:
            return await extract_in_pool(run, r, alone)
    return await _parse_here(run, r), None
