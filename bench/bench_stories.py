"""Cross-source story assignment on the replay corpus: pairwise precision and recall.

    /tmp/venv/bin/python bench/bench_stories.py                      # 1,000 articles per site
    /tmp/venv/bin/python bench/bench_stories.py --per-site 5000 --seeds 1 2 3
    /tmp/venv/bin/python bench/bench_stories.py --sweep              # threshold grid

Truth: ``Corpus.story_of(site, i)`` (the known events of replay/events.py and the seed pair;
every other article is its own story). Articles go through ``StoryIndex.assign`` in
publication order (``--order shuffled``: a random order, as a backfill crawl would).
Pairwise: a pair of articles is predicted together when they got the same story_id;
precision = correct predicted pairs / predicted pairs, recall = correct / true pairs.
"""
from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dedup.stories import StoryDoc, StoryIndex  # noqa: E402
from replay.corpus import SITES, Corpus  # noqa: E402


def docs_of(corpus: Corpus) -> list[tuple[StoryDoc, str]]:
    out = []
    for site in SITES:
        for a in corpus.articles(site):
            truth = a.story or f"{site}-{a.index}"
            out.append((StoryDoc(a.url, site, a.title, "\n\n".join(a.paragraphs), a.published), truth))
    return out


def pairs(groups: dict[str, list[str]]) -> set[tuple[str, str]]:
    return {tuple(sorted(p)) for members in groups.values() for p in itertools.combinations(members, 2)}


def evaluate(docs, order: str, seed: int, **params) -> dict:
    docs = sorted(docs, key=lambda d: d[0].published_at) if order == "time" else \
        random.Random(seed).sample(docs, len(docs))
    idx = StoryIndex(**params)
    pred, true = defaultdict(list), defaultdict(list)
    t = time.perf_counter()
    for doc, truth in docs:
        pred[idx.assign(doc)].append(doc.doc_id)
        true[truth].append(doc.doc_id)
    el = time.perf_counter() - t
    p, tr = pairs(pred), pairs(true)
    ok = len(p & tr)
    return {"articles": len(docs), "true_pairs": len(tr), "predicted_pairs": len(p), "correct": ok,
            "precision": ok / len(p) if p else 1.0, "recall": ok / len(tr) if tr else 1.0,
            "docs_per_s": len(docs) / el, "wrong": sorted(p - tr)[:5], "missed": sorted(tr - p)[:5]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-site", type=int, default=1000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--order", choices=["time", "shuffled"], nargs="+", default=["time", "shuffled"])
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--show", action="store_true", help="print a few wrong and missed pairs")
    args = ap.parse_args()
    grid = [{}]
    if args.sweep:
        grid = [{"min_shared": s, "min_score": sc} for s in (2, 3, 4) for sc in (0.2, 0.3, 0.4, 0.5)]
    for seed in args.seeds:
        docs = docs_of(Corpus(seed=seed, per_site=args.per_site))
        for order in args.order:
            for params in grid:
                r = evaluate(docs, order, seed, **params)
                print(f"seed {seed} order {order:8} {params or 'defaults'}  articles {r['articles']:,}  "
                      f"true pairs {r['true_pairs']:,}  predicted {r['predicted_pairs']:,}  correct {r['correct']:,}  "
                      f"precision {r['precision']:.4f}  recall {r['recall']:.4f}  ({r['docs_per_s']:,.0f} docs/s)")
                if args.show:
                    print("   wrong:", r["wrong"], "\n   missed:", r["missed"])


if __name__ == "__main__":
    main()
