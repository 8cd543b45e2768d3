"""How one site spells its canonical URLs: the ``SiteRules`` a ``Site`` declares.

The rules are data; ``dedup.urls.canonicalize`` applies them (and re-exports this class,
so ``from dedup.urls import SiteRules`` keeps working). They live here, beside ``Site``,
so that a site module can declare them without importing the canonicaliser (which looks
sites up by name: defining the class there would make the two modules import each other).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SiteRules:
    """How one site spells its canonical URLs.

    ``host``: the preferred host (``None``: keep the host, only dropping ``amp.``/``m.``).
    ``domains``: hosts (and their subdomains) that belong to the site; any of them maps to ``host``.
    ``trailing_slash``: ``True`` article paths end with '/', ``False`` they never do, ``None`` keep.
    ``force_https``: rewrite ``http:`` to ``https:`` (every site we know serves https).
    ``extra_params``: more query parameter names that never change the content.
    ``drop_query``: the site's article URLs carry no meaningful query at all.

    A ``Site`` fills ``name`` and ``domains`` from its own, so a site module writes neither twice.
    """
    name: str = "default"
    host: str | None = None
    domains: tuple[str, ...] = ()
    trailing_slash: bool | None = None
    force_https: bool = True
    extra_params: frozenset[str] = field(default_factory=frozenset)
    drop_query: bool = False
    # Path prefixes of an older URL generation whose slash convention differs: left as they are.
    slash_exempt: tuple[str, ...] = ()

    def owns(self, host: str) -> bool:
        return any(host == d or host.endswith("." + d) for d in self.domains)
