"""Site extractors: pure ``parse(html, url) -> Article`` functions found by domain.

Public API::

    from extractors import extract, registry, Article
    art = extract(html, "https://english.almayadeen.net/news/politics/...")
    art = extract(html, url, extractor="generic")   # force the fallback

Every extractor's ``parse`` first bounds the page (``extractors.limits``: nesting cut at
``limits.MAX_DEPTH`` levels, record flagged ``too_deep``), whoever calls it.
"""
from __future__ import annotations

from . import limits
from .base import Article, Extractor, Image
from .registry import Registry, RegistryError

registry = Registry()

# Importing the site modules registers their extractors.
from . import almayadeen, generic, reuters  # noqa: E402

GENERIC = registry.get("generic")


def extractor_for(url: str, name: str | None = None) -> Extractor:
    """The extractor named ``name``, else the one owning the URL's domain,
    else the generic fallback."""
    if name:
        return registry.get(name)
    return registry.for_url(url) or GENERIC


def extract(html: str, url: str, extractor: str | None = None) -> Article:
    return extractor_for(url, extractor).parse(html, url)


__all__ = [
    "Article", "Extractor", "Image", "Registry", "RegistryError",
    "registry", "extract", "extractor_for", "GENERIC", "limits",
]
