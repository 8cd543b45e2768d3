"""Politeness and liveness across processes: the host gate and the run lock (crawl/hostgate.py,
storage/runlock.py), with real processes, real signals and the real replay web."""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from replay import Knobs, start_replay
from storage.runlock import RunLock, run_liveness

ROOT = Path(__file__).resolve().parents[1]

# One crawler process: a Fetcher with concurrency 2 for the replay's Reuters host fetches 12
# (slowed) article URLs; with a gate directory, it shares the gate with the other process.
CRAWLER = textwrap.dedent("""
    import asyncio, dataclasses, sys
    from crawl.config import load_config
    from crawl.fetch import Fetcher
    from crawl.hostgate import HostGate
    replay, gate_dir, tag = sys.argv[1], sys.argv[2], sys.argv[3]
    cfg = load_config().with_politeness(delay_s=0.0)
    cfg = dataclasses.replace(cfg, fetch=dataclasses.replace(cfg.fetch, respect_robots=False))
    urls = [f"https://www.reuters.com/world/slow-{tag}-{i}/" for i in range(12)]
    async def main():
        gate = HostGate(gate_dir) if gate_dir != "-" else None
        hosts = {d: replay for s in cfg.sites.values() for d in s.domains}
        async with Fetcher(cfg, host_map=hosts, host_gate=gate) as f:
            async for _ in f.fetch_many(urls, conditional=False):
                pass
    asyncio.run(main())
""")


def _crawl_twice_at_once(replay_url: str, gate_dir: str) -> dict:
    procs = [subprocess.Popen([sys.executable, "-c", CRAWLER, replay_url, gate_dir, tag], cwd=ROOT)
             for tag in ("a", "b")]
    for p in procs:
        assert p.wait(timeout=120) == 0
    return httpx.get(f"{replay_url}/__replay__/stats", timeout=10).json()


@pytest.mark.slow   # ~7 s: two crawl processes against one replay
def test_two_processes_share_one_host_budget(tmp_path):
    knobs = Knobs(fault_rate_slow=1.0, slow_s=0.3, fault_attempts=100, fault_paths=["/world/slow-"])
    with start_replay(seed=1, per_site=10, knobs=knobs) as srv:
        shared = _crawl_twice_at_once(srv.url, str(tmp_path / "gate"))
        assert shared["max_inflight_by_host"]["www.reuters.com"] == 2, shared["max_inflight_by_host"]
        httpx.post(f"{srv.url}/__replay__/reset", timeout=10)
        # The control: without the gate the same two processes double the host's concurrency.
        alone = _crawl_twice_at_once(srv.url, "-")
        assert alone["max_inflight_by_host"]["www.reuters.com"] == 4, alone["max_inflight_by_host"]


GAP_PROBE = textwrap.dedent("""
    import asyncio, sys, time
    from crawl.hostgate import HostGate
    async def main():
        gate = HostGate(sys.argv[1])
        out = []
        for _ in range(6):
            async with gate.slot("example.org", 4, 0.05) as reserved:
                out.append(f"{reserved!r},{time.time()!r}")
        print(" ".join(out))
    asyncio.run(main())
""")


def test_delay_spaces_request_starts_across_processes(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", GAP_PROBE, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True) for _ in range(3)]
    pairs = [tuple(map(float, x.split(","))) for p in procs for x in p.communicate(timeout=60)[0].split()]
    assert len(pairs) == 18
    assert all(actual >= reserved for reserved, actual in pairs), "a request started before its turn"
    starts = sorted(reserved for reserved, _ in pairs)
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert min(gaps) >= 0.05 - 1e-6, gaps     # every process's turns, 50 ms apart


HOLDER = textwrap.dedent("""
    import sys, time
    from storage.runlock import RunLock
    with RunLock(sys.argv[1], "run-1"):
        print("held", flush=True)
        sys.stdin.readline()          # until the test closes stdin (or kills us)
""")


def test_run_lock_tells_alive_dead_and_finished(tmp_path):
    assert run_liveness(tmp_path, "run-1") == "unknown"
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], cwd=ROOT, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    assert run_liveness(tmp_path, "run-1") == "alive"
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert run_liveness(tmp_path, "run-1") == "dead"

    with RunLock(tmp_path, "run-2"):
        assert run_liveness(tmp_path, "run-2") == "alive"
    assert run_liveness(tmp_path, "run-2") == "unknown", "a finished run is not mistaken for a dead one"


def test_gate_slots_are_exclusive_within_and_across_gates(tmp_path, monkeypatch):
    """The gate keeps slot files open and knows the slots it holds: it never hands one of them out
    twice (``flock`` would grant it again to the same open file), a second gate on the same
    directory (another process's) gets only the others, a slot is free again once released, and
    a crawl of many hosts keeps a bounded number of files open without dropping a held slot."""
    import asyncio
    import fcntl
    import os

    import crawl.hostgate as hostgate
    from crawl.hostgate import HostGate

    def held_elsewhere(directory, name) -> bool:
        fd = os.open(os.path.join(directory, name), os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    async def main():
        d = tmp_path / "gate"
        mine, other = HostGate(d), HostGate(d)
        a, b = mine.slot("www.reuters.com", 3, 0), mine.slot("www.reuters.com", 3, 0)
        await a.__aenter__()
        await b.__aenter__()
        assert mine._held["www.reuters.com"] == {0, 1}
        c = other.slot("www.reuters.com", 3, 0)
        await c.__aenter__()                        # the one slot left
        assert other._held["www.reuters.com"] == {2}
        waiting = mine.slot("www.reuters.com", 3, 0)   # referenced: a collected one releases its slot
        third = asyncio.ensure_future(waiting.__aenter__())
        for _ in range(3):                          # its first try ran: every slot is held
            await asyncio.sleep(0)
        assert not third.done()
        await c.__aexit__(None, None, None)         # the other gate frees slot 2 ...
        await asyncio.wait_for(third, 5)            # ... and this gate takes it
        assert mine._held["www.reuters.com"] == {0, 1, 2}
        assert all(held_elsewhere(d, f"www.reuters.com.{i}.slot") for i in range(3))
        await a.__aexit__(None, None, None)
        assert not held_elsewhere(d, "www.reuters.com.0.slot")
        assert held_elsewhere(d, "www.reuters.com.1.slot")

        monkeypatch.setattr(hostgate, "MAX_OPEN_FILES", 8)
        for n in range(20):                          # 20 hosts, one request each, one at a time
            async with mine.slot(f"host{n}.example", 16, 0):
                pass
        assert len(mine._fds) <= 9
        assert held_elsewhere(d, "www.reuters.com.1.slot") and held_elsewhere(d, "www.reuters.com.2.slot")
        await mine.aclose()                          # closing releases what is still held
        assert not held_elsewhere(d, "www.reuters.com.1.slot")
        await other.aclose()

    asyncio.run(main())
