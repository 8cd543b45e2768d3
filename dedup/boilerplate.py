"""Learned site boilerplate for sites without a custom extractor.

The generic extractor cannot know that "Subscribe to our newsletter ..." or the ticker
line is chrome: it is a paragraph like any other. But chrome repeats on most pages of a
site while article text does not, so a paragraph whose normalised text appears on at
least ``min_share`` of the site's last ``window`` observed pages (and on at least
``min_pages`` of them, so three pages are not enough evidence) is boilerplate.

Only hashes of normalised paragraphs are kept (8 bytes each), so the state is small
enough to store with the archive (``to_json``/``from_json``).

Call ``observe`` once per page *version* (pass ``page_id`` to make re-observing the same
page harmless: a re-crawl replaces its earlier observation instead of counting twice),
then ``strip`` the page's own paragraphs.
"""
from __future__ import annotations

import hashlib
from collections import Counter, deque
from dataclasses import dataclass, field

from .ticker import normalize_ticker


def paragraph_key(paragraph: str) -> str:
    """Hash of the paragraph's normalised text (quotes, dashes, case and spacing ignored)."""
    norm = normalize_ticker(paragraph)
    return hashlib.blake2b(norm.encode("utf-8"), digest_size=8).hexdigest() if norm else ""


@dataclass
class _SiteWindow:
    pages: deque = field(default_factory=deque)      # (page_id | None, frozenset of keys), oldest first
    counts: Counter = field(default_factory=Counter)  # key -> pages in the window that contain it


class BoilerplateLearner:
    def __init__(self, min_pages: int = 5, min_share: float = 0.3, window: int = 200):
        if not 0 < min_share <= 1 or min_pages < 1 or window < min_pages:
            raise ValueError("need 0 < min_share <= 1 and 1 <= min_pages <= window")
        self.min_pages, self.min_share, self.window = min_pages, min_share, window
        self._sites: dict[str, _SiteWindow] = {}

    def observe(self, site: str, paragraphs: list[str], page_id: str | None = None) -> None:
        """Count one page of ``site``; the oldest page leaves the window when it is full."""
        w = self._sites.setdefault(site, _SiteWindow())
        if page_id is not None:
            for k, (pid, keys) in enumerate(w.pages):
                if pid == page_id:
                    del w.pages[k]
                    w.counts.subtract(keys)
                    break
        keys = frozenset(filter(None, map(paragraph_key, paragraphs)))
        w.pages.append((page_id, keys))
        w.counts.update(keys)
        while len(w.pages) > self.window:
            _, old = w.pages.popleft()
            w.counts.subtract(old)
        if len(w.counts) > 4 * self.window * 32:   # drop zero counts now and then (Counter keeps them)
            w.counts = +w.counts

    def is_boilerplate(self, site: str, paragraph: str) -> bool:
        w = self._sites.get(site)
        if w is None:
            return False
        seen = w.counts.get(paragraph_key(paragraph), 0)
        return seen >= self.min_pages and seen >= self.min_share * len(w.pages)

    def strip(self, site: str, paragraphs: list[str]) -> list[str]:
        """The paragraphs that are not boilerplate, in order."""
        return [p for p in paragraphs if not self.is_boilerplate(site, p)]

    def pages_seen(self, site: str) -> int:
        w = self._sites.get(site)
        return len(w.pages) if w else 0

    def to_json(self) -> dict:
        return {"format": 1, "min_pages": self.min_pages, "min_share": self.min_share, "window": self.window,
                "sites": {site: [[pid, sorted(keys)] for pid, keys in w.pages] for site, w in self._sites.items()}}

    @classmethod
    def from_json(cls, data: dict) -> "BoilerplateLearner":
        learner = cls(data["min_pages"], data["min_share"], data["window"])
        for site, pages in data.get("sites", {}).items():
            w = learner._sites.setdefault(site, _SiteWindow())
            for pid, keys in pages[-learner.window:]:
                w.pages.append((pid, frozenset(keys)))
                w.counts.update(keys)
        return learner
