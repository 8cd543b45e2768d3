"""Generic extractor vs trafilatura on the real pages of ../shared/pages, in one run.

    .venv/bin/pip install -q -e ".[test,bench]"
    .venv/bin/python bench/bench_generic.py [--half even|odd] [--sets aeb,traf,news]
                                            [--repeat 3] [--pages] [--no-trafilatura]

Sets (../shared/pages, read-only), one line each per extractor:
- aeb-dev/: 88 pages, human ground truth (``articleBody``), shingle F1
  (means over pages, tests/scoring.py);
- trafilatura-eval-dev/: 418 pages with "with"/"without" snippets, snippet F1
  (counts summed over pages);
- news/<site>/ + reuters/fundus-*: pages whose source published a full body:
  fundus (summary + section headlines + paragraphs), goose3 (``cleaned_text``),
  newspaper4k (``text``), readability (text of ``.expected.html``); shingle F1.
  ``aeb-*`` copies of aeb-dev pages are skipped for the body; ``trafilatura-*``
  pages are scored by their snippets inside the news line.
  Metadata (title, published date with timezone, authors, language) is scored on
  every news page whose source gives an expected value, from the same
  ``parse`` call that produced the body.

``--half even`` / ``--half odd`` keeps the even / odd-indexed pages (sorted keys)
of each set: tune on one half, check on the other.

Timing: ``time.perf_counter`` around each call, both extractors on the same
decoded ``str`` in the same process; with ``--repeat N`` the per-page time is the
minimum of N runs (less scheduler noise).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "pages"
sys.path.insert(0, str(ROOT))

from extractors import extract  # noqa: E402
from extractors.dates import parse_datetime  # noqa: E402


def _scoring():
    spec = importlib.util.spec_from_file_location("_bench_scoring", ROOT / "tests" / "scoring.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


scoring = _scoring()


# ------------------------------------------------------------------ news pages: truth

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


def _byline(value: str | None) -> list[str] | None:
    if not value:
        return None
    import re
    value = re.sub(r"^\s*by\s+", "", value, flags=re.I)
    return [p.strip() for p in re.split(r",| and ", value) if p.strip()]


def news_truth(html_path: Path) -> dict:
    """Expected values of a news/ or reuters/ page: body (text, or with/without
    snippets), title, published, authors, language; None where the source gives none."""
    stem = html_path.name[: -len(".html")]
    kind = stem.split("-", 1)[0]
    exp_json = html_path.with_name(stem + ".expected.json")
    t: dict = {"body": None, "with": None, "title": None, "published": None, "authors": None,
               "language": None}
    if kind == "fundus":
        e = json.loads(exp_json.read_text(encoding="utf-8"))
        t.update(body=_fundus_body(e), title=e.get("title"), published=e.get("publishing_date"),
                 authors=e.get("authors"))
    elif kind == "goose3":
        e = json.loads(exp_json.read_text(encoding="utf-8"))["expected"]
        t.update(body=e["cleaned_text"], language=e.get("meta_lang"))
    elif kind == "newspaper4k":
        e = json.loads(exp_json.read_text(encoding="utf-8"))
        t.update(body=e["text"], title=e.get("title"), published=e.get("publish_date"),
                 authors=e.get("authors") or None, language=e.get("meta_lang") or e.get("language"))
    elif kind == "readability":
        e = json.loads(html_path.with_name(stem + ".expected-metadata.json").read_text(encoding="utf-8"))
        t.update(body=_html_text(html_path.with_name(stem + ".expected.html").read_text(encoding="utf-8")),
                 title=e.get("title"), published=e.get("publishedTime"),
                 authors=_byline(e.get("byline")), language=e.get("lang"))
    elif kind == "trafilatura":
        e = json.loads(exp_json.read_text(encoding="utf-8"))
        t.update(**{"with": (e["with"], e["without"])}, title=e.get("title") or None,
                 published=e.get("date") or None, authors=_byline(e.get("author")))
    return t   # aeb-*: duplicates of aeb-dev pages, no metadata


# ------------------------------------------------------------------ metadata scoring

def _fold(s: str) -> str:
    return " ".join(s.split()).casefold()


def date_ok(expected: str, got: datetime | None) -> bool:
    """Same instant when the expected value has a time and an offset; when it gives a
    date only (or a naive midnight), the extracted instant must fall on that date in
    some timezone (UTC-12..UTC+14)."""
    if got is None:
        return False
    try:
        exp = datetime.fromisoformat(expected.replace("Z", "+00:00"))
    except ValueError:
        return False
    if exp.tzinfo is not None:
        return abs((got - exp).total_seconds()) < 60
    day = exp.replace(hour=0, minute=0, second=0, tzinfo=timezone.utc)
    return day - timedelta(hours=14) <= got < day + timedelta(hours=36)


def meta_ok(field: str, expected, art) -> bool:
    if field == "title":
        return bool(art.title) and _fold(art.title) == _fold(expected)
    if field == "published":
        return date_ok(expected, art.published_at) and art.published_at.tzinfo is not None
    if field == "authors":
        return {_fold(a) for a in art.authors} == {_fold(a) for a in expected}
    if field == "language":
        return (art.language or "").split("-")[0].lower() == expected.split("-")[0].lower()
    raise ValueError(field)


META_FIELDS = ("title", "published", "authors", "language")


# ------------------------------------------------------------------ page sets

def _half(items: list, half: str | None) -> list:
    if half == "even":
        return items[0::2]
    if half == "odd":
        return items[1::2]
    return items


def load_sets(names: set[str], half: str | None) -> list[dict]:
    """[{set, key, url, html, truth | with+without, meta}] in a stable order."""
    pages: list[dict] = []
    if "aeb" in names:
        for key, url, html, true in _half(list(scoring.load_aeb()), half):
            pages.append({"set": "aeb-dev", "key": key, "url": url, "html": html, "truth": true})
    if "traf" in names:
        for key, url, html, w, wo in _half(list(scoring.load_traf()), half):
            pages.append({"set": "trafilatura-eval-dev", "key": key, "url": url, "html": html,
                          "with": w, "without": wo})
    if "news" in names:
        paths = [p for p in sorted(SHARED.glob("news/*/*.html")) + sorted(SHARED.glob("reuters/fundus-*.html"))
                 if not p.name.endswith(".expected.html")]
        for path in _half(paths, half):
            t = news_truth(path)
            html = scoring.decode_html(path.read_bytes())
            page = {"set": "news", "key": str(path.relative_to(SHARED)), "html": html,
                    "url": _url_of(path.with_name(path.name[:-5] + ".source.txt")),
                    "meta": {f: t[f] for f in META_FIELDS if t[f]}}
            if t["body"]:
                page["truth"] = t["body"]
            elif t["with"]:
                page["with"], page["without"] = t["with"]
            pages.append(page)
    return pages


# ------------------------------------------------------------------ systems

def _trafilatura():
    try:
        import trafilatura
    except ImportError:
        sys.exit('trafilatura is not installed: pip install -e ".[bench]"')

    def run(html: str, url: str):
        return trafilatura.extract(html, url=url, include_comments=False) or "", None
    return run, trafilatura.__version__


def _generic(html: str, url: str):
    art = extract(html, url, extractor="generic")
    return art.body, art


def timed(fn, html: str, url: str, repeat: int):
    best, out = float("inf"), ("", None)
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(html, url)
        best = min(best, (time.perf_counter() - t0) * 1000)
    return out, best


def score_set(rows: list[tuple[dict, str]]) -> dict[str, float]:
    """Shingle F1 over pages with a full body, snippet F1 over snippet pages; a mixed
    set (news) reports the shingle score when it has body pages."""
    shingle = [(p["truth"], pred) for p, pred in rows if "truth" in p]
    snip = [scoring.snippet_counts(p["with"], p["without"], pred) for p, pred in rows if "with" in p]
    return scoring.score(shingle) if shingle else scoring.snippet_score(snip)


def page_f1(page: dict, pred: str) -> float:
    if "truth" in page:
        return scoring.score([(page["truth"], pred)])["f1"]
    return scoring.snippet_score([scoring.snippet_counts(page["with"], page["without"], pred)])["f1"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=1, help="runs per page; the fastest counts")
    ap.add_argument("--pages", action="store_true", help="print per-page F1 of both")
    ap.add_argument("--half", choices=("even", "odd"), help="even- or odd-indexed pages of each set")
    ap.add_argument("--sets", default="aeb,traf,news", help="comma list of aeb, traf, news")
    ap.add_argument("--no-trafilatura", action="store_true", help="generic only (while iterating)")
    args = ap.parse_args(argv)
    systems = [("newsarchive generic", _generic)]
    if not args.no_trafilatura:
        traf, traf_version = _trafilatura()
        systems.append((f"trafilatura {traf_version}", traf))
    pages = load_sets(set(args.sets.split(",")), args.half)
    for p in pages[:3]:      # warm-up: imports, regex compilation, caches
        for _n, fn in systems:
            fn(p["html"], p["url"])
    sets = list(dict.fromkeys(p["set"] for p in pages))
    res = {name: {s: {"rows": [], "ms": []} for s in sets} for name, _ in systems}
    meta = {f: [0, 0] for f in META_FIELDS}
    for p in pages:
        f1s = []
        for name, fn in systems:
            (pred, art), ms = timed(fn, p["html"], p["url"], args.repeat)
            r = res[name][p["set"]]
            r["rows"].append((p, pred))
            r["ms"].append(ms)
            f1s.append(page_f1(p, pred) if ("truth" in p or "with" in p) else float("nan"))
            if art is not None:
                for field, expected in p.get("meta", {}).items():
                    meta[field][0] += meta_ok(field, expected, art)
                    meta[field][1] += 1
        if args.pages:
            print(" ".join(f"{x:.3f}" for x in f1s) + f" {p['set'][:4]} {p['key'][:40]} {p['url']}")
    half = f", {args.half} half" if args.half else ""
    print(f"\n{len(pages)} pages{half}: " + ", ".join(
        f"{s} {len(res[systems[0][0]][s]['rows'])}" for s in sets) + "\n")
    print("| set (scoring) | extractor | precision | recall | F1 | ms/page median |")
    print("|---|---|---|---|---|---|")
    kinds = {"aeb-dev": "shingle", "trafilatura-eval-dev": "snippet", "news": "shingle"}
    for s in sets:
        for name, _ in systems:
            r = res[name][s]
            sc = score_set([row for row in r["rows"] if "truth" in row[0] or "with" in row[0]])
            print(f"| {s} ({kinds[s]}) | {name} | {sc['precision']:.3f} | {sc['recall']:.3f} | "
                  f"{sc['f1']:.3f} | {statistics.median(r['ms']):.2f} |")
    if len(systems) == 2:
        print()
        for s in sets:
            g_ms, t_ms = (statistics.median(res[n][s]["ms"]) for n, _ in systems)
            g_f1, t_f1 = (score_set([row for row in res[n][s]["rows"] if "truth" in row[0] or "with" in row[0]])["f1"]
                          for n, _ in systems)
            print(f"{s}: F1 {g_f1 - t_f1:+.3f} vs trafilatura, median time {g_ms / t_ms:.2f}x of its")
    if any(n for _, n in meta.values()):
        print("\nmetadata of the generic extractor on news pages with expected values:")
        print("| field | correct | pages | accuracy |\n|---|---|---|---|")
        for field, (ok, n) in meta.items():
            if n:
                print(f"| {field} | {ok} | {n} | {ok / n:.2f} |")
    cmd = "bench/bench_generic.py" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    print(f"\ncommand: .venv/bin/python {cmd}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
