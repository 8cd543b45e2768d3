"""Body-text scorers of the two dev sets in ../shared/pages (described in its README).

aeb-dev (Article Extraction Benchmark): tokens are ``\\w+`` matches; shingles are
runs of 4 consecutive tokens counted with multiplicity. Per page TP/FP/FN are
normalised to sum to 1; precision and recall are means over pages; F1 is the
harmonic mean of the two means.

trafilatura-eval-dev: whitespace collapsed in snippets and output; a "with"
snippet found is a TP, one missing a FN, a "without" snippet found a FP; the
counts are summed over all pages before precision/recall/F1.

    python tests/scoring.py            # generic extractor on ../shared/pages/aeb-dev
"""
from __future__ import annotations

import gzip
import json
import re
import sys
from collections import Counter
from pathlib import Path

_TOKEN = re.compile(r"\w+")
AEB_DIR = Path(__file__).resolve().parents[2] / "shared" / "pages" / "aeb-dev"
TRAF_DIR = AEB_DIR.parent / "trafilatura-eval-dev"


def shingles(text: str, n: int = 4) -> Counter:
    toks = _TOKEN.findall(text or "")
    return Counter(tuple(toks[i:i + n]) for i in range(max(0, len(toks) - n + 1)))


def page_counts(true: str, pred: str) -> tuple[float, float, float]:
    """Normalised (tp, fp, fn) of one page."""
    t, p = shingles(true), shingles(pred)
    tp = sum(min(c, p[s]) for s, c in t.items())
    fp = sum(p.values()) - tp
    fn = sum(t.values()) - tp
    total = tp + fp + fn
    if not total:
        return 0.0, 0.0, 0.0
    return tp / total, fp / total, fn / total


def score(pairs) -> dict[str, float]:
    """``pairs``: iterable of (true_text, predicted_text)."""
    precs, recs = [], []
    for true, pred in pairs:
        tp, fp, fn = page_counts(true, pred)
        if fp == 0 and fn == 0:
            precs.append(1.0)
            recs.append(1.0)
            continue
        if tp + fp > 0:
            precs.append(tp / (tp + fp))
        if tp + fn > 0:
            recs.append(tp / (tp + fn))
    p = sum(precs) / len(precs) if precs else 0.0
    r = sum(recs) / len(recs) if recs else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f1}


def _ws(text: str) -> str:
    return " ".join((text or "").split())


def snippet_counts(with_: list[str], without: list[str], pred: str) -> tuple[int, int, int]:
    """(tp, fp, fn) of one trafilatura-eval page."""
    out = _ws(pred)
    tp = sum(1 for s in with_ if _ws(s) in out)
    fp = sum(1 for s in without if _ws(s) in out)
    return tp, fp, len(with_) - tp


def snippet_score(counts) -> dict[str, float]:
    """``counts``: iterable of (tp, fp, fn) per page; summed, then P/R/F1."""
    tp = fp = fn = 0
    for a, b, c in counts:
        tp, fp, fn = tp + a, fp + b, fn + c
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def load_traf(directory: Path = TRAF_DIR):
    """Yield (key, url, html, with_snippets, without_snippets) for trafilatura-eval-dev."""
    data = json.loads((directory / "evaldata.json").read_text(encoding="utf-8"))
    for key in sorted(data):
        raw = gzip.decompress((directory / "html" / f"{key}.html.gz").read_bytes())
        d = data[key]
        yield key, d["url"], decode_html(raw), d["with"], d["without"]


def load_aeb(directory: Path = AEB_DIR):
    """Yield (key, url, html, true_body) for the aeb-dev pages."""
    gt = json.loads((directory / "ground-truth.json").read_text(encoding="utf-8"))
    for key in sorted(gt):
        raw = gzip.decompress((directory / "html" / f"{key}.html.gz").read_bytes())
        yield key, gt[key]["url"], decode_html(raw), gt[key]["articleBody"]


def decode_html(raw: bytes) -> str:
    """Decode served bytes: BOM / meta charset / UTF-8, else charset-normalizer."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", "replace")
    m = re.search(rb"""<meta[^>]+charset=["']?([\w-]+)""", raw[:4096], re.I)
    if m:
        try:
            return raw.decode(m.group(1).decode("ascii"), "replace")
        except LookupError:
            pass
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes
        best = from_bytes(raw).best()
        return str(best) if best is not None else raw.decode("latin-1")


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from extractors import extract
    verbose = "-v" in argv
    pairs = []
    for key, url, html, true in load_aeb():
        pred = extract(html, url, extractor="generic").body
        pairs.append((true, pred))
        if verbose:
            s = score([(true, pred)])
            print(f"{s['f1']:.3f} p={s['precision']:.3f} r={s['recall']:.3f} {key[:8]} {url}")
    s = score(pairs)
    print(f"generic on aeb-dev ({len(pairs)} pages): F1 {s['f1']:.3f}  "
          f"precision {s['precision']:.3f}  recall {s['recall']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
