"""The run's derived dedup indexes (near-duplicates, stories, boilerplate): load and save.

A local archive keeps them in ``<archive>/index/`` (dedup.state, with its own file locks).
"""
from __future__ import annotations

from datetime import datetime

from dedup.state import DedupState
from storage.lake import Archive


def load_dedup(archive: Archive, since: datetime | None = None, until: datetime | None = None) -> DedupState:
    return DedupState.load(archive.root / "index", since=since, until=until)


def save_dedup(archive: Archive, dedup: DedupState) -> None:
    dedup.save()
