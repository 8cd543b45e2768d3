"""Site extractors: pure ``parse(html, url) -> Article`` functions found by domain.

Public API::

    from extractors import extract, registry, Article
    art = extract(html, "https://english.almayadeen.net/news/politics/...")
    art = extract(html, url, extractor="generic")   # force the fallback

Every extractor's ``parse`` first bounds the page (``extractors.limits``: nesting cut at
``limits.MAX_DEPTH`` levels, record flagged ``too_deep``), whoever calls it.
"""
from __future__ import annotations

import importlib

import sites

from . import limits
from .base import Article, Extractor, Image
from .registry import Registry, RegistryError

registry = Registry()

# Importing an extractor module registers its extractor. A Site (sites/<name>.py) names its
# extractor, which lives in extractors/<that name>.py: importing it here is what registers it.
from . import generic  # noqa: E402

for _site in sites.all():
    if _site.extractor not in registry.names():
        importlib.import_module(f"{__name__}.{_site.extractor}")
    if _site.extractor not in registry.names():
        raise RegistryError(f"site {_site.name!r} ({_site.module_file}) names extractor {_site.extractor!r}, but "
                            f"extractors/{_site.extractor}.py registers no extractor of that name; "
                            f"end that module with registry.register(YourExtractor())")
del _site

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
