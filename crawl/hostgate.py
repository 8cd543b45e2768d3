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

Cost when nobody else crawls the host: an open file and two ``flock`` calls per request. A
busy slot is polled (non-blocking ``flock`` + short asyncio sleeps) so the event loop is never
blocked and no thread is parked per waiting request.
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


def _safe(host: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "_", host.lower()) or "_"


class HostGate:
    """Cross-process slots and request spacing per host, through files in ``directory``."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    @asynccontextmanager
    async def slot(self, host: str, concurrency: int, min_gap_s: float) -> AsyncIterator[float]:
        """Hold one of the host's ``concurrency`` slots. With a gap, the start (wall clock, yielded)
        is reserved ``min_gap_s`` after the previous reservation of any process, and the body runs
        no sooner than it."""
        fd = await self._acquire(_safe(host), max(1, concurrency))
        try:
            start = time.time()
            if min_gap_s > 0:
                start = self._reserve_start(_safe(host), min_gap_s)
                while (wait := start - time.time()) > 0:
                    await asyncio.sleep(wait)
            yield start
        finally:
            os.close(fd)   # closing the descriptor releases its flock

    async def _acquire(self, host: str, concurrency: int) -> int:
        poll = POLL_MIN_S
        while True:
            for i in range(concurrency):
                fd = os.open(self.directory / f"{host}.{i}.slot", os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return fd
                except BlockingIOError:
                    os.close(fd)
            await asyncio.sleep(poll)
            poll = min(POLL_MAX_S, poll * 2)

    def _reserve_start(self, host: str, gap: float) -> float:
        """The wall-clock time this start may happen; pushes the host's next start ``gap`` later."""
        fd = os.open(self.directory / f"{host}.next", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)   # held for microseconds: a read and a write
            raw = os.pread(fd, 8, 0)
            nxt = struct.unpack("<d", raw)[0] if len(raw) == 8 else 0.0
            now = time.time()
            start = max(now, nxt)
            os.pwrite(fd, struct.pack("<d", start + gap), 0)
            return start
        finally:
            os.close(fd)
