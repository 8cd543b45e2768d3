"""Per-host politeness held across every process that crawls into one archive.

A ``Fetcher`` already bounds concurrency and spaces requests per host inside its process.
Several workers (``newsarchive serve`` processes, Prefect process workers, backfill chunks
running at once) each have their own Fetcher, so without this they would multiply a site's
request rate. The gate coordinates them through lock files in the archive directory they
share (``<archive>/locks/hosts/``):

* concurrency: ``host.<i>.slot`` for i < concurrency_per_host; a request holds an exclusive
  ``flock`` on one of them while it is in flight. The kernel drops the lock when a process
  dies, so a SIGKILLed worker never keeps a slot.
* delay: ``host.next`` holds the earliest wall-clock time of the host's next request start;
  it is read and pushed forward under an exclusive lock, so starts are spaced by the delay
  whichever process makes them.

Cost when nobody else crawls the host: two ``flock`` calls per request. Each slot file is opened
once per gate and kept open; the slots this process holds are known, so a request tries only
the others (a free slot of the file's own open description would be granted again: ``flock``
locks belong to the description, not the process). Opening and trying every slot in turn cost
0.1-0.2 ms per request with 8-15 of 16 slots in flight. A busy slot is polled (non-blocking
``flock`` + short asyncio sleeps) so the event loop is never blocked and no thread is parked
per waiting request.
"""
from __future__ import annotations

import asyncio
import fcntl
import os
import re
import struct
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

POLL_MIN_S = 0.005
POLL_MAX_S = 0.1
#: Slot files a gate keeps open (16 per host at most); past it, those not held are closed.
MAX_OPEN_FILES = 256


_UNSAFE = re.compile(r"[^A-Za-z0-9.-]")
_SAFE: dict[str, str] = {}      # host -> its file name part (a crawl asks for a few hosts, per request)


def _safe(host: str) -> str:
    safe = _SAFE.get(host)
    if safe is None:
        if len(_SAFE) > 4096:
            _SAFE.clear()
        safe = _SAFE[host] = _UNSAFE.sub("_", host.lower()) or "_"
    return safe


class HostGate:
    """Cross-process slots and request spacing per host, through files in ``directory``."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._fds: dict[tuple[str, int], int] = {}     # (host, slot; -1: next) -> its open file
        self._held: dict[str, set[int]] = {}           # host -> the slots this process holds

    def _fd(self, host: str, i: int) -> int:
        fd = self._fds.get((host, i))
        if fd is None:
            if len(self._fds) >= MAX_OPEN_FILES:   # a crawl of many hosts: keep only the held ones open
                self._close_unheld()
            name = f"{host}.next" if i < 0 else f"{host}.{i}.slot"
            # Not inherited by child processes (os.open's default): a child must not share a lock.
            fd = self._fds[(host, i)] = os.open(os.path.join(self.directory, name), os.O_RDWR | os.O_CREAT, 0o644)
        return fd

    @asynccontextmanager
    async def slot(self, host: str, concurrency: int, min_gap_s: float) -> AsyncIterator[float]:
        """Hold one of the host's ``concurrency`` slots. With a gap, the start (wall clock, yielded)
        is reserved ``min_gap_s`` after the previous reservation of any process, and the body runs
        no sooner than it."""
        safe = _safe(host)
        i = await self._acquire(safe, max(1, concurrency))
        try:
            start = time.time()
            if min_gap_s > 0:
                start = self._reserve_start(safe, min_gap_s)
                while (wait := start - time.time()) > 0:
                    await asyncio.sleep(wait)
            yield start
        finally:
            self._release(safe, i)

    async def _acquire(self, host: str, concurrency: int) -> int:
        poll = POLL_MIN_S
        mine = self._held.setdefault(host, set())
        while True:
            for i in range(concurrency):
                if i in mine:
                    continue
                try:
                    fcntl.flock(self._fd(host, i), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue      # another process holds it
                mine.add(i)
                return i
            await asyncio.sleep(poll)
            poll = min(POLL_MAX_S, poll * 2)

    def _close_unheld(self) -> None:
        for (host, i), fd in list(self._fds.items()):
            if i not in self._held.get(host, ()):
                del self._fds[(host, i)]
                os.close(fd)

    def _release(self, host: str, i: int) -> None:
        self._held.get(host, set()).discard(i)
        fd = self._fds.get((host, i))
        if fd is not None:        # None: the gate was closed meanwhile, which released it
            fcntl.flock(fd, fcntl.LOCK_UN)

    async def aclose(self) -> None:
        """Close the slot files (which releases any slot still held)."""
        fds, self._fds = self._fds, {}
        self._held.clear()
        for fd in fds.values():
            os.close(fd)

    def _reserve_start(self, host: str, gap: float) -> float:
        """The wall-clock time this start may happen; pushes the host's next start ``gap`` later."""
        fd = self._fd(host, -1)
        fcntl.flock(fd, fcntl.LOCK_EX)   # held for microseconds: a read and a write
        try:
            raw = os.pread(fd, 8, 0)
            nxt = struct.unpack("<d", raw)[0] if len(raw) == 8 else 0.0
            now = time.time()
            start = max(now, nxt)
            os.pwrite(fd, struct.pack("<d", start + gap), 0)
            return start
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


