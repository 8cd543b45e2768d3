"""Registry of extractors by domain. Duplicate names or domains are refused, and so is a site
extractor whose domains are not its Site's (sites/<name>.py is where domains are written)."""
from __future__ import annotations

from urllib.parse import urlsplit

import sites
from newsarchive.errors import NewsarchiveError

from .base import Extractor


class RegistryError(NewsarchiveError, ValueError):
    pass


class Registry:
    def __init__(self) -> None:
        self._by_name: dict[str, Extractor] = {}
        self._by_domain: dict[str, Extractor] = {}

    def register(self, extractor: Extractor) -> Extractor:
        name = extractor.name
        if name in self._by_name:
            raise RegistryError(f"extractor name {name!r} is already registered; pick another name")
        site = sites.for_extractor(name)
        if site is not None and tuple(extractor.domains) != site.domains:
            raise RegistryError(f"extractor {name!r} serves domains {list(extractor.domains)} but its site "
                                f"{site.name!r} lists {list(site.domains)}; set domains = SITE.domains "
                                f"(from {site.module_file}) in the extractor class")
        for domain in extractor.domains:
            domain = domain.lower()
            owner = self._by_domain.get(domain)
            if owner is not None:
                raise RegistryError(
                    f"domain {domain!r} of extractor {name!r} is already owned by extractor "
                    f"{owner.name!r}; a domain can have one extractor only"
                )
        self._by_name[name] = extractor
        for domain in extractor.domains:
            self._by_domain[domain.lower()] = extractor
        return extractor

    def get(self, name: str) -> Extractor:
        try:
            return self._by_name[name]
        except KeyError:
            raise RegistryError(
                f"no extractor named {name!r}; known: {', '.join(sorted(self._by_name))}"
            ) from None

    def for_url(self, url: str) -> Extractor | None:
        """The extractor owning the URL's host or its closest parent domain."""
        host = (urlsplit(url).hostname or "").lower()
        while host:
            if host in self._by_domain:
                return self._by_domain[host]
            _, _, host = host.partition(".")
        return None

    def for_site(self, site_name: str) -> Extractor:
        """The extractor of the Site named ``site_name`` (sites/<name>.py)."""
        return self.get(sites.get(site_name).extractor)

    def names(self) -> list[str]:
        return sorted(self._by_name)
