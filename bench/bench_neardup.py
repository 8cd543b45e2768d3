"""Near-duplicate detection at scale, and its precision/recall on the replay corpus.

    /tmp/venv/bin/python bench/bench_neardup.py                    # 1,000,000 synthetic articles
    /tmp/venv/bin/python bench/bench_neardup.py --docs 200000      # quicker
    /tmp/venv/bin/python bench/bench_neardup.py --replay           # replay corpus: threshold sweep

Synthetic stream: bodies from the replay text generator (``replay.textgen``: one cast of
names per article, 4-14 paragraphs of templated sentences, so unrelated articles share
template phrases as the corpus's do), generated one at a time and never all held in memory.
``--dup-share`` of the articles are lightly edited copies of a random article among the
last ``--dup-window`` ones (agency dateline dropped, "said" -> "stated" once per paragraph,
sometimes a paragraph appended or the last one dropped), the way a syndicated copy differs.
A copy of a copy points at the root. Every article goes through
``NearDupIndex.check_and_add``; a returned id is correct when it is the copy's root.

Reported: wall time (generation included, and the index share alone), docs/s, peak RSS
(``ru_maxrss``), precision and recall, and the time to save and reload the index.
"""
from __future__ import annotations

import argparse
import random
import resource
import shutil
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dedup.neardup import NearDupIndex  # noqa: E402
from replay import textgen as tg  # noqa: E402


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def article(rng: random.Random) -> str:
    c = tg.cast(rng)
    deck = tg.Deck(rng)
    return "\n\n".join(tg.paragraph(rng, c, deck) for _ in range(rng.randint(4, 14)))


def edited(rng: random.Random, body: str) -> str:
    paras = body.split("\n\n")
    paras[0] = paras[0].split(" ", 3)[-1]
    paras = [p.replace("said", "stated", 1) for p in paras]
    if rng.random() < 0.5:
        paras.append(tg.paragraph(rng, tg.cast(rng), tg.Deck(rng)))
    elif len(paras) > 4 and rng.random() < 0.5:
        paras.pop()
    return "\n\n".join(paras)


def synthetic(n: int, dup_share: float, window: int, seed: int):
    """Yield ``(doc_id, body, root_id | None)``; root is the original an injected copy derives from."""
    rng = random.Random(seed)
    recent: deque[tuple[str, str]] = deque(maxlen=window)     # (root id, body)
    for k in range(n):
        doc_id = f"d{k}"
        if recent and rng.random() < dup_share:
            root, body = recent[rng.randrange(len(recent))]
            body = edited(rng, body)
            yield doc_id, body, root
            recent.append((root, body))
        else:
            body = article(rng)
            yield doc_id, body, None
            recent.append((doc_id, body))


def run_synthetic(args) -> None:
    idx = NearDupIndex(threshold=args.threshold)
    tp = fp = expected = 0
    t0 = time.perf_counter()
    t_index = 0.0
    for k, (doc_id, body, root) in enumerate(synthetic(args.docs, args.dup_share, args.dup_window, args.seed), 1):
        t = time.perf_counter()
        got = idx.check_and_add(doc_id, body)
        t_index += time.perf_counter() - t
        expected += root is not None
        if got is not None:
            if got == root:
                tp += 1
            else:
                fp += 1
        if k % args.progress == 0:
            el = time.perf_counter() - t0
            print(f"  {k:>9,} docs  {el:7.1f} s  {k / el:7,.0f} docs/s  index {t_index:6.1f} s  "
                  f"rss {peak_rss_mib():6.0f} MiB  tp {tp} fp {fp} expected {expected}", flush=True)
    wall = time.perf_counter() - t0
    print(f"docs {args.docs:,}  wall {wall:.1f} s ({args.docs / wall:,.0f} docs/s)  "
          f"index only {t_index:.1f} s ({args.docs / t_index:,.0f} docs/s)  peak RSS {peak_rss_mib():,.0f} MiB")
    print(f"injected copies {expected:,}  found {tp:,}  wrong {fp:,}  "
          f"precision {tp / max(tp + fp, 1):.4f}  recall {tp / max(expected, 1):.4f}  indexed {len(idx):,}")
    tmp = Path(tempfile.mkdtemp(prefix="neardup-"))
    try:
        t = time.perf_counter()
        idx.save(tmp)
        t_save = time.perf_counter() - t
        size = sum(p.stat().st_size for p in tmp.iterdir())
        del idx
        t = time.perf_counter()
        again = NearDupIndex.load(tmp)
        t_load = time.perf_counter() - t
        print(f"save {t_save:.1f} s ({size / 2**20:,.0f} MiB on disk)  load {t_load:.1f} s ({len(again):,} docs)  "
              f"peak RSS {peak_rss_mib():,.0f} MiB")
    finally:
        shutil.rmtree(tmp)


def run_replay(args) -> None:
    """Precision/recall on the replay corpus's known duplicates (duplicate_of, syndicated_from)."""
    from replay.corpus import Corpus, unit
    for seed in args.seeds:
        corpus = Corpus(seed=seed, per_site=args.per_site)
        stream = []
        for i in range(corpus.per_site):
            for site in ("reuters", "almayadeen"):
                a, cluster = corpus.article(site, i), (site, i)
                if site == "almayadeen" and unit(corpus.seed, i, "syndicate") < args.syndicate_share:
                    a, cluster = corpus.syndicated(i), ("reuters", i)
                body = "\n\n".join(a.paragraphs)
                stream.append((a.url, body, cluster))
                if unit(corpus.seed, site, i, "dup") < args.duplicate_share:
                    stream.append((corpus.duplicate_url(site, i), body, cluster))
        for min_tokens in args.min_tokens:
            for threshold in args.thresholds:
                idx, seen, cl = NearDupIndex(threshold=threshold, min_tokens=min_tokens), set(), {}
                tp = fp = expected = 0
                for url, body, cluster in stream:
                    cl[url] = cluster
                    got = idx.check_and_add(url, body)
                    expected += cluster in seen
                    if got is not None:
                        tp, fp = (tp + 1, fp) if cl[got] == cluster else (tp, fp + 1)
                    seen.add(cluster)
                print(f"seed {seed}  articles {len(stream):,}  min_tokens {min_tokens:>2}  threshold {threshold:.2f}  "
                      f"known duplicates {expected:,}  found {tp:,}  wrong {fp}  "
                      f"precision {tp / max(tp + fp, 1):.4f}  recall {tp / max(expected, 1):.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--dup-share", type=float, default=0.05)
    ap.add_argument("--dup-window", type=int, default=20_000)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--progress", type=int, default=100_000)
    ap.add_argument("--replay", action="store_true", help="precision/recall on the replay corpus instead")
    ap.add_argument("--per-site", type=int, default=2000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--syndicate-share", type=float, default=0.3)
    ap.add_argument("--duplicate-share", type=float, default=0.2)
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.4, 0.5, 0.6, 0.7])
    ap.add_argument("--min-tokens", type=int, nargs="+", default=[10, 15, 20])
    args = ap.parse_args()
    run_replay(args) if args.replay else run_synthetic(args)


if __name__ == "__main__":
    main()
