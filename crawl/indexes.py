"""The run's derived dedup indexes (near-duplicates, stories, boilerplate): load and save.

A local archive keeps them in ``<archive>/index/`` (dedup.state, with its own file locks).
A shared archive keeps them in its bucket under ``PREFIX/index/``, mirrored into the
worker's cache (crawl.shared_index).
"""
from __future__ import annotations

from datetime import datetime

from dedup.state import DedupState
from storage.lake import Archive


def load_dedup(archive: Archive, since: datetime | None = None, until: datetime | None = None) -> DedupState:
    if archive.shared:
        from .shared_index import load_shared
        return load_shared(archive, since, until)
    return DedupState.load(archive.root / "index", since=since, until=until)


def save_dedup(archive: Archive, dedup: DedupState) -> None:
    if archive.shared:
        from .shared_index import save_shared
        return save_shared(archive, dedup)
    dedup.save()
