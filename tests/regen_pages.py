"""Golden pages for tests/test_extractors.py.

    /tmp/venv/bin/python tests/regen_pages.py            # rewrite expectations (*.json)
    /tmp/venv/bin/python tests/regen_pages.py --pages    # also re-render / re-copy the HTML pages

Each page is ``tests/pages/<site>/<name>.html.gz`` with its fetch URL in
``tests/pages/manifest.json`` and its expected record, ``Article.to_dict()``,
in ``<name>.json`` beside it. Regenerating prints every replay page whose
extracted record disagrees with the corpus ground truth (``MISMATCH``); the
test suite fails on those too. Then review ``git diff tests/pages``: every
change there is a change in extractor output (docs/EXTRACTORS.md).

Pages:
- ``<site>/seed``: the seed article as the replay renders it;
- ``<site>/<variant>-<i>``: the first corpus article (``Corpus()``, index
  ``i``) that has the variant, see ``VARIANTS`` below;
- ``reuters/real-*``: real captured Reuters pages of ../shared/pages.
"""
from __future__ import annotations

import gzip
import json
import sys
from datetime import timezone
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "tests" / "pages"
MANIFEST = PAGES / "manifest.json"
SHARED = ROOT.parent / "shared" / "pages"

REAL = {
    "reuters/real-2019-global-markets": (
        "aeb-dev/html/57d46c9d751e3fd3ffaf3ede7ac20cebd30eacb5ea78e1a6aa0a72059244e7ca.html.gz",
        "https://www.reuters.com/article/us-global-markets/asian-shares-soft-as-trade-doubts-creep-back-in-idUSKBN1XT00W"),
    "reuters/real-2020-parasite-sag-awards": (
        "reuters/2020-parasite-sag-awards.html",
        "https://www.reuters.com/article/us-awards-sag/parasite-scores-upset-at-sag-awards-boosting-oscar-chances-idUSKBN1ZI0EH"),
    "reuters/real-2023-nepal-flydubai": (
        "reuters/fundus-2023-nepal-flydubai.html",
        "https://www.reuters.com/business/aerospace-defense/nepal-says-no-proof-flydubai-plane-suffered-bird-strike-2023-04-25/"),
}

# variant name -> (sites, predicate on a CorpusArticle). The first matching index is saved.
VARIANTS: dict[str, tuple[tuple[str, ...], Callable]] = {
    "no-image": (("almayadeen", "reuters"), lambda a: not a.images and not a.variant),
    "several-authors": (("almayadeen", "reuters"), lambda a: len(a.authors) >= 3 and not a.variant),
    "non-ascii-author": (("almayadeen", "reuters"),
                         lambda a: any(not n.isascii() for n in a.authors) and len(a.authors) == 1),
    "opinion": (("almayadeen",), lambda a: a.section_path == "articles/opinion" and not a.variant),
    "analysis": (("almayadeen",), lambda a: a.section_path == "articles/analysis" and not a.variant),
    "breakingviews": (("reuters",), lambda a: a.variant == "opinion"),
    "video": (("almayadeen", "reuters"), lambda a: a.variant == "video"),
    "update": (("almayadeen", "reuters"), lambda a: a.variant == "update" and a.images),
    "subheads-related": (("almayadeen", "reuters"),
                         lambda a: any(k == "h" for k, _ in a.body) and a.related and not a.variant),
}
SITES = ("almayadeen", "reuters")


def read_page(name: str) -> str:
    raw = gzip.decompress((PAGES / f"{name}.html.gz").read_bytes())
    return raw.decode("utf-8")


def load_manifest() -> dict[str, dict]:
    return json.loads(MANIFEST.read_text(encoding="utf-8")) if MANIFEST.exists() else {}


def expected_path(name: str) -> Path:
    return PAGES / f"{name}.json"


def _write_page(name: str, html: str) -> None:
    path = PAGES / f"{name}.html.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0: byte-identical output for identical pages (clean git diffs).
    path.write_bytes(gzip.compress(html.encode("utf-8"), mtime=0))


