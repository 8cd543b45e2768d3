"""The article steps: one ordered list that every extracted page goes through.

In the manner of Scrapy's item pipelines: a crawl (crawl/pipeline.py) and a re-extraction from
the WARC archive (crawl/reextract.py) run the same steps in the same order, so a page
re-extracted today gives the record the same page crawled today would. Extraction itself comes
before them (site extractor, generic fallback: crawl/extraction.py); staging after them, one
atomic batch at a time.

PREPARE_STEPS need only the page; STORE_STEPS need what the archive knows of the article's
canonical URL (its last content hash), which a crawl looks up once per batch for pages whose
canonical URL is not the one it discovered.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

from dedup import content_hash
from dedup.stories import StoryDoc
from dedup.ticker import normalize_ticker, paragraph_keys
from dedup.urls import canonicalize
from extractors import GENERIC, Article

from .fetch import FetchResult
from .parsejob import Facts

if TYPE_CHECKING:
    from .pipeline import SiteRun


@dataclass
class TickerSighting:
    """One distinct BREAKING item of a site within one run."""
    text: str
    first_seen: datetime
    last_seen: datetime
    times_seen: int
    first_url: str


@dataclass
class Page:
    """One extracted page on its way through the steps."""
    fetch: FetchResult
    article: Article
    content_hash: str | None = None
    known_hash: str | None = None        # the archive's latest hash of the canonical URL
    row: dict[str, Any] | None = None    # the article row to stage (new or changed content)
    # Worked out where the page was parsed (crawl/parsejob.py), valid while the body is still
    # ``pristine_body`` (the same object): a step that changes the body makes them stale.
    facts: Facts | None = None
    pristine_body: str | None = None

    def fact(self, name: str) -> Any:
        """The parse-time fact ``name``, or NOT_KNOWN when there is none or the body changed since."""
        if self.facts is None or self.article.body is not self.pristine_body:
            return NOT_KNOWN
        if name == "signature" and not self.facts.has_signature:
            return NOT_KNOWN
        return getattr(self.facts, name)


NOT_KNOWN: Any = object()   # Page.fact(): work it out here
Step = Callable[["SiteRun", Page], None]


def canonicalise(run: SiteRun, page: Page) -> None:
    """The site's name and the article's canonical URL (rel=canonical, tracking parameters, AMP)."""
    art = page.article
    art.site = run.site.name
    known = page.facts.canonical_url if page.facts is not None else None    # first step: art.url as parsed
    art.url = known if known is not None else canonicalize(page.fetch.final_url, site_rules=run.url_rules,
                                                           canonical_hint=art.url)


def keep_ticker_apart(run: SiteRun, page: Page) -> None:
    keys = page.facts.ticker_keys if page.facts is not None else None   # the ticker list is never changed
    note_ticker(run, page.article.ticker, page.fetch, keys)


def strip_ticker_lines(run: SiteRun, page: Page) -> None:
    """No BREAKING item of the site ever stays in an article body."""
    art = page.article
    if run.ticker and art.body:
        paragraphs = art.body.split("\n\n")
        keys = page.fact("paragraph_keys")
        if keys is NOT_KNOWN:
            keys = paragraph_keys(art.body)
        kept = [p for p, key in zip(paragraphs, keys) if key not in run.ticker]
        if len(kept) != len(paragraphs):
            run.counters["ticker_lines_removed"] += len(paragraphs) - len(kept)
            art.body = "\n\n".join(kept)
            art.quality.append("ticker_lines_removed")


def strip_boilerplate(run: SiteRun, page: Page) -> None:
    """For pages read by the generic extractor, drop paragraphs learned as the site's boilerplate
    (blocks repeating across many recent pages of the site)."""
    art = page.article
    if run.dedup is None or not art.body or run.extractor is not GENERIC:
        return
    paragraphs = art.body.split("\n\n")
    run.dedup.boilerplate.observe(run.site.name, paragraphs, page_id=art.url)
    kept = run.dedup.boilerplate.strip(run.site.name, paragraphs)
    if len(kept) != len(paragraphs):
        run.counters["boilerplate_removed"] += len(paragraphs) - len(kept)
        art.body = "\n\n".join(kept)
        art.quality.append("boilerplate_removed")


def hash_content(run: SiteRun, page: Page) -> None:
    """The hash of the extracted record (never of the raw HTML): equal hashes, same version."""
    run.counters["extracted"] += 1
    known = page.fact("content_hash")
    page.content_hash = content_hash(page.article) if known is NOT_KNOWN else known


def version(run: SiteRun, page: Page) -> None:
    """A new version only where the content changed: new, changed or unchanged."""
    url = page.article.url
    page.known_hash = run.state.hashes.get(url)
    if page.known_hash == page.content_hash:
        run.counters["unchanged"] += 1
        return
    run.counters["new" if page.known_hash is None else "changed"] += 1
    run.state.hashes[url] = page.content_hash
    page.row = article_row(run, page.article, page.fetch, page.content_hash)


def near_duplicate(run: SiteRun, page: Page) -> None:
    """A first-seen URL that repeats an archived article (any site, any run) is kept as its copy."""
    if page.row is None or page.known_hash is not None or run.dedup is None or not page.article.body:
        return
    sig = page.fact("signature")
    if sig is NOT_KNOWN:
        original = run.dedup.neardup.check_and_add(page.article.url, page.article.body)
    else:
        original = run.dedup.neardup.check_and_add(page.article.url, page.article.body, sig)
    if original is not None:
        page.row["duplicate_of"] = original
        run.counters["near_duplicates"] += 1


def story(run: SiteRun, page: Page) -> None:
    """A first-seen original article joins (or starts) its cross-source story."""
    art = page.article
    if (page.row is None or page.known_hash is not None or page.row.get("duplicate_of") or run.dedup is None
            or not art.body or art.published_at is None or not art.title):
        return
    feats = page.fact("story")
    page.row["story_id"] = run.dedup.stories.assign(
        StoryDoc(art.url, run.site.name, art.title, art.body, art.published_at),
        None if feats is NOT_KNOWN else feats)


PREPARE_STEPS: tuple[Step, ...] = (canonicalise, keep_ticker_apart, strip_ticker_lines, strip_boilerplate,
                                   hash_content)
STORE_STEPS: tuple[Step, ...] = (version, near_duplicate, story)
ARTICLE_STEPS: tuple[Step, ...] = PREPARE_STEPS + STORE_STEPS


def run_steps(run: SiteRun, page: Page, steps: tuple[Step, ...]) -> Page:
    for step in steps:
        step(run, page)
    return page


def note_ticker(run: SiteRun, items, r: FetchResult, keys: list[str] | None = None) -> None:
    """Keep the page's BREAKING items apart (counted per distinct normalised item); ``keys``:
    their normalize_ticker keys when already known."""
    for text, key in zip(items, keys if keys is not None else map(normalize_ticker, items)):
        if not key:
            continue
        seen = run.ticker.get(key)
        if seen is None:
            run.ticker[key] = TickerSighting(text, r.fetched_at, r.fetched_at, 1, r.final_url)
        else:
            seen.first_seen = min(seen.first_seen, r.fetched_at)
            seen.last_seen = max(seen.last_seen, r.fetched_at)
            seen.times_seen += 1


def article_row(run: SiteRun, art: Article, r: FetchResult, chash: str) -> dict[str, Any]:
    d = art.to_dict()
    d.update({
        "site": run.site.name, "version": 0, "content_hash": chash, "fetched_url": r.final_url,
        "seen_at": r.fetched_at, "run_id": run.run_id,
        "warc_file": r.warc.filename if r.warc else None,
        "warc_offset": r.warc.offset if r.warc else None,
        "warc_length": r.warc.length if r.warc else None,
    })
    d["images"] = [{"url": i["url"], "caption": i["caption"]} for i in d["images"]]
    return d