class PgHostGate:
    """The same gate for a shared archive, whose workers share no filesystem: slots are Postgres
    advisory locks (key: the archive and host, slot number) held on one connection per process,
    and start times are reserved in a row per host, on the database's clock (hosts' clocks may
    differ). A dead worker's session ends and its slots are free."""

    def __init__(self, dsn: str, namespace: str):
        self.dsn, self.namespace = dsn, namespace
        self._conn = None
        self._ready = None
        self._claim = None                      # one slot claim at a time in this process
        self._held: dict[int, set[int]] = {}    # host key -> slots this process holds

    async def _connection(self):
        import psycopg
        if self._ready is None:
            self._ready = asyncio.Lock()
        async with self._ready:
            if self._conn is None or self._conn.closed:
                try:
                    self._conn = await psycopg.AsyncConnection.connect(
                        self.dsn, autocommit=True, connect_timeout=10, application_name="newsarchive-hostgate")
                except psycopg.Error as e:
                    from storage.coordination import CoordinationError
                    from storage.location import redact
                    raise CoordinationError(f"cannot connect to the archive catalog database {redact(self.dsn)} "
                                            f"for the politeness gate: {str(e).splitlines()[0]}") from None
                try:
                    await self._conn.execute(
                        f'CREATE TABLE IF NOT EXISTS "{self.namespace}".newsarchive_host_schedule '
                        f"(host text PRIMARY KEY, next_start double precision NOT NULL)")
                except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateTable):
                    pass   # another worker created it at the same moment (IF NOT EXISTS is not atomic)
        return self._conn

    def _host_key(self, host: str) -> int:
        from storage.coordination import lock_key
        return lock_key(self.namespace, f"host:{host}") >> 32   # the int4 half of the two-key form

    @asynccontextmanager
    async def slot(self, host: str, concurrency: int, min_gap_s: float) -> AsyncIterator[float]:
        conn = await self._connection()
        key, poll = self._host_key(_safe(host)), POLL_MIN_S
        while (slot := await self._try_claim(conn, key, max(1, concurrency))) is None:
            await asyncio.sleep(poll)
            poll = min(POLL_MAX_S, poll * 2)
        try:
            start = time.time()
            if min_gap_s > 0:
                cur = await conn.execute(
                    f'INSERT INTO "{self.namespace}".newsarchive_host_schedule AS h (host, next_start) '
                    f"VALUES (%(host)s, extract(epoch FROM clock_timestamp()) + %(gap)s) "
                    f"ON CONFLICT (host) DO UPDATE SET next_start = "
                    f"greatest(h.next_start, extract(epoch FROM clock_timestamp())) + %(gap)s "
                    f"RETURNING next_start - %(gap)s - extract(epoch FROM clock_timestamp())",
                    {"host": _safe(host), "gap": min_gap_s})
                wait = float((await cur.fetchone())[0])
                start = time.time() + max(0.0, wait)
                if wait > 0:
                    await asyncio.sleep(wait)
            yield start
        finally:
            self._held[key].discard(slot)
            if not conn.closed:
                await conn.execute("SELECT pg_advisory_unlock(%s::int, %s::int)", [key, slot])

    async def _try_claim(self, conn, key: int, concurrency: int) -> int | None:
        """A free slot of the host, now held; None when all are taken. Advisory locks are
        re-entrant within a session, and this process's requests share one session: a slot it
        already holds would be granted again, so those are skipped (and claims made one at a
        time, so two of its requests never both take the same free slot)."""
        if self._claim is None:
            self._claim = asyncio.Lock()
        async with self._claim:
            mine = self._held.setdefault(key, set())
            # One slot per statement: a set-returning query with the lock call in its WHERE and
            # LIMIT 1 may evaluate the call on more rows than it returns, leaking held slots.
            for i in range(concurrency):
                if i in mine:
                    continue
                cur = await conn.execute("SELECT pg_try_advisory_lock(%s::int, %s::int)", [key, i])
                if (await cur.fetchone())[0]:
                    mine.add(i)
                    return i
            return None

    async def aclose(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


def host_gate_for(archive) -> "HostGate | PgHostGate":
    """The gate every process crawling into ``archive`` (a storage.lake.Archive) shares."""
    if archive.shared:
        return PgHostGate(archive.shared.catalog_dsn, archive.shared.schema)
    return HostGate(archive.root / "locks" / "hosts")
