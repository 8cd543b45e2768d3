"""A run's liveness, visible to other processes sharing the archive.

A flow run on a worker holds an exclusive ``flock`` on ``<archive>/locks/runs/<flow_run_id>.lock``
from its first step to its last. Prefect alone cannot tell a run whose worker was SIGKILLed
(it stays RUNNING for ever) from a slow one; the lock can, because the kernel drops it the
moment the process dies. A backfill waiting on chunk runs uses :func:`run_liveness` to mark
dead chunks Crashed and rerun them.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_DIR = ("locks", "runs")


def _path(archive_root: str | os.PathLike, flow_run_id: str) -> Path:
    return Path(archive_root).joinpath(*LOCK_DIR, f"{flow_run_id}.lock")


class RunLock:
    """Held for the life of one flow run (context manager)."""

    def __init__(self, archive_root: str | os.PathLike, flow_run_id: str | None):
        self.path = _path(archive_root, flow_run_id) if flow_run_id else None
        self._fd: int | None = None

    def __enter__(self) -> "RunLock":
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            # Unlinking first: a reader that opens the path afterwards sees "finished", not "dead".
            self.path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None


def run_liveness(archive_root: str | os.PathLike, flow_run_id: str) -> str:
    """``"alive"`` (lock held), ``"dead"`` (lock file left unlocked: the process died) or
    ``"unknown"`` (no lock file: the run has not started its first step, or has finished)."""
    path = _path(archive_root, flow_run_id)
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
