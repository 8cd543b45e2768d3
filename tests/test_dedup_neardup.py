"""Near-duplicate index: matches, persistence across runs, precision/recall on the replay corpus."""
from __future__ import annotations

import dedup.neardup as nd
from dedup.neardup import NearDupIndex
from replay.corpus import Corpus, unit

TEXT = ("The foreign ministers of Russia and Ukraine have arrived in Turkey for talks set for Thursday "
        "morning, officials said. This marks the first high-level contact between the two sides since the "
        "operation began, and Ankara hopes the meeting in Antalya will open the way to a ceasefire.")


def test_match_edit_and_short_documents():
    idx = NearDupIndex()
    assert idx.check_and_add("a", TEXT) is None and len(idx) == 1
    edited = TEXT.replace("said", "stated").replace("Thursday morning", "Thursday")
    assert idx.check_and_add("b", edited) == "a" and len(idx) == 1     # a duplicate is not indexed
    hits = idx.query(edited)
    assert hits[0][0] == "a" and 0.5 <= hits[0][1] < 1
    assert idx.query("Completely different words about the football results in the league tonight, "
                     "with three goals scored after half time by the visiting side and a red card.") == []
    # Short bodies never match, not even themselves.
    short = "Watch the video of the press conference here."
    assert idx.check_and_add("s1", short) is None and idx.check_and_add("s2", short) is None and len(idx) == 1
    # A re-crawl of the same document (same id) is not a duplicate of itself.
    assert idx.check_and_add("a", TEXT) is None


def test_first_seen_wins_and_persistence(tmp_path, monkeypatch):
    monkeypatch.setattr(nd, "_FREEZE_AT", 64)       # exercise the sorted-array path too
    corpus = Corpus(seed=3, per_site=60)
    bodies = ["\n\n".join(a.paragraphs) for a in corpus.articles("reuters")]
    idx = NearDupIndex()
    for k, b in enumerate(bodies[:30]):
        idx.add(f"r{k}", b)
    idx.save(tmp_path)
    idx.save(tmp_path)                               # nothing new: no empty segment
    run2 = NearDupIndex.load(tmp_path)
    assert len(run2) == len(idx) and run2.query(bodies[7])[0][0] == "r7"
    for k, b in enumerate(bodies[30:], 30):
        assert run2.check_and_add(f"r{k}", b) is None
    run2.save(tmp_path)
    segs = sorted(p.name for p in tmp_path.glob("seg-*.npz"))
    assert len(segs) == 2 and all(name.endswith(".npz") for name in segs)   # one segment per save
    run3 = NearDupIndex.load(tmp_path)
    assert len(run3) == 60
    assert run3.check_and_add("copy", bodies[45].replace("said", "stated")) == "r45"
    assert run3.check_and_add("copy0", bodies[3]) == "r3"


def replay_stream(corpus: Corpus, syndicate_share: float, duplicate_share: float):
    """Bodies in crawl order with their truth cluster, as the replay serves them with these knobs
    (same selection rules as replay.app: ``syndicate`` and ``dup`` units)."""
    for i in range(corpus.per_site):
        for site in ("reuters", "almayadeen"):
            a, cluster = corpus.article(site, i), (site, i)
            if site == "almayadeen" and unit(corpus.seed, i, "syndicate") < syndicate_share:
                a, cluster = corpus.syndicated(i), ("reuters", i)     # truth: syndicated_from
            body = "\n\n".join(a.paragraphs)
            yield a.url, body, cluster
            if unit(corpus.seed, site, i, "dup") < duplicate_share:
                yield corpus.duplicate_url(site, i), body, cluster   # truth: duplicate_of


def test_precision_recall_on_replay_corpus(tmp_path):
    corpus = Corpus(seed=1, per_site=600)
    idx, seen, cluster_of = NearDupIndex(), set(), {}
    tp = fp = expected = 0
    for n, (url, body, cluster) in enumerate(replay_stream(corpus, 0.3, 0.2)):
        if n and n % 400 == 0:          # a new run every 400 pages: matches must survive save/load
            idx.save(tmp_path)
            idx = NearDupIndex.load(tmp_path)
        cluster_of[url] = cluster
        got = idx.check_and_add(url, body)
        expected += cluster in seen
        if got is not None:
            tp, fp = (tp + 1, fp) if cluster_of[got] == cluster else (tp, fp + 1)
        seen.add(cluster)
    precision, recall = tp / (tp + fp), tp / expected
    assert expected > 300 and precision >= 0.99 and recall >= 0.97, (precision, recall, expected)
