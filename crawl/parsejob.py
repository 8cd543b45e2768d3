"""One page's parse in a worker process, with what follows from the parsed record alone.

``parse_job`` runs in a ``crawl.parsepool`` worker: the site extractor (generic fallback) as
``crawl.extraction.parse_page``, then the facts the article steps (crawl/steps.py) would
otherwise work out in the crawl process from the record as parsed: its content hash, the
ticker keys of its BREAKING items and of its body paragraphs, its near-duplicate signature and
its story features. They are pure functions of the record; a step uses a fact only while the
body is still the one it was computed on (``Page.pristine_body``), so a record that a step
changed (ticker lines or boilerplate removed) is worked out again exactly as before.
"""
from __future__ import annotations

import inspect
import zlib
from dataclasses import dataclass
from typing import Any

import extractors
from dedup.hashing import content_hash
from dedup.neardup import NearDupIndex
from dedup.stories import features, title_names
from dedup.ticker import normalize_ticker
from dedup.urls import SiteRules, canonicalize

from .extraction import Parsed, parse_page

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
    return (fn.__module__, fn.__qualname__, code.co_filename, code.co_firstlineno, _code_key(code))


def _code_key(code) -> tuple:
    """The code's bytes and constants, nested code objects included (their repr has an address)."""
    consts = tuple(_code_key(c) if inspect.iscode(c) else repr(c) for c in code.co_consts)
    return (zlib.crc32(code.co_code), consts)


@dataclass(frozen=True)
class JobSpec:
    """What a worker needs besides the page: picklable settings of the run's indexes."""
    extractor: str
    code: tuple = ()                     # code_fingerprint of the extractor and of GENERIC, here
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
                  [normalize_ticker(p) for p in body.split("\n\n")] if body else [])
    if spec.url_rules is not None:
        facts.canonical_url = canonicalize(url, site_rules=spec.url_rules, canonical_hint=art.url)
    if body and spec.neardup is not None:
        facts.signature, facts.has_signature = _neardup(spec.neardup).signature(body), True
    if body and art.title and spec.lead_paragraphs is not None:
        phrases, terms = features(art.title, body, spec.lead_paragraphs)
        facts.story = (phrases, terms, title_names(art.title))
    return facts


def parse_job(spec: JobSpec, html: str, url: str) -> tuple[Parsed, Facts | None]:
    """In a worker: the page parsed as in the crawl process, and the kept record's facts."""
    extractor = extractors.registry.get(spec.extractor)
    if spec.code != (code_fingerprint(extractor), code_fingerprint(extractors.GENERIC)):
        raise StaleExtractor(f"extractor {spec.extractor!r} runs other code in the crawl process")
    parsed = parse_page(extractor, html, url)
    art = parsed.fallback if parsed.fallback is not None else parsed.art
    return parsed, (record_facts(art, spec, url) if art is not None else None)
