"""The shared archive (Postgres catalog + S3) beside the local one, in the same run (issue 11).

    python bench/bench_shared.py --crawl-articles 5000 --backfill-articles 100000 --chunk-days 180

Starts a throw-away Postgres cluster, a Prefect server every flow uses, and (per shared phase)
a fresh moto S3 server, all from tests/services.py. Then:

1. crawl: bench/bench_crawl.py on a local archive, then on ``s3://newsarchive/crawl``;
2. backfill: bench/bench_backfill.py on a local archive, then on ``s3://newsarchive/backfill``;
3. workers (run first): one bench_backfill.py worker over the whole window of a shared archive, then two
   at once (different $NEWSARCHIVE_WORKDIR, the window split in two halves) on another shared
   archive, against one replay web whose ``/__replay__/stats`` gives the highest number of
   requests in flight per host (politeness: never above ``--workers-concurrency``, the
   per-host concurrency the workers are configured with; the gate across workers is
   crawl/hostgate.py PgHostGate).

Every figure carries /proc/loadavg before and after it: the machine's 2 cores are shared.
Sizes: local = files under the archive dir by kind; shared = sum of S3 object sizes under the
prefix by its first path part (data, warc, index, staging) + pg_total_relation_size of every
table in the archive's Postgres schema. moto keeps objects in memory: its peak RSS is sampled.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

BUCKET = "newsarchive"
WINDOW = (date(2019, 1, 1), date(2026, 11, 20))   # bench_backfill.py's default window


def patch_pg_host_gate() -> None:
    """Bench-side workaround (``bench_backfill.py --gate-own-slots``) for crawl/hostgate.py
    PgHostGate, which does not bound a process's own requests: its slots are session advisory
    locks on ONE connection per process, and Postgres grants a session a lock it already holds,
    so every request of a process takes slot 0 and N workers get up to N x the Fetcher's
    per-host concurrency. Here a process skips the slot numbers it already holds."""
    import asyncio
    from contextlib import asynccontextmanager

    import crawl.hostgate as hg

    @asynccontextmanager
    async def slot(self, host: str, concurrency: int, min_gap_s: float):
        conn = await self._connection()
        key, poll = self._host_key(hg._safe(host)), hg.POLL_MIN_S
        if not hasattr(self, "_own"):
            self._own, self._own_lock = {}, asyncio.Lock()
        mine = self._own.setdefault(key, set())
        while True:
            async with self._own_lock:   # no other coroutine of this process queries in between
                cur = await conn.execute("SELECT i FROM generate_series(0, %s - 1) AS i WHERE i <> ALL(%s) "
                                         "AND pg_try_advisory_lock(%s, i) LIMIT 1",
                                         [max(1, concurrency), sorted(mine), key])
                row = await cur.fetchone()
                if row is not None:
                    mine.add(row[0])
                    break
            await asyncio.sleep(poll)
            poll = min(hg.POLL_MAX_S, poll * 2)
        try:
            if min_gap_s > 0:
                raise NotImplementedError("bench/bench_shared.py's gate workaround runs with politeness delay 0")
            yield time.time()
        finally:
            async with self._own_lock:
                if not conn.closed:
                    await conn.execute("SELECT pg_advisory_unlock(%s, %s)", [key, row[0]])
                mine.discard(row[0])

    hg.PgHostGate.slot = slot


def gate_check(dsn: str, concurrency: int = 2, requests: int = 6) -> int:
    """Peak number of one process's coroutines inside ``PgHostGate.slot`` at once (bound: concurrency)."""
    import asyncio

    import psycopg

    from crawl.hostgate import PgHostGate
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS gate_check")
    gate, state = PgHostGate(dsn, "gate_check"), {"in": 0, "peak": 0}

    async def request() -> None:
        async with gate.slot("www.reuters.com", concurrency, 0.0):
            state["in"] += 1
            state["peak"] = max(state["peak"], state["in"])
            await asyncio.sleep(0.2)
            state["in"] -= 1

    async def main() -> None:
        await asyncio.gather(*(request() for _ in range(requests)))
        await gate.aclose()
    asyncio.run(main())
    return state["peak"]


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class RssPeak:
    """Samples the RSS of the processes ``find()`` returns every 0.5 s; keeps the peak sum."""

    def __init__(self, find):
        self.find, self.peak, self._stop = find, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil
        while not self._stop.wait(0.5):
            total = 0
            for p in self.find():
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak // 2**20


