"""The dedup indexes of a shared archive: the bucket's ``PREFIX/index/`` is the truth, the
worker's ``archive.root/index`` a cache mirrored from it (nothing there must survive).

The layout is the local one (dedup.state): ``neardup/`` segments are immutable files (a
segment's ``.sig.npy`` marks it complete, a merged segment's ``.members.json`` hides its
members); ``neardup/meta.json``, ``stories/*.json`` and ``boilerplate.json`` are rewritten.

* load: ``pull`` (mirror the bucket into the cache), then ``DedupState.load`` from the cache.
* save: under the archive's Postgres lock ``index`` (one saver across all hosts): pull again,
  delete the leftovers of a saver killed mid-push (segment files without ``.sig.npy``: no
  other saver can be uploading while we hold the lock), run the local save (it merges stories
  and boilerplate with what is on disk, now the bucket's latest, writes a new segment, may
  compact), then push what it changed: ``neardup/meta.json`` first (a reader without it
  ignores the segments), segment files with each ``.sig.npy`` after the others, then the
  rewritten files; what the save deleted (compaction members) goes from the bucket after,
  ``.sig.npy`` first, so a reader never sees a half segment in either direction.

Readers take no Postgres lock: a pull uses a segment only once its ``.sig.npy`` is listed,
and one that finds an object gone under it (a concurrent compaction) lists again. Processes
on one host may share the cache (same ``$NEWSARCHIVE_WORKDIR``): a flock on
``index/.sync.lock`` serialises their pulls, loads and saves.

Segment names carry ``WRITER_TAG`` (random per process), as pids repeat across hosts.
"""
from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import uuid
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterator

from dedup.neardup_segments import writer_tag
from dedup.state import DedupState
from storage.lake import Archive, ArchiveError
from storage.objects import ObjectStoreError, S3Store
from storage.staging import kill_point

WRITER_TAG = uuid.uuid4().hex[:12]
NEARDUP = "neardup/"
NEARDUP_META = "neardup/meta.json"
_MARKERS = (".sig.npy", ".npz")       # a segment is complete once one of these exists
_SYNC_LOCK = ".sync.lock"
_PULL_TRIES = 5
_log = logging.getLogger(__name__)


def _is_segment(rel: str) -> bool:
    return rel.startswith(NEARDUP + "seg-")


def _stem(rel: str) -> str:
    return rel.split(".", 1)[0]


def _is_marker(rel: str) -> bool:
    return rel.endswith(_MARKERS)


def complete_stems(rels) -> set[str]:
    """Segments whose every file is present: the marker and (format 2) ids, ends, and a merged
    segment's members. Requiring all, not just the marker, keeps a reader safe even from a
    saver that lost its lock session mid-push while another deleted its files as leftovers."""
    rels = set(rels)
    out = set()
    for rel in rels:
        if not _is_segment(rel):
            continue
        stem = _stem(rel)
        if rel.endswith(".npz"):
            out.add(stem)
        elif rel.endswith(".sig.npy"):
            need = [f"{stem}.ids.npy", f"{stem}.ends.npy"] + ([f"{stem}.members.json"] if "~" in stem else [])
            if all(n in rels for n in need):
                out.add(stem)
    return out


def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def local_files(root: Path) -> dict[str, tuple[int, int, int]]:
    """The cache's index files (relative path -> size, mtime, inode); locks, temporary and
    partly downloaded files (dot names, ``.tmp``, ``.part``) are not part of the index."""
    out = {}
    for p in root.rglob("*"):
        rel = p.relative_to(root).as_posix()
        if any(part.startswith(".") for part in rel.split("/")) or rel.endswith((".tmp", ".part")):
            continue
        try:
            if p.is_file():
                st = p.stat()
                out[rel] = (st.st_size, st.st_mtime_ns, st.st_ino)
        except FileNotFoundError:
            pass
    return out


