"""Backfill a large replay corpus; report pages/s, RSS per chunk and archive size per 1,000 articles.

    python bench/bench_backfill.py --articles 100000 --chunk-days 90

One site (reuters) is backfilled over the corpus's whole date range. RSS is
sampled after every chunk: flat means the backfill streams (staging on disk,
one commit per chunk) instead of holding the corpus in memory.
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
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def dir_size(path: Path, pattern: str = "**/*") -> int:
    return sum(p.stat().st_size for p in path.glob(pattern) if p.is_file())


def summary(articles: int, archive: Path, result: dict, wall: float, pages: int, rss: list[int],
            phases: list[dict], chunk_pages: list[int], chunk_s: list[float]) -> dict:
    """The benchmark's figures: throughput, memory, archive sizes, per-chunk series."""
    from storage.lake import Archive
    from storage.sql import query
    n_articles = query(Archive(archive), "SELECT count(*) FROM articles")[1][0][0]
    if isinstance(archive, str):   # a shared archive (s3://): bench/bench_shared.py sizes the bucket
        return {**_throughput(articles, n_articles, result, wall, pages, rss),
                "chunk_pages": chunk_pages, "chunk_rss_mib": rss, "chunk_phases_s": phases}
    warc = dir_size(archive / "warc")
    parquet = dir_size(archive / "data")
    return {
        "articles_in_corpus": articles,
        "articles_stored": n_articles,
        "chunks": len(result["chunks"]),
        "pages": pages,
        "wall_s": round(wall, 1),
        "pages_per_s": round(pages / wall, 1),
        "rss_mib_first_chunk": rss[0] if rss else None,
        "rss_mib_median_chunk": sorted(rss)[len(rss) // 2] if rss else None,
        "rss_mib_last_chunk": rss[-1] if rss else None,
        "rss_mib_max": max(rss) if rss else None,
        # The true peak (between chunk ends too) of this process; the replay web runs apart.
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "warc_mib_per_1000": round(warc / 2**20 / n_articles * 1000, 2),
        "parquet_mib_per_1000": round(parquet / 2**20 / n_articles * 1000, 2),
        "catalog_mib": round((archive / "catalog.sqlite").stat().st_size / 2**20, 1),
        "index_mib_per_1000": round(dir_size(archive / "index") / 2**20 / n_articles * 1000, 2),
        "search_mib_per_1000": round(dir_size(archive, "search.duckdb*") / 2**20 / n_articles * 1000, 2),
        # Per chunk (the empty newest chunks included): flat pages/s and RSS mean the backfill streams.
        "chunk_pages": chunk_pages,
        "chunk_pages_per_s": [round(p / s, 1) if s else None for p, s in zip(chunk_pages, chunk_s)],
        "chunk_rss_mib": rss,
        "chunk_phases_s": phases,
    }


def _throughput(articles: int, n_articles: int, result: dict, wall: float, pages: int, rss: list[int]) -> dict:
    return {"articles_in_corpus": articles, "articles_stored": n_articles, "chunks": len(result["chunks"]),
            "pages": pages, "wall_s": round(wall, 1), "pages_per_s": round(pages / wall, 1),
            "rss_mib_max": max(rss) if rss else None,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--articles", type=int, default=100_000, help="articles in the site's corpus")
    ap.add_argument("--chunk-days", type=int, default=90)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--archive", default=None,
                    help="parent dir of the archive (default: a temp dir), or s3://BUCKET/PREFIX for a "
                         "shared archive ($NEWSARCHIVE_CATALOG, AWS_*, $NEWSARCHIVE_WORKDIR from the environment)")
    ap.add_argument("--from", dest="date_from", type=date.fromisoformat, default=date(2019, 1, 1))
    ap.add_argument("--to", dest="date_to", type=date.fromisoformat, default=date(2026, 11, 20))
    ap.add_argument("--replay-url", default=None,
                    help="backfill a replay web already running at URL (e.g. one shared by two bench workers)")
    ap.add_argument("--gate-own-slots", action="store_true",
                    help="work around PgHostGate's re-entrant slots (see bench_shared.patch_pg_host_gate)")
    args = ap.parse_args()
    if args.gate_own_slots:
        from bench_shared import patch_pg_host_gate
        patch_pg_host_gate()

    import psutil

    from bench_crawl import ExistingReplay, ReplayProcess, _bench_config
    from flows.backfill import backfill
    from flows.progress import set_reporter

    proc = psutil.Process()
    rss: list[int] = []
    pages = {"n": 0}
    phases: list[dict] = []
    chunk_pages: list[int] = []
    chunk_s: list[float] = []
    t_start = time.perf_counter()

    def on_event(event: str, data: dict) -> None:
        if event == "batch":
            pages["n"] += data["pages"]
        elif event == "discovered":
            print(f"  discovered {data['urls']} new URLs at {time.perf_counter() - t_start:.0f} s",
                  file=sys.stderr, flush=True)
        elif event == "timings":
            phases.append(data["timings"])
            print("  phases (s): " + ", ".join(f"{k} {v}" for k, v in data["timings"].items()),
                  file=sys.stderr, flush=True)
        elif event == "chunk_done":
            rss.append(proc.memory_info().rss // 2**20)
            chunk_pages.append(pages["n"] - sum(chunk_pages))
            chunk_s.append(round(time.perf_counter() - t_start - sum(chunk_s), 1))
            print(f"chunk {data['since']:%Y-%m-%d}..{data['until']:%Y-%m-%d}: pages so far {pages['n']}, "
                  f"RSS {rss[-1]} MiB", file=sys.stderr, flush=True)

    if args.archive and args.archive.startswith("s3://"):
        archive = args.archive   # shared: no local directory; the config goes to a temp dir
        cfg = Path(tempfile.mkdtemp(prefix="newsarchive-backfill-cfg-")) / "sites.toml"
    else:
        archive = Path(args.archive or tempfile.mkdtemp(prefix="newsarchive-backfill-")) / "archive"
        archive.parent.mkdir(parents=True, exist_ok=True)
        cfg = archive.parent / "sites.toml"
    cfg.write_text(_bench_config(args.concurrency), "utf-8")
    srv = ExistingReplay(args.replay_url) if args.replay_url else ReplayProcess(args.articles, seed=13)
    set_reporter(on_event)
    try:
        t0 = time.perf_counter()
        result = asyncio.run(backfill(site="reuters", date_from=args.date_from, date_to=args.date_to,
                                      chunk_days=args.chunk_days, archive=str(archive), config_path=str(cfg),
                                      replay_url=srv.url, delay_s=0.0, batch_size=500))
        wall = time.perf_counter() - t0
    finally:
        srv.stop()
    out = summary(args.articles, archive, result, wall, pages["n"], rss, phases, chunk_pages, chunk_s)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
