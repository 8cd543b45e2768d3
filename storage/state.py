"""Incremental crawl state, derived from what the archive already holds.

No mutable state table: validators (ETag / Last-Modified) come from the fetch
log and content hashes from the latest article versions, so the state is
exactly as durable as the archive and a second run sees what the first stored.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import duckdb


@dataclass
class CrawlState:
    validators: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)       # canonical url -> latest content hash
    fetched_hashes: dict[str, str] = field(default_factory=dict)  # fetched url -> last content hash


def load_state(con: duckdb.DuckDBPyConnection, sites: list[str]) -> CrawlState:
    state = CrawlState()
    rows = con.execute("""
        SELECT url, arg_max(etag, fetched_at), arg_max(last_modified, fetched_at),
               arg_max(content_hash, fetched_at)
        FROM fetch_log
        WHERE site IN (SELECT unnest(?::VARCHAR[])) AND kind = 'article' AND outcome = 'fetched'
        GROUP BY url
    """, [sites]).fetchall()
    for url, etag, lm, h in rows:
        if etag or lm:
            state.validators[url] = (etag, lm)
        if h:
            state.fetched_hashes[url] = h
    state.hashes = dict(con.execute("""
        SELECT url, content_hash FROM articles WHERE site IN (SELECT unnest(?::VARCHAR[]))
    """, [sites]).fetchall())
    return state