def moto_processes():
    import psutil
    return [p for p in psutil.Process().children(recursive=True)
            if any("moto_server" in part for part in _cmdline(p))]


def _cmdline(p) -> list[str]:
    import psutil
    try:
        return p.cmdline()
    except psutil.Error:
        return []


def run_script(script: str, args: list[str], env: dict, log: Path) -> dict:
    """Runs one bench script; returns its JSON result with the load average before and after."""
    before = loadavg()
    with log.open("wb") as err:
        done = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=err)
    out = done.stdout.decode(errors="replace")
    if done.returncode != 0:
        raise SystemExit(f"bench/{script} {' '.join(args)} exited {done.returncode}; its log: {log}")
    start = out.rfind("\n{") + 1   # the result is the last JSON object printed
    return {**json.loads(out[start:]), "load_before": before, "load_after": loadavg()}


def local_sizes(root: Path) -> dict[str, int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    kinds = {"data": 0, "warc": 0, "index": 0, "catalog": 0, "search": 0, "other": 0}
    for p in files:
        rel = p.relative_to(root).parts
        rel = rel[1:] if rel[0].startswith("newsarchive_") and len(rel) > 1 else rel   # a worker cache's subdir
        kind = ("catalog" if rel[0].startswith("catalog.sqlite") else
                "search" if rel[0].startswith("search.duckdb") else rel[0] if rel[0] in kinds else "other")
        kinds[kind] += p.stat().st_size
    return kinds


def s3_sizes(env: dict, prefix: str) -> dict[str, int]:
    import boto3
    client = boto3.session.Session().client(
        "s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    kinds: dict[str, int] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix + "/"):
        for o in page.get("Contents", []):
            kind = o["Key"][len(prefix) + 1:].split("/", 1)[0]
            kinds[kind] = kinds.get(kind, 0) + o["Size"]
    return kinds


def pg_size(dsn: str, schema: str) -> int:
    import psycopg
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                           "JOIN pg_namespace n ON n.oid = c.relnamespace "
                           "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'm')", [schema]).fetchone()
    return int(row[0])


def per_1000(sizes: dict[str, int], articles: int) -> dict[str, float]:
    return {k: round(v / 2**20 / articles * 1000, 2) for k, v in sizes.items() if v} if articles else {}


class Bench:
    def __init__(self, args, tmp: Path, pg: str, prefect_api: str):
        self.args, self.tmp, self.pg = args, tmp, pg
        self.catalog = f"{pg}/bench"
        self.base = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSARCHIVE_", "AWS_"))}
        self.base.update(PREFECT_API_URL=prefect_api, PREFECT_SERVER_ANALYTICS_ENABLED="false", PYTHONUNBUFFERED="1")
        self.rows: list[dict] = []

    def shared_env(self, s3env: dict, worker: str) -> dict:
        return {**self.base, **s3env, "NEWSARCHIVE_CATALOG": self.catalog,
                "NEWSARCHIVE_WORKDIR": str(self.tmp / f"workdir-{worker}")}

    def shared_sizes(self, s3env: dict, url: str, articles: int) -> dict:
        from storage.location import parse_shared
        loc = parse_shared(url, {"NEWSARCHIVE_CATALOG": self.catalog})
        sizes = s3_sizes(s3env, loc.prefix)
        sizes["postgres"] = pg_size(self.catalog, loc.schema)
        return {"bytes": sizes, "mib_per_1000": per_1000(sizes, articles)}

    def pair(self, name: str, script: str, args: list[str], local_args: list[str], stored_key: str) -> None:
        """The same bench on a local archive, then on a shared one (fresh moto server)."""
        from tests.services import s3_server
        local_dir = self.tmp / f"{name}-local"
        res = run_script(script, args + local_args(local_dir), self.base, self.tmp / f"{name}-local.log")
        root = local_dir if script == "bench_crawl.py" else local_dir / "archive"
        sizes = local_sizes(root)
        self.add(name, "local", res, {"bytes": sizes, "mib_per_1000": per_1000(sizes, res[stored_key])}, None)
        url = f"s3://{BUCKET}/{name}"
        with s3_server() as s3env:
            moto = RssPeak(moto_processes)
            try:
                res = run_script(script, args + ["--archive", url], self.shared_env(s3env, name),
                                 self.tmp / f"{name}-shared.log")
            finally:
                moto_mib = moto.stop()
            sizes = self.shared_sizes(s3env, url, res[stored_key])
            # Not in the bucket on this commit: what the worker left in its cache (dedup and search
            # indexes), listed apart because nothing there must survive.
            cache = {f"cache_{k}": v for k, v in local_sizes(self.tmp / f"workdir-{name}").items()}
            sizes["cache_mib_per_1000"] = per_1000(cache, res[stored_key])
            self.add(name, "shared", res, sizes, moto_mib)

    def add(self, phase: str, archive: str, res: dict, sizes: dict | None, moto_mib: int | None) -> None:
        row = {"phase": phase, "archive": archive, "result": res, "sizes": sizes, "moto_peak_rss_mib": moto_mib}
        self.rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)

    def crawl(self) -> None:
        self.pair("crawl", "bench_crawl.py", ["--articles", str(self.args.crawl_articles), "--json"],
                  lambda d: ["--archive", str(d)], "articles_stored")

    def backfill(self) -> None:
        self.pair("backfill", "bench_backfill.py",
                  ["--articles", str(self.args.backfill_articles), "--chunk-days", str(self.args.chunk_days)],
                  lambda d: ["--archive", str(d)], "articles_stored")

    def workers(self) -> None:
        """One worker over the whole window, then two at once over its halves; same replay web."""
        import httpx

        from bench_crawl import ReplayProcess
        from tests.services import s3_server
        a = self.args
        srv = ReplayProcess(a.workers_articles, seed=13)
        common = ["--articles", str(a.workers_articles), "--chunk-days", str(a.workers_chunk_days),
                  "--concurrency", str(a.workers_concurrency), "--replay-url", srv.url]
        common += ["--gate-own-slots"] if a.workers_gate_own_slots else []
        label = " (gate workaround)" if a.workers_gate_own_slots else ""
        mid = WINDOW[0] + (WINDOW[1] - WINDOW[0]) / 2
        halves = [(WINDOW[0], mid), (mid + timedelta(days=1), WINDOW[1])]
        try:
            with s3_server() as s3env:
                for n in a.workers_runs:
                    httpx.post(f"{srv.url}/__replay__/reset").raise_for_status()
                    # A little latency on every article page, so requests overlap and the per-host
                    # bound is actually reached (without it the replay answers before the next starts).
                    httpx.post(f"{srv.url}/__replay__/knobs", json={
                        "fault_rate_slow": 1.0 if a.workers_latency_s else 0.0, "slow_s": a.workers_latency_s,
                        "fault_attempts": 1_000_000}).raise_for_status()
                    url = f"s3://{BUCKET}/workers-{n}"
                    windows = [WINDOW] if n == 1 else halves
                    res = self.run_workers(n, url, windows, common, s3env)
                    res["replay_stats"] = httpx.get(f"{srv.url}/__replay__/stats").json()["max_inflight_by_host"]
                    self.add(f"{n} worker(s){label}", "shared", res, None, None)
        finally:
            srv.stop()

    def run_workers(self, n: int, url: str, windows: list, common: list[str], s3env: dict) -> dict:
        before, t0, procs, results = loadavg(), time.perf_counter(), [], {}
        moto = RssPeak(moto_processes)
        for i, (since, until) in enumerate(windows):
            env = self.shared_env(s3env, f"w{n}-{i}")
            log = self.tmp / f"workers-{n}-{i}.log"
            args = [*common, "--archive", url, "--from", since.isoformat(), "--to", until.isoformat()]
            procs.append(threading.Thread(target=lambda a=args, e=env, lg=log, k=i: results.__setitem__(
                k, run_script("bench_backfill.py", a, e, lg))))
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        wall = time.perf_counter() - t0
        moto_mib = moto.stop()
        if len(results) != n:
            raise SystemExit(f"{n - len(results)} worker(s) of {url} failed; logs: {self.tmp}/workers-{n}-*.log")
        pages = sum(r["pages"] for r in results.values())
        from storage.lake import Archive
        from storage.sql import query
        with _environ(self.shared_env(s3env, "reader")):
            stored = query(Archive(url), "SELECT count(*) FROM articles")[1][0][0]
            dup = query(Archive(url), "SELECT count(*) FROM (SELECT url FROM articles GROUP BY url "
                                      "HAVING count(*) > 1)")[1][0][0]
        return {"workers": [results[i] for i in range(n)], "pages": pages, "articles_stored": stored,
                "urls_stored_twice": dup, "wall_s": round(wall, 1), "pages_per_s": round(pages / wall, 1),
                "moto_peak_rss_mib": moto_mib, "load_before": before, "load_after": loadavg()}


