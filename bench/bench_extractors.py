"""Time each extractor per golden page (median ms of N runs) and print a table.

    /tmp/venv/bin/python bench/bench_extractors.py [-n 50]

Site extractors must stay <= 3 ms median per page; the generic extractor is
timed on the same pages (forced) for comparison.
"""
from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extractors import extractor_for, registry  # noqa: E402

PAGES = ROOT / "tests" / "pages"


def median_ms(fn, n: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=50)
    args = ap.parse_args()
    manifest = json.loads((PAGES / "manifest.json").read_text(encoding="utf-8"))
    print(f"{'page':45} {'KiB':>6} {'extractor':>12} {'ms':>7} {'generic ms':>11}")
    site_ms = []
    for name, info in sorted(manifest.items()):
        html = gzip.decompress((PAGES / f"{name}.html.gz").read_bytes()).decode("utf-8")
        url = info["url"]
        ext = extractor_for(url, info.get("extractor"))
        ms = median_ms(lambda: ext.parse(html, url), args.n)
        gms = median_ms(lambda: registry.get("generic").parse(html, url), max(5, args.n // 5))
        site_ms.append(ms)
        print(f"{name:45} {len(html) / 1024:6.0f} {ext.name:>12} {ms:7.2f} {gms:11.2f}")
    print(f"median over pages (site extractors): {statistics.median(site_ms):.2f} ms; "
          f"max {max(site_ms):.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
