"""The politeness gate of a shared archive (crawl/hostgate.py PgHostGate) on a real Postgres:
two gates are two workers (two sessions). Per-host slots must bound requests across workers
AND within one worker: advisory locks are re-entrant within a session, so a worker's second
request would otherwise be granted the slot its first one holds (found by bench/bench_shared.py:
two workers at 2 per host reached 4 in flight). A first fix claimed a slot with one
set-returning query (``pg_try_advisory_lock`` in its WHERE, LIMIT 1), which now and then took
more slots than it returned: the first case then hung with both slots held by an idle session.
Slots are now tried one statement each."""
from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from crawl.hostgate import PgHostGate
from tests.services import postgres

NS = "newsarchive_gate_test"


@pytest.fixture(scope="module")
def dsn():
    with postgres() as pg:
        url = f"{pg}/prefect"
        with psycopg.connect(url, autocommit=True) as db:
            db.execute(f'CREATE SCHEMA "{NS}"')
        yield url


async def test_slots_bound_requests_within_and_across_workers(dsn):
    gates = [PgHostGate(dsn, NS), PgHostGate(dsn, NS)]
    inflight, peak, done = 0, 0, 0

    async def request(gate: PgHostGate) -> None:
        nonlocal inflight, peak, done
        async with gate.slot("www.reuters.com", 2, 0.0):
            inflight += 1
            peak = max(peak, inflight)
            await asyncio.sleep(0.02)   # a request in flight (the bound, not the timing, is asserted)
            inflight -= 1
            done += 1
    try:
        await asyncio.gather(*(request(g) for g in gates for _ in range(8)))
    finally:
        for g in gates:
            await g.aclose()
    assert done == 16
    assert peak == 2, f"{peak} requests in flight at once for a host allowed 2"


async def test_starts_are_spaced_across_workers_on_the_databases_clock(dsn):
    gates = [PgHostGate(dsn, NS), PgHostGate(dsn, NS)]
    starts: list[float] = []

    async def request(gate: PgHostGate) -> None:
        async with gate.slot("english.almayadeen.net", 4, 0.05):
            starts.append(time.time())
    try:
        await asyncio.gather(*(request(g) for g in gates for _ in range(3)))
    finally:
        for g in gates:
            await g.aclose()
    starts.sort()
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert len(starts) == 6 and min(gaps) >= 0.045, gaps   # 5 ms of slack for the two clocks' reads


async def test_a_dead_workers_slots_are_free(dsn):
    """A worker whose session ends (its process died) holds nothing: the other gets both slots."""
    dead, alive = PgHostGate(dsn, NS), PgHostGate(dsn, NS)
    entered = asyncio.Event()

    async def hold_forever() -> None:
        async with dead.slot("www.reuters.com", 2, 0.0):
            entered.set()
            await asyncio.Event().wait()
    holder = asyncio.create_task(hold_forever())
    await entered.wait()
    await dead._conn.close()   # the session ends as a killed process's would
    holder.cancel()
    try:
        await asyncio.wait_for(asyncio.gather(*(_enter(alive) for _ in range(2))), timeout=10)
    finally:
        await alive.aclose()


async def _enter(gate: PgHostGate) -> None:
    async with gate.slot("www.reuters.com", 2, 0.0):
        pass
