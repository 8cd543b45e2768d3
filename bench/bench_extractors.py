"""Site extractors' speed on replay pages: median ms/page per site (budget: 3 ms).

    /tmp/venv/bin/python bench/bench_extractors.py [--pages 250] [--repeat 5]

Renders ``--pages`` articles per site from the replay corpus (all variants:
video, update, opinion, no image, ...) with the replay templates, then times
``Extractor.parse(html, url)`` on each (fastest of ``--repeat`` runs, so the
number is the extractor's cost, not scheduler noise). The real captured
Reuters pages of tests/pages are timed as well, for comparison; they are
5-20 times larger than replay pages.
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
sys.path.insert(0, str(ROOT / "tests"))

from extractors import extractor_for  # noqa: E402
from replay.corpus import Corpus  # noqa: E402

PAGES = ROOT / "tests" / "pages"
BUDGET_MS = 3.0


def fastest_ms(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, (time.perf_counter() - t0) * 1000)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=int, default=250, help="replay articles per site")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    from regen_pages import render
    corpus = Corpus(per_site=max(10, args.pages))
    rows, worst = [], 0.0
    for site in ("almayadeen", "reuters"):
        times, sizes = [], []
        for i in range(args.pages):
            a = corpus.article(site, i)
            html = render(corpus, site, i)
            ext = extractor_for(a.url)
            ext.parse(html, a.url)   # warm-up
            times.append(fastest_ms(lambda: ext.parse(html, a.url), args.repeat))
            sizes.append(len(html) / 1024)
        med = statistics.median(times)
        worst = max(worst, med)
        rows.append((f"{site} (replay)", len(times), statistics.median(sizes), med,
                     statistics.quantiles(times, n=20)[-1], max(times)))
    manifest = json.loads((PAGES / "manifest.json").read_text(encoding="utf-8"))
    for name, info in sorted(manifest.items()):
        if "corpus_index" in info:
            continue
        html = gzip.decompress((PAGES / f"{name}.html.gz").read_bytes()).decode("utf-8")
        ext = extractor_for(info["url"], info.get("extractor"))
        ms = fastest_ms(lambda: ext.parse(html, info["url"]), args.repeat)
        rows.append((name, 1, len(html) / 1024, ms, ms, ms))
    print("| pages | n | KiB (median) | ms/page median | p95 | max |")
    print("|---|---|---|---|---|---|")
    for name, n, kib, med, p95, mx in rows:
        print(f"| {name} | {n} | {kib:.0f} | {med:.2f} | {p95:.2f} | {mx:.2f} |")
    verdict = "OK" if worst <= BUDGET_MS else "OVER BUDGET"
    print(f"\nsite extractors on replay pages: worst site median {worst:.2f} ms "
          f"(budget {BUDGET_MS} ms): {verdict}")
    print(f"command: /tmp/venv/bin/python bench/bench_extractors.py --pages {args.pages} --repeat {args.repeat}")
    return 0 if worst <= BUDGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
