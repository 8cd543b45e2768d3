"""``Site``: everything the project knows about one news site, written once.

A site module (``sites/<name>.py``) defines ``SITE = Site(...)``; the rest of the code finds
the site's domains, URL rules, extractor, config defaults, replay template and golden pages
from it (``sites.get(name)``), and ``tests/test_sites.py`` checks that they all agree.
This package imports nothing else from the project, so every layer may import it.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Mapping

from newsarchive.errors import NewsarchiveError

from .url_rules import SiteRules


# The extractor every site may use (content scoring, owns no domain): a Site naming it has no
# extractor of its own, so it is nobody's to check against a Site.
SHARED_EXTRACTOR = "generic"


class SiteError(NewsarchiveError, ValueError):
    """A site definition that contradicts itself, or a site that is not defined."""


@dataclass(frozen=True)
class Site:
    """One news site, in the manner of Fundus's ``Publisher``.

    ``extractor`` is the name the site's extractor registers under (``extractors/<name>.py``):
    a name, not the class, because the extractor reads its domains from this Site. A site without
    an extractor of its own names ``"generic"``.
    The config fields (``start_pages`` ... ``politeness``) are the defaults a ``[sites.<name>]``
    table of the TOML config starts from; the TOML may override any of them.
    """
    name: str
    domains: tuple[str, ...]
    extractor: str
    url_rules: SiteRules = field(default_factory=SiteRules)
    # Config defaults (crawl/config.py merges the TOML over them and validates the result).
    start_pages: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()
    sitemaps: tuple[str, ...] = ()
    archive_pages: tuple[str, ...] = ()   # backfill listings with a {page} placeholder
    schedule: str = "0 * * * *"
    timezone: str = "UTC"
    politeness: Mapping[str, Any] = field(default_factory=dict)   # concurrency_per_host, delay_s
    # Where the rest of the site lives: the replay web's page templates (a module path) and the
    # golden pages of tests/test_extractors.py (a directory relative to the repository root).
    replay_template: str = ""
    golden_pages: str = ""

    def __post_init__(self) -> None:
        where = f"site {self.name!r} ({self.module_file})"
        if not self.domains:
            raise SiteError(f"{where}: domains is empty; list the hosts the site serves")
        for d in self.domains:
            if not d or "/" in d or ":" in d or " " in d or d != d.lower():
                raise SiteError(f"{where}: domain {d!r} is not a bare lowercase host name; "
                                f"write 'www.example.com', not a URL")
        host = self.url_rules.host
        if host is not None and host not in self.domains:
            raise SiteError(f"{where}: url_rules host {host!r} is not one of its domains "
                            f"{list(self.domains)}; add it to domains or fix the host")
        # The rules take the Site's name and domains: written once, here.
        object.__setattr__(self, "url_rules", replace(self.url_rules, name=self.name, domains=self.domains))
        object.__setattr__(self, "politeness", MappingProxyType(dict(self.politeness)))
        if not self.golden_pages:
            object.__setattr__(self, "golden_pages", f"tests/pages/{self.name}")

    @property
    def module_file(self) -> str:
        return f"sites/{self.name}.py"

    def owns(self, host: str) -> bool:
        """Whether ``host`` is one of the site's domains (exactly: subdomains are other sites)."""
        return host.lower() in self.domains

    def config_defaults(self) -> dict[str, Any]:
        """The settings of a ``[sites.<name>]`` TOML table, as the TOML would spell them."""
        out: dict[str, Any] = {"domains": list(self.domains), "extractor": self.extractor}
        for key in ("start_pages", "feeds", "sitemaps", "archive_pages"):
            if getattr(self, key):
                out[key] = list(getattr(self, key))
        out["schedule"] = self.schedule
        out["timezone"] = self.timezone
        if self.politeness:
            out["politeness"] = dict(self.politeness)
        return out
