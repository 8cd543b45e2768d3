"""Rows of a run waiting for their commit, as JSON lines under <archive>/staging/<run_id>/.

Batches append here as they finish, so a crash loses no fetched page: the raw
response is already in the WARC files and its rows are on disk. The commit
(storage.commit) moves everything into the lake in one transaction; a run that
died before its commit is committed by the next run (``recover``).
"""
from __future__ import annotations

import fcntl
import json
import os
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (set, tuple)):
        return list(value)
    if hasattr(value, "__dataclass_fields__"):
        return {k: getattr(value, k) for k in value.__dataclass_fields__}
    raise TypeError(f"cannot stage value of type {type(value).__name__}")


_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class Staging:
    def __init__(self, staging_root: Path, run_id: str):
        self.run_id = run_id
        self.dir = Path(staging_root) / _SAFE.sub("_", run_id)
        self._lock_fd: int | None = None

    def hold(self) -> "Staging":
        """Mark this run as alive for its whole life: an exclusive lock on ``lock`` that the OS
        drops when the process dies. ``recover`` commits only runs whose lock is free, so a
        run going on in another process (a backfill beside a scheduled run) is never taken."""
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir / "lock", os.O_CREAT | os.O_RDWR, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._lock_fd = fd
        return self

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def is_alive(self) -> bool:
        """Whether some process holds this run's lock (it is still running)."""
        path = self.dir / "lock"
        if not path.exists():
            return False
        fd = os.open(path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)   # closing drops the probe's own lock
        return False

    def append(self, table: str, part: str, rows: Iterable[dict[str, Any]]) -> int:
        """Append rows for ``table`` to the part file ``part`` (one per site/batch); flushed on return."""
        path = self.dir / table / f"{_SAFE.sub('_', part)}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        n = 0
        with path.open("a", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, default=_default, ensure_ascii=False))
                fh.write("\n")
                n += 1
        return n

    def files(self, table: str) -> list[Path]:
        return sorted((self.dir / table).glob("*.jsonl"))

    def write_meta(self, meta: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "run.json").write_text(json.dumps(meta, default=_default), "utf-8")

    def read_meta(self) -> dict[str, Any] | None:
        p = self.dir / "run.json"
        return json.loads(p.read_text("utf-8")) if p.exists() else None


def pending_runs(staging_root: Path) -> list[Staging]:
    """Staged runs never committed (their process died), oldest first."""
    if not staging_root.exists():
        return []
    dirs = sorted((p for p in staging_root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    return [Staging(staging_root, d.name) for d in dirs]
