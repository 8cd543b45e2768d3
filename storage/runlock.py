"""A run's liveness, visible to other processes sharing the archive.

A flow run on a worker holds a lock from its first step to its last. Prefect alone cannot
tell a run whose worker was SIGKILLed (it stays RUNNING for ever) from a slow one; the lock
can, because it dies with the process. A backfill waiting on chunk runs uses
:func:`run_liveness` to mark dead chunks Crashed and rerun them.

* local archive: an exclusive ``flock`` on ``<archive>/locks/runs/<flow_run_id>.lock`` (the
  kernel drops it when the process dies);
* shared archive: the Postgres advisory lock ``run:<flow_run_id>`` (the server drops it when
  the worker's session ends) plus a marker object ``locks/runs/<flow_run_id>`` in the bucket,
  which tells "started and died" from "not started yet".
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from .lake import Archive
from .location import is_shared

LOCK_DIR = ("locks", "runs")


def _archive(archive: "str | os.PathLike | Archive") -> Archive | None:
    if isinstance(archive, Archive):
        return archive if archive.shared else None
    return Archive(str(archive)) if is_shared(str(archive)) else None


def _root(archive: "str | os.PathLike | Archive") -> Path:
    return archive.root if isinstance(archive, Archive) else Path(archive)


def _path(archive: "str | os.PathLike | Archive", flow_run_id: str) -> Path:
    return _root(archive).joinpath(*LOCK_DIR, f"{flow_run_id}.lock")


class RunLock:
    """Held for the life of one flow run (context manager)."""

    def __init__(self, archive: "str | os.PathLike | Archive", flow_run_id: str | None):
        self.shared = _archive(archive) if flow_run_id else None
        self.flow_run_id = flow_run_id
        self.path = _path(archive, flow_run_id) if flow_run_id and not self.shared else None
        self._fd: int | None = None
        self._held = None

    def __enter__(self) -> "RunLock":
        if self.shared is not None:
            self._held = self.shared.locks.acquire(f"run:{self.flow_run_id}", wait=False)
            if self._held is None:
                raise BlockingIOError(f"flow run {self.flow_run_id} already runs on another worker")
            self.shared.store.put_bytes(self._marker(), b"")
        elif self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return self

    def _marker(self) -> str:
        return self.shared.shared.key(*LOCK_DIR, self.flow_run_id)

    def __exit__(self, *exc) -> None:
        if self._held is not None:
            self.shared.store.delete([self._marker()])   # first: afterwards "finished", not "dead"
            self._held.release()
            self._held = None
        if self._fd is not None:
            # Unlinking first: a reader that opens the path afterwards sees "finished", not "dead".
            self.path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None


def run_liveness(archive: "str | os.PathLike | Archive", flow_run_id: str) -> str:
    """``"alive"`` (lock held), ``"dead"`` (started, lock released without finishing: the process
    died) or ``"unknown"`` (not started its first step, or finished)."""
    shared = _archive(archive)
    if shared is not None:
        if shared.locks.is_held(f"run:{flow_run_id}"):
            return "alive"
        return "dead" if shared.store.exists(shared.shared.key(*LOCK_DIR, flow_run_id)) else "unknown"
    path = _path(archive, flow_run_id)
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return "unknown"
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return "alive"
    finally:
        os.close(fd)
    return "dead"