@contextmanager
def _host_lock(root: Path) -> Iterator[None]:
    """Processes of one host sharing the cache take turns (the bucket is synced in steps)."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / _SYNC_LOCK, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class SharedIndex:
    """The mirror between ``PREFIX/index/`` in the bucket and ``archive.root/index``."""

    def __init__(self, archive: Archive):
        self.archive = archive
        self.root = archive.root / "index"
        self.prefix = archive.shared.key("index") + "/"
        self.store: S3Store = archive.store

    def remote(self) -> dict[str, tuple[int, str]]:
        """The bucket's index objects: relative path -> (size, ETag)."""
        n = len(self.prefix)
        return {key[n:]: (size, etag) for key, size, etag in self.store.list_etags(self.prefix)}

    # ---- pull ----
    def pull(self) -> dict[str, tuple[int, str]]:
        """Make the cache equal to the bucket's complete index; returns the listing it used."""
        for attempt in range(_PULL_TRIES):
            remote = self.remote()
            try:
                self._pull_once(remote)
                return remote
            except ObjectStoreError as e:
                gone = getattr(e, "index_rel", None)
                # A concurrent save's compaction deleted what we listed: list again.
                if attempt == _PULL_TRIES - 1 or gone is None or gone in self.remote():
                    raise
                _log.info("%s: %s went away during a pull; listing again", self.archive.location, gone)
        raise AssertionError("unreachable")

    def _download(self, rel: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.store.download(self.prefix + rel, path)
        except ObjectStoreError as e:
            e.index_rel = rel
            raise

    def _pull_once(self, remote: dict[str, tuple[int, str]]) -> None:
        complete = complete_stems(remote)
        local = local_files(self.root)
        have = complete_stems(local)
        for stem in sorted(complete - have):
            files = sorted((rel for rel in remote if _stem(rel) == stem), key=_is_marker)   # marker last
            for rel in files:
                self._download(rel)
        # Segments gone from the bucket (compacted away, or never pushed by a killed saver): marker first.
        for rel in sorted((r for r in local if _is_segment(r) and _stem(r) not in complete),
                          key=lambda r: not _is_marker(r)):
            (self.root / rel).unlink(missing_ok=True)
        for rel, (size, etag) in remote.items():
            if _is_segment(rel):
                continue
            path = self.root / rel
            if not (rel in local and local[rel][0] == size and _md5(path) == etag):
                self._download(rel)
        for rel in local:
            if not _is_segment(rel) and rel not in remote:
                (self.root / rel).unlink(missing_ok=True)

    # ---- push ----
    def delete_orphans(self, remote: dict[str, tuple[int, str]]) -> list[str]:
        """Delete the objects of incomplete segments (a saver killed mid-push); call under the lock."""
        complete = complete_stems(remote)
        orphans = [rel for rel in remote if _is_segment(rel) and _stem(rel) not in complete]
        self.store.delete([self.prefix + rel for rel in orphans])
        return orphans

    def push(self, before: dict, after: dict, remote: dict[str, tuple[int, str]]) -> tuple[int, int]:
        """Upload what the local save wrote, delete what it removed; returns (uploaded, deleted)."""
        def rank(rel: str) -> tuple[int, str]:
            if rel == NEARDUP_META:
                return 0, rel
            if _is_segment(rel):
                return (2 if _is_marker(rel) else 1), rel
            return (4 if rel.endswith("meta.json") else 3), rel    # story months before their statistics

        uploaded = 0
        for rel in sorted((r for r, sig in after.items() if before.get(r) != sig), key=rank):
            path = self.root / rel
            if not _is_segment(rel) and rel in remote and _md5(path) == remote[rel][1]:
                continue                 # rewritten with the same bytes (neardup/meta.json each save)
            self.store.put_file(self.prefix + rel, path)
            uploaded += 1
            if _is_segment(rel) and not _is_marker(rel):
                kill_point("index-segment-partly-pushed")
        gone = sorted((r for r in before if r not in after), key=lambda r: not _is_marker(r))
        markers = [self.prefix + r for r in gone if _is_marker(r)]
        self.store.delete(markers)                                  # hidden first, then removed
        self.store.delete([self.prefix + r for r in gone if not _is_marker(r)])
        return uploaded, len(gone)


def load_shared(archive: Archive, since: datetime | None = None, until: datetime | None = None) -> DedupState:
    index = SharedIndex(archive)
    with _host_lock(index.root):
        index.pull()
        return DedupState.load(index.root, since=since, until=until)


def save_shared(archive: Archive, dedup: DedupState) -> None:
    """Save ``dedup`` (loaded by ``load_shared``) into the bucket; one saver at a time."""
    index = SharedIndex(archive)
    if Path(dedup.root) != index.root:
        raise ArchiveError(f"dedup state of {dedup.root} saved into {archive.location}: load it with load_dedup(archive)")
    with _host_lock(index.root), archive.locks.hold("index"):
        remote = index.pull()
        orphans = index.delete_orphans(remote)
        if orphans:
            _log.info("%s: removed %d file(s) of a segment a killed saver left half pushed",
                      archive.location, len(orphans))
        before = local_files(index.root)
        with writer_tag(WRITER_TAG):
            dedup.save()
        index.push(before, local_files(index.root), remote)
