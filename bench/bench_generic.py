"""Generic extractor vs trafilatura on every real page with a usable body ground truth.

    pip install -e ".[bench]"      # or: /tmp/venv/bin/pip install trafilatura
    /tmp/venv/bin/python bench/bench_generic.py [--repeat 3] [--pages]

Pages (../shared/pages, read-only):
- aeb-dev/: 88 pages, human ground truth (``articleBody``);
- news/<site>/: pages whose source published a full expected body: fundus
  (summary + section headlines + paragraphs), goose3 (``cleaned_text``),
  newspaper4k (``text``), readability (the text of ``.expected.html``). Skipped:
  ``aeb-*`` (copies of aeb-dev pages) and ``trafilatura-*`` (with/without
  snippets only, no full body);
- reuters/fundus-2023-*: fundus format (the 2019 Reuters page is in aeb-dev,
  the 2020 one has snippets only).

Scoring: the Article Extraction Benchmark scorer (tests/scoring.py, described in
../shared/pages/README.md). Timing: ``time.perf_counter`` around each call, both
extractors on the same decoded ``str`` in the same process; with ``--repeat N``
the per-page time is the minimum of N runs (less scheduler noise).
"""
from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "pages"
sys.path.insert(0, str(ROOT))

from extractors import extract  # noqa: E402


def _scoring():
    spec = importlib.util.spec_from_file_location("_bench_scoring", ROOT / "tests" / "scoring.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


scoring = _scoring()


def _fundus_body(exp: dict) -> str:
    body = exp["body"]
    return "\n\n".join(body.get("summary", []) + [p for s in body.get("sections", [])
                                                  for p in s.get("headline", []) + s.get("paragraphs", [])])


def _html_text(html: str) -> str:
    from selectolax.lexbor import LexborHTMLParser
    tree = LexborHTMLParser(html)
    blocks = tree.css("p, h1, h2, h3, h4, h5, h6, li, pre, blockquote, td")
    return "\n\n".join(b.text(deep=True, separator=" ").strip() for b in blocks)


def _url_of(source_txt: Path) -> str:
    for line in source_txt.read_text(encoding="utf-8").splitlines():
        if line.startswith("url:"):
            return line.split(":", 1)[1].strip()
    return "https://example.org/"


def news_truth(html_path: Path) -> str | None:
    """Expected body of a news/ or reuters/ page, or None when its source gives none usable."""
    stem = html_path.name[: -len(".html")]
    kind = stem.split("-", 1)[0]
    exp_json = html_path.with_name(stem + ".expected.json")
    if kind == "fundus":
        return _fundus_body(json.loads(exp_json.read_text(encoding="utf-8")))
    if kind == "goose3":
        return json.loads(exp_json.read_text(encoding="utf-8"))["expected"]["cleaned_text"]
    if kind == "newspaper4k":
        return json.loads(exp_json.read_text(encoding="utf-8"))["text"]
    if kind == "readability":
        return _html_text(html_path.with_name(stem + ".expected.html").read_text(encoding="utf-8"))
    return None   # aeb-* (duplicates of aeb-dev), trafilatura-* (snippets only)


def load_pages() -> list[tuple[str, str, str, str]]:
    """[(group, url, html, true_body)]"""
    pages = [("aeb-dev", url, html, true) for _k, url, html, true in scoring.load_aeb()]
    for path in sorted(SHARED.glob("news/*/*.html")) + sorted(SHARED.glob("reuters/fundus-*.html")):
        if path.name.endswith(".expected.html"):
            continue
        true = news_truth(path)
        if not true:
            continue
        html = scoring.decode_html(path.read_bytes())
        group = "reuters" if path.parent.name == "reuters" else "news"
        pages.append((group, _url_of(path.with_name(path.name[:-5] + ".source.txt")), html, true))
    return pages


def _trafilatura():
    try:
        import trafilatura
    except ImportError:
        sys.exit('trafilatura is not installed: pip install -e ".[bench]" (or pip install trafilatura)')

    def run(html: str, url: str) -> str:
        return trafilatura.extract(html, url=url, include_comments=False) or ""
    return run, trafilatura.__version__


def timed(fn, html: str, url: str, repeat: int) -> tuple[str, float]:
    best, out = float("inf"), ""
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(html, url)
        best = min(best, (time.perf_counter() - t0) * 1000)
    return out, best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=1, help="runs per page; the fastest counts")
    ap.add_argument("--pages", action="store_true", help="print per-page F1 of both")
    args = ap.parse_args(argv)
    traf, traf_version = _trafilatura()
    generic = lambda html, url: extract(html, url, extractor="generic").body   # noqa: E731
    systems = [("newsarchive generic", generic), (f"trafilatura {traf_version}", traf)]
    pages = load_pages()
    for _g, url, html, _t in pages[:3]:      # warm-up: imports, regex compilation, caches
        for _n, fn in systems:
            fn(html, url)
    results = {name: {"pairs": [], "ms": [], "groups": {}} for name, _ in systems}
    for group, url, html, true in pages:
        row = []
        for name, fn in systems:
            pred, ms = timed(fn, html, url, args.repeat)
            r = results[name]
            r["pairs"].append((true, pred))
            r["ms"].append(ms)
            r["groups"].setdefault(group, []).append((true, pred))
            row.append(scoring.score([(true, pred)])["f1"])
        if args.pages:
            print(f"{row[0]:.3f} {row[1]:.3f} {group:8} {url}")
    groups = sorted({g for g, *_ in pages})
    counts = {g: sum(1 for p in pages if p[0] == g) for g in groups}
    print(f"\n{len(pages)} pages: " + ", ".join(f"{g} {counts[g]}" for g in groups) + "\n")
    print("| extractor | precision | recall | F1 | " + " | ".join(f"F1 {g}" for g in groups)
          + " | ms/page median | ms/page mean |")
    print("|---|---|---|---|" + "---|" * len(groups) + "---|---|")
    for name, _ in systems:
        r = results[name]
        s = scoring.score(r["pairs"])
        per_group = " | ".join(f"{scoring.score(r['groups'][g])['f1']:.3f}" for g in groups)
        print(f"| {name} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {per_group} | "
              f"{statistics.median(r['ms']):.2f} | {statistics.mean(r['ms']):.2f} |")
    g_ms, t_ms = (statistics.median(results[n]["ms"]) for n, _ in systems)
    print(f"\nspeed-up (median ms/page): {t_ms / g_ms:.1f}x")
    print("command: /tmp/venv/bin/python bench/bench_generic.py" + (f" --repeat {args.repeat}"
                                                                    if args.repeat != 1 else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
