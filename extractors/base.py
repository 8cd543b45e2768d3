"""The article record every extractor returns, and the extractor contract.

An extractor is pure: ``parse(html, url) -> Article``, no I/O. It declares a
``name``, the ``domains`` it owns and a ``version``; the registry in
``extractors.registry`` finds it by domain and refuses duplicates.
"""
from __future__ import annotations

import copy
import functools
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from datetime import datetime
from typing import Any, Callable, ClassVar

from . import limits


@dataclass(frozen=True)
class Image:
    url: str
    caption: str | None = None


@dataclass
class Article:
    """One extracted article. Field names are a public API (README)."""

    url: str                                   # canonical URL
    site: str                                  # site name from the config, or the host
    title: str | None = None
    summary: str | None = None                 # standfirst / description
    authors: list[str] = field(default_factory=list)
    source: str | None = None                  # agency credit, e.g. "Agencies"
    published_at: datetime | None = None       # timezone-aware, UTC
    modified_at: datetime | None = None        # timezone-aware, UTC
    section: str | None = None
    tags: list[str] = field(default_factory=list)
    language: str | None = None
    dateline: str | None = None                # e.g. "ISTANBUL"
    body: str = ""                             # paragraphs in order, joined by "\n\n"
    images: list[Image] = field(default_factory=list)
    credits: str | None = None                 # "Additional reporting by ...; Editing by ..."
    related: list[str] = field(default_factory=list)   # related article URLs
    ticker: list[str] = field(default_factory=list)    # BREAKING items seen on the page
    extractor: str = ""
    extractor_version: str = ""
    quality: list[str] = field(default_factory=list)   # flags, e.g. "no_date", "meta:json-ld"

    @property
    def paragraphs(self) -> list[str]:
        return [p for p in self.body.split("\n\n") if p]

    def to_dict(self) -> dict[str, Any]:
        """``dataclasses.asdict`` (lists copied, images as dicts) with ISO dates, without
        asdict's deep copy of every string (a tenth of the crawl's per-page steps)."""
        d = {}
        for name in _ARTICLE_FIELDS:
            value = getattr(self, name)
            if type(value) is list:
                value = [v if type(v) is str else _copied(v) for v in value]
            elif not (value is None or type(value) is str or isinstance(value, datetime)):
                value = _copied(value)      # (a datetime is immutable, and made a string below)
            d[name] = value
        for key in ("published_at", "modified_at"):
            if d[key] is not None:
                d[key] = d[key].isoformat()
        return d


_ARTICLE_FIELDS = tuple(f.name for f in fields(Article))


def _copied(value: Any) -> Any:
    """What ``asdict`` makes of one field value or list item."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return copy.deepcopy(value)


class Extractor:
    """Base class for site extractors. Subclasses set the class attributes
    and implement ``parse``; ``is_article_url`` tells discovery which links on
    home/section pages are articles."""

    name: ClassVar[str]
    domains: ClassVar[tuple[str, ...]]
    version: ClassVar[str] = "1"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Every subclass's parse() gets the hostile-page bounds, whoever calls it (pipeline,
        # re-extraction, ``extract``, one extractor borrowing another): no unguarded entry.
        super().__init_subclass__(**kwargs)
        parse = cls.__dict__.get("parse")
        if parse is not None and not getattr(parse, "_bounded", False):
            cls.parse = _bounded(parse)

    def parse(self, html: str, url: str) -> Article:  # pragma: no cover - abstract
        raise NotImplementedError

    def is_article_url(self, url: str) -> bool:
        """Whether a link found on a home/section page points at an article."""
        return False


def _bounded(parse: Callable[..., Article]) -> Callable[..., Article]:
    """``parse`` applied to the page cut to ``limits.MAX_DEPTH`` levels of nesting; a page
    that had to be cut is flagged ``too_deep`` (its text is kept)."""
    @functools.wraps(parse)
    def bounded_parse(self: Extractor, html: str | bytes, url: str) -> Article:
        if isinstance(html, bytes):
            html = html.decode("utf-8", errors="replace")
        page = limits.bound_depth(html)
        art = parse(self, page.text, url)
        if page.dropped and limits.TOO_DEEP not in art.quality:
            art.quality.append(limits.TOO_DEEP)
        return art

    bounded_parse._bounded = True  # type: ignore[attr-defined]
    return bounded_parse
