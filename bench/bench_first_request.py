"""Time from `newsarchive run` starting to the replay web receiving its first request.

    python bench/bench_first_request.py                 # 3 runs, each with a fresh PREFECT_HOME
    python bench/bench_first_request.py --runs 5 --warm-home

The replay web runs in its own process (`newsarchive replay`), started before the clock starts,
so its own start is not counted; `run --replay-url` crawls it. The replay records the wall-clock
time of the first site request (`/__replay__/stats` -> first_request_at); the bench records the
wall-clock time just before it starts the `newsarchive run` process. PREFECT_API_URL is unset,
so each run starts (or reuses) its own local Prefect server exactly as a user's first `run` does.
Each run gets a fresh PREFECT_HOME (a first run on a machine: database created and migrated)
unless --warm-home, which reuses one home across the runs (the database already exists).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

EXE = Path(sys.executable).with_name("newsarchive")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_replay(articles: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([str(EXE), "replay", "--port", str(port), "--articles", str(articles)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{url}/__replay__/stats", timeout=2).raise_for_status()
            return proc, url
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"the replay web did not start on {url}")
            time.sleep(0.05)


def one_run(replay_url: str, home: Path, work: Path, max_articles: int) -> dict:
    """One `newsarchive run`; returns the seconds to its first request and to its exit."""
    httpx.post(f"{replay_url}/__replay__/reset").raise_for_status()
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(home), NEWSARCHIVE_ARCHIVE=str(work / "archive"))
    cmd = [str(EXE), "run", "--replay-url", replay_url, "--max-articles", str(max_articles), "--query", "",
           "--no-progress"]
    t0 = time.time()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    total = time.time() - t0
    if done.returncode != 0:
        raise SystemExit(f"`{' '.join(cmd)}` exited {done.returncode}: {done.stderr[-2000:]}")
    first = httpx.get(f"{replay_url}/__replay__/stats").json()["first_request_at"]
    return {"first_request_s": round(first - t0, 2), "total_s": round(total, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--max-articles", type=int, default=20, help="articles per site each run fetches")
    ap.add_argument("--warm-home", action="store_true", help="one PREFECT_HOME for all runs (not a fresh one each)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    replay, url = start_replay(articles=max(args.max_articles, 40))
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-first-request-") as tmp:
            for n in range(args.runs):
                home = Path(tmp) / ("home" if args.warm_home else f"home-{n}")
                work = Path(tmp) / f"run-{n}"
                work.mkdir()
                results.append(one_run(url, home, work, args.max_articles))
                print(f"run {n + 1}: first request after {results[-1]['first_request_s']:.2f} s, "
                      f"exit after {results[-1]['total_s']:.2f} s", file=sys.stderr)
                shutil.rmtree(work, ignore_errors=True)
    finally:
        replay.terminate()
        replay.wait(timeout=20)
    firsts = [r["first_request_s"] for r in results]
    summary = {"runs": results, "first_request_median_s": statistics.median(firsts),
               "first_request_max_s": max(firsts), "warm_home": args.warm_home, "cpus": os.cpu_count(),
               "load_1min": round(os.getloadavg()[0], 2)}
    print(json.dumps(summary) if args.json else
          f"first request: median {summary['first_request_median_s']:.2f} s, max {summary['first_request_max_s']:.2f} s "
          f"over {len(firsts)} runs ({'warm' if args.warm_home else 'fresh'} PREFECT_HOME; "
          f"load {summary['load_1min']} on {summary['cpus']} CPUs)")


if __name__ == "__main__":
    main()
