"""Staged batches of a shared archive: local files mirrored to the bucket, claimed in Postgres.

A worker stages a batch exactly as on a local archive (storage.staging: an atomic directory
in its cache), then uploads it as ONE object, ``staging/<run>/batches/<part>.tar`` (a PUT
is all or nothing), before the batch counts as staged. The run's liveness is a Postgres
advisory lock ``staging:<run>`` instead of a ``flock``: when the worker dies, its session
ends and any worker may recover the run. Recovery downloads the run's objects into a fresh
local directory and commits them with the same code as a local archive; the objects are
deleted after the commit, while the lock is still held, and a run already in ``runs`` is
only cleaned up (a crash between the commit and the deletion commits nothing twice).

``before_stage`` runs just before a batch is uploaded: the run's WARC writer ships the files
holding the batch's records there, so no staged row points at a record not in the bucket.
"""
from __future__ import annotations

import io
import json
import logging
import shutil
import tarfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping

from .staging import BATCHES, QUARANTINE, Staging, _SAFE, kill_point

if TYPE_CHECKING:
    from .lake import Archive

log = logging.getLogger("newsarchive.staging")


def _tar_dir(directory: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path in sorted(directory.iterdir()):
            tar.add(path, arcname=path.name)
    return buf.getvalue()


def _untar(data: bytes, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(directory, filter="data")   # 'data': no absolute paths, links or devices


class SharedStaging(Staging):
    def __init__(self, archive: "Archive", run_id: str, before_stage: Callable[[], None] | None = None):
        super().__init__(archive.staging_dir, run_id)
        self.archive = archive
        self.before_stage = before_stage
        self._held = None

    def _key(self, *parts: str) -> str:
        return self.archive.shared.key("staging", _SAFE.sub("_", self.run_id), *parts)

    @property
    def _base(self) -> str:
        """The run's key prefix, with its slash (``staging/<run>/``)."""
        return self._key() + "/"

    # -- liveness ------------------------------------------------------------
    def hold(self) -> "SharedStaging":
        held = self.archive.locks.acquire(f"staging:{self.run_id}", wait=False)
        if held is None:
            raise BlockingIOError(f"staged run {self.run_id} is held by another worker")
        self._held = held
        shutil.rmtree(self.dir, ignore_errors=True)   # a stale local copy of our own earlier attempt
        self.dir.mkdir(parents=True, exist_ok=True)
        return self

    def take(self) -> bool:
        """Claim a run found in the bucket and download it, to recover it; False when its worker
        is alive, another worker recovers it, or it was committed and removed meanwhile."""
        held = self.archive.locks.acquire(f"staging:{self.run_id}", wait=False)
        if held is None:
            return False
        self._held = held
        keys = [k for k, _ in self.archive.store.list(self._base)]
        if not keys:
            self.release()
            return False
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        for key in keys:
            rel = key[len(self._base):]
            data = self.archive.store.get_bytes(key)
            if rel.startswith(f"{BATCHES}/") and rel.endswith(".tar"):
                _untar(data, self.dir / BATCHES / rel[len(BATCHES) + 1:-len(".tar")])
            elif rel == "run.json":
                (self.dir / "run.json").write_bytes(data)
        return True

    def release(self) -> None:
        if self._held is not None:
            self._held.release()
            self._held = None

    def is_alive(self) -> bool:
        return self._held is not None or self.archive.locks.is_held(f"staging:{self.run_id}")

    # -- staging -------------------------------------------------------------
    def append_batch(self, part: str, tables: Mapping[str, Iterable[dict[str, Any]]]) -> dict[str, int]:
        before = {p.name for p in (self.dir / BATCHES).glob("*")} if (self.dir / BATCHES).exists() else set()
        counts = super().append_batch(part, tables)
        new = [p for p in (self.dir / BATCHES).iterdir() if p.name not in before and not p.name.startswith(".")]
        if self.before_stage is not None:
            self.before_stage()
        for path in new:
            self.archive.store.put_bytes(self._key(BATCHES, f"{path.name}.tar"), _tar_dir(path))
        kill_point("batch-uploaded")
        return counts

    def write_meta(self, meta: dict[str, Any]) -> None:
        super().write_meta(meta)
        self.archive.store.put_bytes(self._key("run.json"), (self.dir / "run.json").read_bytes())

    @contextmanager
    def commit_lock(self) -> Iterator[None]:
        with self.archive.locks.hold("commit"):
            yield

    def remove(self) -> None:
        """After the commit (lock still held): the bucket's objects, then the local copy."""
        self.archive.store.delete([k for k, _ in self.archive.store.list(self._base)])
        shutil.rmtree(self.dir, ignore_errors=True)

    def set_aside(self, error: Exception) -> str:
        """Move the run's objects under ``quarantine/<run>/`` (kept for a human); returns where."""
        store, loc = self.archive.store, self.archive.shared
        target = loc.key(QUARANTINE, _SAFE.sub("_", self.run_id))
        keys = [k for k, _ in store.list(self._base)]
        for key in keys:
            store.put_bytes(target + "/" + key[len(self._base):], store.get_bytes(key))
        store.put_bytes(target + "/error.json", json.dumps({"error": f"{type(error).__name__}: {error}"}).encode())
        store.delete(keys)
        shutil.rmtree(self.dir, ignore_errors=True)
        return f"s3://{store.bucket}/{target}/"


def pending_shared_runs(archive: "Archive") -> list[SharedStaging]:
    """Runs with objects under ``staging/`` (never committed, or committed but not cleaned up)."""
    base = archive.shared.key("staging") + "/"
    runs = sorted({key[len(base):].split("/", 1)[0] for key, _ in archive.store.list(base)})
    return [SharedStaging(archive, run) for run in runs if run]
