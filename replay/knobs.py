"""Fault and behaviour knobs of the replay web. Defaults: a perfect, fault-free site.

Exact semantics (all deterministic, no randomness at request time):

* A URL is *selected* for a fault kind when ``unit(kind, host, path?query) < fault_rate_<kind>``
  (a fixed hash per URL, so rate 1.0 selects every URL, 0.3 about 30 % of them, always the same).
  Only site URLs whose ``path?query`` matches one of ``fault_paths`` (``re.match``, so a plain
  prefix like ``"/news/"`` works) are eligible; an empty list means every site URL (robots.txt and
  sitemaps included). ``/__replay__/*`` never faults.
* A selected URL faults on its first ``fault_attempts`` requests (counted per host+path+query
  since start or the last ``POST /__replay__/reset``) and behaves normally from then on.
  Kinds are checked in the order 429, 500, truncate, slow, charset, garbage, empty, bad_gzip;
  the first selected kind applies.
  - 429: ``Retry-After: <retry_after_s>`` (seconds), short text body.
  - 500: plain "Internal Server Error".
  - truncate: ``truncate_mode="content_length"`` sends the full ``Content-Length`` but only the first
    half of the bytes, then closes the connection (client sees an incomplete body);
    ``"html"`` sends a valid response whose HTML is cut in half (no ``</html>``);
    ``"chunked"`` sends the first half with chunked transfer encoding, then closes the connection
    without the final chunk.
  - slow: waits ``slow_s`` seconds before answering (asyncio sleep; other requests proceed).
  The content faults below only touch 200 responses with a body, and keep their headers (ETag
  included: a broken server still labels its broken answer):
  - charset: the UTF-8 body under ``Content-Type: text/html; charset=iso-8859-1``.
  - garbage: 8,500 random bytes (seeded by the URL) as ``text/html``.
  - empty: a 200 with an empty body.
  - bad_gzip: ``Content-Encoding: gzip`` over a gzip stream with corrupted compressed data.
* ``revisions``: share of articles (``unit(seed, site, i, "rev")``) that have a revision 2. It is
  served once the article has already been requested ``revision_after_requests`` times (any URL
  variant), or once ``clock() >= revision_at`` when that is set. Revision 2 changes the title,
  edits the last paragraph, appends one, and moves ``modified`` later; ETag changes with it.
* ``url_variants``: share of article links on home/section pages and in RSS that carry tracking
  parameters (``?utm_source=...``) or point at the AMP variant (``/amp/<path>``); both serve the
  article with ``rel=canonical`` to the clean URL.
* ``duplicate_share``: share of articles also published under a second section path
  (``Corpus.duplicate_url``); that URL is linked from listings/sitemaps and its truth has
  ``duplicate_of``. ``syndicate_share``: share of Al Mayadeen articles replaced by a lightly edited
  copy of the Reuters article with the same index (truth has ``syndicated_from``).
* ``redesign``: articles use a different template (other class names, no tawsiyat / JSON-LD).
* ``crawl_delay``: the ``Crawl-delay`` line of robots.txt. ``ticker_period_s``: BREAKING rotation.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass
class Knobs:
    fault_rate_429: float = 0.0
    fault_rate_500: float = 0.0
    fault_rate_truncate: float = 0.0
    fault_rate_slow: float = 0.0
    fault_rate_charset: float = 0.0
    fault_rate_garbage: float = 0.0
    fault_rate_empty: float = 0.0
    fault_rate_bad_gzip: float = 0.0
    fault_attempts: int = 1
    fault_paths: list[str] = field(default_factory=list)
    retry_after_s: int = 1
    slow_s: float = 2.0
    truncate_mode: str = "content_length"      # or "html", "chunked"
    revisions: float = 0.0
    revision_after_requests: int = 1
    revision_at: float | None = None
    url_variants: float = 0.0
    duplicate_share: float = 0.0
    syndicate_share: float = 0.0
    redesign: bool = False
    crawl_delay: float = 0.0
    ticker_period_s: float = 60.0

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    def update(self, data: dict) -> "Knobs":
        """Apply a partial JSON update in place; unknown keys or bad values raise ValueError."""
        names = {f.name: f for f in dataclasses.fields(self)}
        unknown = set(data) - set(names)
        if unknown:
            raise ValueError(f"unknown knobs: {sorted(unknown)}")
        for k, v in data.items():
            cur = getattr(self, k)
            if k == "fault_paths":
                if not isinstance(v, list) or not all(isinstance(p, str) for p in v):
                    raise ValueError("fault_paths must be a list of strings")
            elif k == "truncate_mode":
                if v not in ("content_length", "html", "chunked"):
                    raise ValueError("truncate_mode must be 'content_length', 'html' or 'chunked'")
            elif k == "revision_at":
                v = None if v is None else float(v)
            elif isinstance(cur, bool):
                if not isinstance(v, bool):
                    raise ValueError(f"{k} must be a boolean")
            elif isinstance(cur, int):
                v = int(v)
            elif isinstance(cur, float):
                v = float(v)
                if k.startswith(("fault_rate", "revisions", "url_variants", "duplicate", "syndicate")) and not 0 <= v <= 1:
                    raise ValueError(f"{k} must be within [0, 1]")
            setattr(self, k, v)
        return self
