"""Dedup quality of the real scheduled flow on the replay web's duplicate knobs.

    python bench/bench_dedup_flow.py --articles 1000

Runs the Prefect scrape flow three times over one archive: twice with URL variants,
second URLs and syndicated copies (the second run must change nothing), then once
more after revisions appear. Measures against the replay's ground truth:
exact-duplicate precision/recall (one stored row per distinct article, no variant
URL stored), near-duplicate precision/recall (clusters of copies), revisions with
the right version count, ticker lines in bodies, distinct ticker items stored once.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

KNOBS = {"syndicate_share": 0.3, "duplicate_share": 0.2, "url_variants": 0.5}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--articles", type=int, default=1000, help="articles per site")
    args = ap.parse_args()

    import httpx

    from flows.scrape import scrape
    from replay import Knobs, start_replay
    from storage.lake import Archive
    from storage.sql import query

    arch = Archive(Path(tempfile.mkdtemp(prefix="newsarchive-dedup-")) / "archive")
    q = lambda sql: query(arch, sql)[1]   # noqa: E731

    counts = []

    async def run_all(srv):
        timings = []
        for label in ("first", "second"):
            t = time.perf_counter()
            await scrape(archive=str(arch.root), replay_url=srv.url, delay_s=0.0)
            timings.append((label, time.perf_counter() - t))
            counts.append(q("SELECT count(*) FROM article_versions")[0][0])
        return timings

    with start_replay(seed=17, per_site=args.articles, knobs=Knobs(**KNOBS)) as srv:
        timings = asyncio.run(run_all(srv))

        def truth(url):
            r = httpx.get(srv.url + "/__replay__/truth", params={"url": url})
            return r.json() if r.status_code == 200 else {}
        urls = [u for (u,) in q("SELECT DISTINCT url FROM article_versions")]
        truths = {u: truth(u) for u in urls}
        httpx.post(srv.url + "/__replay__/knobs", json={"revisions": 0.25, "revision_after_requests": 0})
        t = time.perf_counter()
        asyncio.run(scrape(archive=str(arch.root), replay_url=srv.url, delay_s=0.0))
        timings.append(("revisions", time.perf_counter() - t))
        revised = {u: truth(u) for u in urls}

    # Exact duplicates: every stored URL is a distinct served article, none is a variant.
    variants = [u for u in urls if "utm_" in u or "/amp/" in u]
    served_keys = [(t.get("site"), t.get("index"), t.get("url")) for t in truths.values() if t]
    exact_precision = 1 - (len(variants) + (len(served_keys) - len(set(served_keys)))) / max(len(urls), 1)
    fetched_articles = {u for (u,) in q("SELECT DISTINCT final_url FROM fetch_log WHERE kind = 'article' "
                                        "AND outcome IN ('fetched', 'not_modified')")}
    exact_recall = len(set(urls) & fetched_articles) / max(len(fetched_articles), 1)

    from replay.groundtruth import near_dup_scores
    near_precision, near_recall, expected = near_dup_scores(truths, q("SELECT url, duplicate_of FROM duplicates"))

    want_rev = {u for u, t in revised.items() if (t.get("revision") or 1) >= 2}
    versions = dict((u, v) for u, v in q("SELECT url, max(version) FROM article_versions GROUP BY url"))
    rev_right = sum(1 for u in want_rev if versions.get(u) == 2)
    rev_wrong = sum(1 for u, v in versions.items() if v >= 2 and u not in want_rev)

    items = q("SELECT site, key, text FROM breaking")
    ticker_texts = {}
    for s, _, text in items:
        ticker_texts.setdefault(s, set()).add(text)
    in_bodies = sum(1 for s, body in q("SELECT site, body FROM article_versions")
                    for p in body.split("\n\n") if p in ticker_texts.get(s, ()))
    out = {
        "articles_per_site": args.articles,
        "run_seconds": {k: round(v, 1) for k, v in timings},
        "stored_urls": len(urls),
        "second_run_new_rows": counts[1] - counts[0],
        "exact_dup_precision": round(exact_precision, 4),
        "exact_dup_recall": round(exact_recall, 4),
        "near_dup_links_expected": expected,
        "near_dup_precision": round(near_precision, 4),
        "near_dup_recall": round(near_recall, 4),
        "revisions_expected": len(want_rev),
        "revisions_with_version_2": rev_right,
        "unexpected_revisions": rev_wrong,
        "ticker_lines_in_bodies": in_bodies,
        "ticker_items": len(items),
        "ticker_items_stored_twice": len(items) - len({(s, k) for s, k, _ in items}),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
