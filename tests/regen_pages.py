"""Golden pages for tests/test_extractors.py.

    /tmp/venv/bin/python tests/regen_pages.py            # rewrite expectations (*.json)
    /tmp/venv/bin/python tests/regen_pages.py --pages    # also (re)collect the HTML pages

Each page is ``tests/pages/<site>/<name>.html.gz`` with its fetch URL in
``tests/pages/manifest.json`` and its expected record, ``Article.to_dict()``,
in ``<name>.json`` beside it. After regenerating, review with
``git diff tests/pages`` before committing: every change there is a change
in extractor output.

Sources (--pages): the real Reuters pages of ../shared/pages (2019, 2020,
2023), the hand-written seed pages (tests/handmade_pages.py, strictly from
docs/MARKUP.md), and, when the replay templates exist, the seed articles and
a few generated ones as rendered by the replay.
"""
from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

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


def read_page(name: str) -> str:
    raw = gzip.decompress((PAGES / f"{name}.html.gz").read_bytes())
    return raw.decode("utf-8")


def load_manifest() -> dict[str, dict]:
    return json.loads(MANIFEST.read_text(encoding="utf-8")) if MANIFEST.exists() else {}


def _write_page(name: str, html: str) -> None:
    path = PAGES / f"{name}.html.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0: byte-identical output for identical pages (clean git diffs).
    path.write_bytes(gzip.compress(html.encode("utf-8"), mtime=0))


GENERATED = (3, 40, 97)


def _replay_pages() -> dict[str, tuple[str, str]]:
    """{name: (url, html)} rendered by the replay templates (replay/sites/*.py).

    Not wired yet: the templates did not exist when this was written; add
    their render calls here (seed + GENERATED indices per site)."""
    return {}


def collect_pages() -> dict[str, dict]:
    sys.path.insert(0, str(ROOT / "tests"))
    sys.path.insert(0, str(ROOT))
    import handmade_pages

    manifest: dict[str, dict] = {}
    for name, (rel, url) in REAL.items():
        raw = (SHARED / rel).read_bytes()
        if rel.endswith(".gz"):
            raw = gzip.decompress(raw)
        _write_page(name, raw.decode("utf-8"))
        manifest[name] = {"url": url, "origin": f"../shared/pages/{rel}"}
    seeds = handmade_pages.load_seeds()
    for site, render in (("almayadeen", handmade_pages.almayadeen),
                         ("reuters", handmade_pages.reuters)):
        name = f"{site}/seed-handmade"
        _write_page(name, render(seeds[site]))
        manifest[name] = {"url": seeds[site]["url"],
                          "origin": "tests/handmade_pages.py (docs/MARKUP.md + seed)"}
    try:
        from replay.corpus import Corpus
    except ImportError:
        Corpus = None
    if Corpus is not None:
        corpus = Corpus()
        for site, render in (("almayadeen", handmade_pages.almayadeen),
                             ("reuters", handmade_pages.reuters)):
            for i in GENERATED:
                ca = corpus.article(site, i)
                name = f"{site}/generated-{i}-handmade"
                _write_page(name, render(handmade_pages.from_corpus(ca)))
                manifest[name] = {"url": ca.url, "origin": f"replay.corpus.Corpus().article({site!r}, {i}) "
                                  "rendered by tests/handmade_pages.py", "corpus_index": i}
    for name, (url, html) in _replay_pages().items():
        _write_page(name, html)
        manifest[name] = {"url": url, "origin": "replay"}
    MANIFEST.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return manifest


def expected_path(name: str) -> Path:
    return PAGES / f"{name}.json"


def regen_expectations(manifest: dict[str, dict]) -> None:
    sys.path.insert(0, str(ROOT))
    from extractors import extract
    for name, info in sorted(manifest.items()):
        art = extract(read_page(name), info["url"], extractor=info.get("extractor"))
        expected_path(name).write_text(
            json.dumps(art.to_dict(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {expected_path(name).relative_to(ROOT)}")


def main(argv: list[str]) -> int:
    manifest = collect_pages() if "--pages" in argv or not MANIFEST.exists() else load_manifest()
    regen_expectations(manifest)
    print("review with: git diff tests/pages")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
