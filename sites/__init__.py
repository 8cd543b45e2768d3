"""The news sites the project knows, one module each (``sites/<name>.py`` defining ``SITE``).

    import sites
    sites.get("reuters").domains      # ('www.reuters.com', 'reuters.com')
    sites.all()                       # every Site, by name
    sites.for_host("reuters.com")     # the Site serving a host, or None

Every module of this package except ``base`` and ``url_rules`` is a site module: adding a
site is adding its module (docs/EXTRACTORS.md); nothing else lists the sites.
"""
from __future__ import annotations

import importlib
import pkgutil

from .base import SHARED_EXTRACTOR, Site, SiteError
from .url_rules import SiteRules

_NOT_SITES = {"base", "url_rules"}


def _discover() -> dict[str, Site]:
    found: dict[str, Site] = {}
    owner: dict[str, str] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name in _NOT_SITES or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        site = getattr(module, "SITE", None)
        if not isinstance(site, Site) or site.name != info.name:
            raise SiteError(f"sites/{info.name}.py must define SITE = Site(name={info.name!r}, ...); "
                            f"a module of the sites package is a site definition")
        shares = next((o for o in found.values() if o.extractor == site.extractor != SHARED_EXTRACTOR), None)
        if shares is not None:
            raise SiteError(f"sites {shares.name!r} and {site.name!r} both name extractor {site.extractor!r}; an "
                            f"extractor serves its own site's domains: give {site.name!r} its own or 'generic'")
        for d in site.domains:
            if d in owner:
                raise SiteError(f"domain {d!r} is listed by sites {owner[d]!r} and {site.name!r}; "
                                f"a domain belongs to one site: remove it from one of them")
            owner[d] = site.name
        found[site.name] = site
    return found


_SITES = _discover()


def get(name: str) -> Site:
    """The Site named ``name``; SiteError naming the known ones otherwise."""
    try:
        return _SITES[name]
    except KeyError:
        raise SiteError(f"no site named {name!r}; defined sites: {', '.join(_SITES)} "
                        f"(add one as sites/{name}.py, see docs/EXTRACTORS.md)") from None


def find(name: str) -> Site | None:
    """The Site named ``name``, or None (a custom site of the config, served by the generic extractor)."""
    return _SITES.get(name)


def all() -> tuple[Site, ...]:  # noqa: A001 - sites.all() reads as what it is
    return tuple(_SITES.values())


def names() -> list[str]:
    return list(_SITES)


def for_host(host: str) -> Site | None:
    """The Site one of whose domains is ``host`` (exactly), or None."""
    host = host.lower()
    return next((s for s in _SITES.values() if host in s.domains), None)


def for_extractor(extractor_name: str) -> Site | None:
    """The Site whose own extractor is registered as ``extractor_name``; None for an extractor no
    Site owns, and for the shared ``generic`` one (any site may use it)."""
    if extractor_name == SHARED_EXTRACTOR:
        return None
    return next((s for s in _SITES.values() if s.extractor == extractor_name), None)


__all__ = ["SHARED_EXTRACTOR", "Site", "SiteError", "SiteRules", "get", "find", "all", "names", "for_host", "for_extractor"]