def render(corpus, site: str, i: int) -> str:
    """Article ``i`` as the replay serves it, with fixed chrome (ticker bucket 0,
    the same Most Read / Read Next lists as replay/app.py)."""
    from replay.sites import almayadeen, reuters
    from replay.sites.common import Teaser, ticker_items
    n = corpus.per_site
    most_read = [Teaser(*corpus.headline(site, j)) for j in range(n - 1, n - 5, -1) if j != i][:4]
    read_next = [Teaser(*corpus.headline(site, j)) for j in range(i - 1, i - 5, -1) if j >= 0]
    module = {"almayadeen": almayadeen, "reuters": reuters}[site]
    return module.render_article(corpus.article(site, i), ticker_items(site, corpus.seed, 0),
                                 most_read, read_next)


def _replay_pages() -> dict[str, tuple[int, str, str]]:
    """{name: (corpus index, url, html)}: each site's seed and one page per variant."""
    from replay.corpus import Corpus
    corpus = Corpus()
    out = {}
    for site in SITES:
        i = corpus.seed_index(site)
        out[f"{site}/seed"] = (i, corpus.article(site, i).url, render(corpus, site, i))
        for variant, (sites, wanted) in VARIANTS.items():
            if site not in sites:
                continue
            i = next(k for k in range(corpus.per_site)
                     if k != corpus.seed_index(site) and wanted(corpus.article(site, k)))
            out[f"{site}/{variant}-{i}"] = (i, corpus.article(site, i).url, render(corpus, site, i))
    return out


def collect_pages() -> dict[str, dict]:
    for old in PAGES.glob("*/*"):          # pages no longer produced must not linger
        if old.suffix in (".gz", ".json"):
            old.unlink()
    manifest: dict[str, dict] = {}
    for name, (rel, url) in REAL.items():
        raw = (SHARED / rel).read_bytes()
        if rel.endswith(".gz"):
            raw = gzip.decompress(raw)
        _write_page(name, raw.decode("utf-8"))
        manifest[name] = {"url": url, "origin": f"../shared/pages/{rel}"}
    for name, (i, url, html) in _replay_pages().items():
        _write_page(name, html)
        site = name.split("/")[0]
        manifest[name] = {"url": url, "corpus_index": i,
                          "origin": f"replay: Corpus().article({site!r}, {i}) via tests/regen_pages.py:render"}
    MANIFEST.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return manifest


def truth_mismatches(name: str, record: dict, info: dict) -> list[str]:
    """Fields of an expected record that disagree with the replay corpus ground truth."""
    from extractors.text import norm
    from replay.corpus import Corpus
    site = name.split("/")[0]
    t = Corpus().article(site, info["corpus_index"])
    want = {
        "url": t.url, "title": t.title, "summary": t.standfirst, "authors": list(t.authors),
        "source": t.source, "section": t.section, "tags": list(t.tags), "language": t.language,
        "published_at": t.published.astimezone(timezone.utc).isoformat(),
        "modified_at": t.modified.astimezone(timezone.utc).isoformat(),
        "dateline": t.dateline, "credits": t.credits, "related": list(t.related),
        "body": "\n\n".join(norm(x) for _k, x in t.body),
        "images": [{"url": im.url, "caption": im.caption} for im in t.images],
    }
    return [k for k, v in want.items() if record.get(k) != v]


def regen_expectations(manifest: dict[str, dict]) -> int:
    from extractors import extract
    bad = 0
    for name, info in sorted(manifest.items()):
        record = extract(read_page(name), info["url"], extractor=info.get("extractor")).to_dict()
        expected_path(name).write_text(
            json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        wrong = truth_mismatches(name, record, info) if "corpus_index" in info else []
        bad += bool(wrong)
        print(f"wrote {expected_path(name).relative_to(ROOT)}"
              + (f"  MISMATCH with corpus truth: {', '.join(wrong)}" if wrong else ""))
    return bad


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    manifest = collect_pages() if "--pages" in argv or not MANIFEST.exists() else load_manifest()
    bad = regen_expectations(manifest)
    print("review with: git diff --stat tests/pages && git diff tests/pages")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
