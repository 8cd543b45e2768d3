"""Crawl a large replay corpus with politeness off; report pages/s, peak RSS and Prefect's share.

    python bench/bench_crawl.py --articles 5000      # 5,000 per site = 10,000 articles

Prefect's share of wall time = 1 - (time spent in the plain pipeline code:
discovery, fetch+extract batches, commit) / (wall time of the flow call). The
flow call includes the temporary Prefect server's start unless PREFECT_API_URL
points at a running server.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--articles", type=int, default=5000, help="articles per site (2 sites)")
    ap.add_argument("--concurrency", type=int, default=16, help="concurrent requests per host")
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--archive", default=None,
                    help="archive dir (default: a temp dir), or s3://BUCKET/PREFIX for a shared archive "
                         "($NEWSARCHIVE_CATALOG, AWS_*, $NEWSARCHIVE_WORKDIR from the environment)")
    ap.add_argument("--replay-url", default=None,
                    help="crawl a replay web already running at URL (e.g. one shared by two bench workers)")
    ap.add_argument("--sites", default=None, help="comma-separated sites (default: every site)")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args()

    import crawl.pipeline as pipeline
    import flows.scrape as scrape_mod
    import storage.commit as commit_mod

    intervals: list[tuple[float, float]] = []   # (start, end) of plain pipeline calls

    def timed_async(fn):
        async def wrapper(*a, **kw):
            t = time.perf_counter()
            try:
                return await fn(*a, **kw)
            finally:
                intervals.append((t, time.perf_counter()))
        return wrapper

    def timed(fn):
        def wrapper(*a, **kw):
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                intervals.append((t, time.perf_counter()))
        return wrapper

    # Time the plain pipeline functions the flow's tasks call.
    scrape_mod.discover_urls = timed_async(pipeline.discover_urls)
    scrape_mod.crawl_batch = timed_async(pipeline.crawl_batch)
    scrape_mod.commit_staging = timed(commit_mod.commit_staging)

    archive = args.archive or tempfile.mkdtemp(prefix="newsarchive-bench-")
    t0 = time.perf_counter()
    srv = ExistingReplay(args.replay_url) if args.replay_url else ReplayProcess(args.articles)
    replay_start = time.perf_counter() - t0
    shared = archive.startswith("s3://")
    # A shared archive has no local directory: its config goes to a temp dir.
    cfg_path = (Path(tempfile.mkdtemp(prefix="newsarchive-bench-cfg-")) / "sites.toml" if shared
                else Path(archive).with_suffix(".sites.toml"))
    cfg_path.write_text(_bench_config(args.concurrency), "utf-8")
    try:
        t1 = time.perf_counter()
        sites = args.sites.split(",") if args.sites else None
        result = asyncio.run(scrape_mod.scrape(sites=sites, archive=archive, config_path=str(cfg_path),
                                               replay_url=srv.url, delay_s=0.0,
                                               batch_size=args.batch_size))
        wall = time.perf_counter() - t1
    finally:
        srv.stop()
    work_s = _union_length(intervals)   # sites run concurrently: count overlapping time once
    pages = sum(c.get("fetched", 0) + c.get("not_modified", 0) for c in result["stats"].values())
    stored = sum(c.get("stored", 0) for c in result["stats"].values())
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {
        "articles_in_corpus": 2 * args.articles,
        "pages_fetched": pages,
        "articles_stored": stored,
        "wall_s": round(wall, 1),
        "pages_per_s": round(pages / wall, 1),
        "pipeline_work_s": round(work_s, 1),
        "prefect_share": round(1 - work_s / wall, 3),
        "prefect_startup_s": round(min(a for a, _ in intervals) - t1, 1),
        "prefect_share_after_startup": round(1 - work_s / (wall - (min(a for a, _ in intervals) - t1)), 3),
        "peak_rss_mib": round(peak_rss_mib),
        "replay_start_s": round(replay_start, 2),
        "errors": result["error_count"],
    }
    print(json.dumps(out, indent=2) if args.json else "\n".join(f"{k:20} {v}" for k, v in out.items()))


def _union_length(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


class ExistingReplay:
    """A replay web another process started (and stops): the bench only crawls it."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def stop(self) -> None:
        pass


class ReplayProcess:
    """The replay web in its own process, so its CPU does not count against the crawler's GIL."""

    def __init__(self, articles: int, seed: int = 11):
        import socket
        import subprocess
        import httpx
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "replay", "--port", str(port),
                                      "--seed", str(seed), "--articles", str(articles)],
                                     stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(self.url + "/robots.txt", headers={"Host": "www.reuters.com"}, timeout=1)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("replay web did not start")
                time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def _bench_config(concurrency: int) -> str:
    """The embedded config with politeness off (no delay, high per-host concurrency): a politeness
    override under each site's table (TOML refuses a second one, so this cannot silently miss)."""
    from importlib import resources

    import sites
    text = resources.files("crawl").joinpath("sites.toml").read_text("utf-8")
    return text + "".join(f"\n[sites.{name}.politeness]\nconcurrency_per_host = {concurrency}\n"
                          for name in sites.names())   # the embedded default crawls every Site


if __name__ == "__main__":
    main()