@contextmanager
def _environ(env: dict):
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def table(rows: list[dict]) -> str:
    lines = ["| phase | archive | articles | pages/s | wall s | crawler peak RSS MiB | moto peak RSS MiB "
             "| MiB per 1,000 articles | load before / after |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        res = r["result"]
        if "workers" in res:
            rss = " + ".join(str(w["peak_rss_mib"]) for w in res["workers"])
            moto = res["moto_peak_rss_mib"]
            sizes = f"max in flight per host {res['replay_stats']}; URLs stored twice {res['urls_stored_twice']}"
        else:
            rss, moto = res["peak_rss_mib"], r["moto_peak_rss_mib"] or "–"
            sizes = ", ".join(f"{k} {v}" for k, v in r["sizes"]["mib_per_1000"].items())
            cache = r["sizes"].get("cache_mib_per_1000")
            sizes += f"; worker cache: {', '.join(f'{k} {v}' for k, v in cache.items())}" if cache else ""
        lines.append(f"| {r['phase']} | {r['archive']} | {res['articles_stored']} | {res['pages_per_s']} | "
                     f"{res['wall_s']} | {rss} | {moto} | {sizes} | {res['load_before']} / {res['load_after']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crawl-articles", type=int, default=5000, help="per site (0: skip the crawl pair)")
    ap.add_argument("--backfill-articles", type=int, default=100_000, help="0: skip the backfill pair")
    ap.add_argument("--chunk-days", type=int, default=180)
    ap.add_argument("--workers-articles", type=int, default=20_000, help="0: skip one vs two workers")
    ap.add_argument("--workers-chunk-days", type=int, default=360)
    ap.add_argument("--workers-concurrency", type=int, default=8,
                    help="per-host concurrency of the worker runs (the bound politeness must hold)")
    ap.add_argument("--workers-latency-s", type=float, default=0.05,
                    help="the replay's added latency per article page in the worker runs (0: none)")
    ap.add_argument("--workers-runs", type=lambda s: [int(n) for n in s.split(",")], default=[1, 2],
                    help="how many workers at once, one run each (1 or 2; default 1,2)")
    ap.add_argument("--workers-gate-own-slots", action="store_true",
                    help="run the workers with bench_backfill.py --gate-own-slots (PgHostGate workaround)")
    ap.add_argument("--json", default=None, help="also write every row to this file")
    ap.add_argument("--gate-check", action="store_true",
                    help="only check PgHostGate in one process (6 requests, concurrency 2), as is and worked around")
    args = ap.parse_args()

    import psycopg

    from tests.services import postgres, prefect_server
    if args.gate_check:
        with postgres() as pg:
            stock = gate_check(f"{pg}/postgres")
            patch_pg_host_gate()
            print(f"PgHostGate, concurrency_per_host 2, 6 requests of one process: peak in flight {stock} as is, "
                  f"{gate_check(f'{pg}/postgres')} with bench_shared.patch_pg_host_gate")
        return
    tmp = Path(tempfile.mkdtemp(prefix="newsarchive-bench-shared-"))
    print(f"logs and local archives under {tmp}", file=sys.stderr, flush=True)
    with postgres() as pg, prefect_server(tmp) as api:
        with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        bench = Bench(args, tmp, pg, api)
        try:
            if args.workers_articles:
                bench.workers()
            if args.crawl_articles:
                bench.crawl()
            if args.backfill_articles:
                bench.backfill()
        finally:
            if args.json:
                Path(args.json).write_text(json.dumps(bench.rows, indent=2))
            print(table(bench.rows))


if __name__ == "__main__":
    main()
