"""Memory of a loaded near-duplicate index: what a backfill chunk pays for the archive's history.

    /tmp/venv/bin/python bench/bench_neardup_memory.py                  # 100,000 docs, saved every 6,250
    /tmp/venv/bin/python bench/bench_neardup_memory.py --docs 200000

Builds an index of ``--docs`` synthetic bodies (bench_neardup's generator), saving it every
``--save-every`` ``check_and_add`` calls the way backfill chunks do; then a fresh process
loads it and runs ``--save-every`` more ``check_and_add`` calls of new bodies. Reported:
tracemalloc-traced MiB after the load (what the index holds), RSS (anonymous and
file-backed, from /proc/self/status) after the load and after the new documents, load and
lookup times, segments on disk.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_neardup import synthetic  # noqa: E402
from dedup.neardup import NearDupIndex  # noqa: E402


def _status() -> dict[str, float]:
    out = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def build(path: Path, docs: int, save_every: int) -> dict:
    idx, t0 = NearDupIndex(), time.perf_counter()
    for k, (doc_id, body, _) in enumerate(synthetic(docs, 0.05, 20_000, 1), 1):
        idx.check_and_add(doc_id, body)
        if k % save_every == 0:
            idx.save(path)
    idx.save(path)
    return {"docs": len(idx), "build_s": round(time.perf_counter() - t0, 1),
            "segments": len(list(path.glob("seg-*.sig.npy"))) + len(list(path.glob("seg-*.npz"))),
            "disk_mib": round(sum(p.stat().st_size for p in path.iterdir()) / 2**20, 1)}


def measure(path: Path, new: int) -> dict:
    bodies = [b for _, b, _ in synthetic(new, 0.05, 20_000, 2)]
    base = _status()
    tracemalloc.start()
    t = time.perf_counter()
    idx = NearDupIndex.load(path)
    load_s = time.perf_counter() - t
    indexed = len(idx)
    traced = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    loaded = _status()
    t = time.perf_counter()
    for i, body in enumerate(bodies):
        idx.check_and_add(f"new-{i}", body)
    add_s = time.perf_counter() - t
    added = _status()
    return {"indexed": indexed, "load_s": round(load_s, 2), "traced_mib_after_load": round(traced / 2**20, 1),
            "rss_mib_before_load": base["VmRSS"], "rss_mib_after_load": loaded["VmRSS"],
            "anon_mib_after_load": loaded["RssAnon"], "file_mib_after_load": loaded["RssFile"],
            f"rss_mib_after_{new}_more": added["VmRSS"], f"anon_mib_after_{new}_more": added["RssAnon"],
            f"check_and_add_{new}_s": round(add_s, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--save-every", type=int, default=6_250)
    ap.add_argument("--measure", metavar="DIR", help=argparse.SUPPRESS)   # the fresh-process half
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure), args.save_every)))
        return
    with tempfile.TemporaryDirectory(prefix="neardup-mem-") as tmp:
        path = Path(tmp) / "neardup"
        built = build(path, args.docs, args.save_every)
        out = subprocess.run([sys.executable, __file__, "--measure", str(path), "--save-every", str(args.save_every)],
                             check=True, capture_output=True, text=True).stdout
        print(json.dumps({**built, **json.loads(out)}, indent=2))


if __name__ == "__main__":
    main()
