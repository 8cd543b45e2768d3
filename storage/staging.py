"""Rows of a run waiting for their commit, as JSON lines under <archive>/staging/<run_id>/.

Batches land here as they finish, so a crash loses no fetched page: the raw
response is already in the WARC files and its rows are on disk. The commit
(storage.commit) moves everything into the lake in one transaction; a run that
died before its commit is committed by the next run (``recover``).

A batch is staged atomically: its tables (a page's fetch-log row and its
article row) are written into a hidden temporary directory, fsynced, and the
directory is renamed to ``batches/<part>/`` in one step. A kill at any point
leaves either the whole batch or none of it (a leftover ``.tmp-*`` directory is
never read). Staging directories written by older versions (``<table>/<part>.jsonl``,
appended line by line) are still read; a torn last line there is dropped with a
warning (``drop_torn_lines``).
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import signal
import uuid
from collections import Counter
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import orjson

from newsarchive.fsutil import file_lock, fsync_path

log = logging.getLogger("newsarchive.staging")

BATCHES = "batches"
QUARANTINE = "quarantine"        # staged runs that could not be recovered, kept for a human
ENV_KILL_AT = "NEWSARCHIVE_TEST_KILL_AT"
_kill_hits: Counter = Counter()


def kill_point(name: str) -> None:
    """Test hook for the crash tests: SIGKILL this process at the named point.

    ``NEWSARCHIVE_TEST_KILL_AT=<name>`` kills at the first time the point is reached,
    ``<name>:<n>`` at the n-th. Unset (always, outside tests) it costs one dict lookup.
    """
    wanted = os.environ.get(ENV_KILL_AT)
    if not wanted:
        return
    point, _, nth = wanted.partition(":")
    if point != name:
        return
    _kill_hits[name] += 1
    if _kill_hits[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (set, tuple)):
        return list(value)
    if hasattr(value, "__dataclass_fields__"):
        return {k: getattr(value, k) for k in value.__dataclass_fields__}
    raise TypeError(f"cannot stage value of type {type(value).__name__}")


_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _json_line(row: dict[str, Any]) -> bytes:
    """One JSON line, by orjson (a staged batch is written on the crawl's event loop: json.dumps
    took ~85 us a page, orjson a sixth). Datetimes go through ``_default`` as with json; what
    orjson refuses (keys that are not strings, integers over 64 bits) json writes as before."""
    try:
        return orjson.dumps(row, default=_default, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        return (json.dumps(row, default=_default, ensure_ascii=False) + "\n").encode("utf-8")


_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_APPEND_NEWLINE


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    n = 0
    with path.open("wb") as fh:
        for row in rows:
            line = _json_line(row)
            if n == 1 and os.environ.get(ENV_KILL_AT, "").startswith("staging-mid-line"):
                fh.write(line[: len(line) // 2])   # the crash test's torn line, then the kill
                fh.flush()
                kill_point("staging-mid-line")
                line = line[len(line) // 2:]      # not this time: finish the line
            fh.write(line)
            n += 1
        fh.flush()
        os.fsync(fh.fileno())
    return n


class Staging:
    def __init__(self, staging_root: Path, run_id: str):
        self.run_id = run_id
        self.dir = Path(staging_root) / _SAFE.sub("_", run_id)
        self._lock_fd: int | None = None

    def hold(self) -> "Staging":
        """Mark this run as alive for its whole life: an exclusive lock on ``lock`` that the OS
        drops when the process dies. ``recover`` commits only runs whose lock is free, so a
        run going on in another process (a backfill beside a scheduled run) is never taken.
        Raises BlockingIOError if another process holds it."""
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir / "lock", os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BaseException:
            os.close(fd)
            raise
        self._lock_fd = fd
        return self

    def take(self) -> bool:
        """Hold the lock of a staged run found on disk, to recover it. False when its process is
        still alive, another process is recovering it, or the directory is gone meanwhile."""
        try:
            fd = os.open(self.dir / "lock", os.O_CREAT | os.O_RDWR, 0o644)   # never re-creates the dir
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd
        if not (self.dir / "lock").exists():   # committed and removed while we waited for the lock
            self.release()
            return False
        return True

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    @contextmanager
    def commit_lock(self) -> Iterator[None]:
        """Held around a commit transaction: one commit at a time per archive. Each commit derives
        its new versions from what is committed; two overlapping ones would both store an article
        the other stores too (DuckLake lets two appends to one table commit side by side)."""
        with file_lock(self.dir.parent.parent / "commit.lock"):
            yield

    def remove(self) -> None:
        """The run is committed: delete its staged files (called while still holding the lock)."""
        shutil.rmtree(self.dir, ignore_errors=True)

    def is_alive(self) -> bool:
        """Whether some process holds this run's lock (it is still running)."""
        if self._lock_fd is not None:
            return True
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

    def append_batch(self, part: str, tables: Mapping[str, Iterable[dict[str, Any]]]) -> dict[str, int]:
        """Stage one batch: rows for several tables, all or nothing. Returns rows written per table.

        Written under a temporary name, fsynced, then renamed into ``batches/`` (one rename),
        so a page's fetch-log row never lands without its article row.
        """
        root = self.dir / BATCHES
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".tmp-{_SAFE.sub('_', part)}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        counts = {table: _write_jsonl(tmp / f"{table}.jsonl", rows) for table, rows in tables.items()}
        fsync_path(tmp)
        base = _SAFE.sub("_", part)
        for n in range(1, 10_000):   # a part staged twice (an append per table) gets a new name
            target = root / (base if n == 1 else f"{base}~{n}")
            try:
                os.rename(tmp, target)   # fails if target exists and is not empty
                break
            except OSError:
                if not target.exists():
                    raise
        fsync_path(root)
        kill_point("batch-staged")
        return counts

    def append(self, table: str, part: str, rows: Iterable[dict[str, Any]]) -> int:
        """Stage rows for one table (a batch of one table); durable on return."""
        return self.append_batch(part, {table: rows})[table]

    def files(self, table: str) -> list[Path]:
        """Staged files of ``table``: complete batches, and files of the older line-by-line layout."""
        batches = sorted(p for p in (self.dir / BATCHES).glob(f"*/{table}.jsonl")
                         if not p.parent.name.startswith("."))
        return batches + sorted((self.dir / table).glob("*.jsonl"))

    def legacy_files(self) -> list[Path]:
        """Files of the older layout (appended line by line, not atomic): their tail may be torn."""
        return sorted(p for p in self.dir.glob("*/*.jsonl") if p.parent.name != BATCHES)

    def write_meta(self, meta: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / ".run.json.tmp"
        tmp.write_text(json.dumps(meta, default=_default), "utf-8")
        os.replace(tmp, self.dir / "run.json")

    def read_meta(self) -> dict[str, Any] | None:
        """The run row staged at the start of the run; None if missing or unreadable (a kill while
        an older version wrote it): the run is then recovered under its directory name."""
        p = self.dir / "run.json"
        if not p.exists():
            return None
        try:
            meta = json.loads(p.read_text("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            log.warning("%s: unreadable (%s); recovering the run as %s", p, e, self.dir.name)
            return None
        return meta if isinstance(meta, dict) and meta.get("run_id") else None


def drop_torn_lines(path: Path) -> list[str]:
    """Make a staged JSON-lines file readable: drop lines that are not a whole JSON object.

    A kill while a line was appended leaves it cut short (no newline, invalid JSON). The
    file is rewritten without such lines (the bad bytes kept beside it as ``<name>.torn``);
    returns a short description of each dropped line, for the warning.
    """
    raw = path.read_bytes()
    kept: list[bytes] = []
    dropped: list[str] = []
    for n, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            ok = isinstance(json.loads(line), dict)
        except ValueError:
            ok = False
        if ok:
            kept.append(line)
        else:
            url = re.search(rb'"url": ?"([^"]*)"', line)
            dropped.append(f"line {n} ({len(line)} bytes"
                           + (f", url {url.group(1).decode('utf-8', 'replace')}" if url else "") + ")")
    if dropped:
        torn = path.with_name(path.name + ".torn")
        with torn.open("ab") as fh:
            fh.write(raw)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(b"".join(line + b"\n" for line in kept))
        os.replace(tmp, path)
    return dropped


def pending_runs(staging_root: Path) -> list[Staging]:
    """Staged runs never committed (their process died, or still running elsewhere), oldest first."""
    if not staging_root.exists():
        return []
    dirs = sorted((p for p in staging_root.iterdir() if p.is_dir() and p.name != QUARANTINE
                   and not p.name.startswith(".")), key=lambda p: p.stat().st_mtime)
    return [Staging(staging_root, d.name) for d in dirs]
