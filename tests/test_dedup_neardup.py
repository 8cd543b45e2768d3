"""Near-duplicate index: matches, persistence across runs, precision/recall on the replay corpus."""
from __future__ import annotations

import json
import shutil
import time
import tracemalloc

import numpy as np
import pytest

import dedup.neardup as nd
import dedup.neardup_segments as segments
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
    segs = sorted(p.name for p in tmp_path.glob("seg-*.sig.npy"))
    assert len(segs) == 2 and not list(tmp_path.glob("seg-*.npz"))   # one segment per save
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


# ---- on-disk format 2: segments read in place, legacy .npz segments, crash leftovers, compaction ----
def stream_items(per_site: int = 80, seed: int = 2) -> list[tuple[str, str]]:
    return [(url, body) for url, body, _ in replay_stream(Corpus(seed=seed, per_site=per_site), 0.3, 0.3)]


def run_reference(items):
    """check_and_add answers and final query answers of one in-memory index (never saved)."""
    idx = NearDupIndex()
    got = [idx.check_and_add(url, body) for url, body in items]
    return got, [idx.query(body) for _, body in items]


def on_disk(seg) -> bool:
    """Whether a segment serves its signatures and ids from its files (no arrays in memory)."""
    return seg.sig is None and seg.names is None and sorted(seg.files) == ["ends", "ids", "sig"]


def test_save_load_round_trip_answers_like_an_in_memory_index(tmp_path, monkeypatch):
    monkeypatch.setattr(nd, "_FREEZE_AT", 64)       # in-process docs go through the sorted arrays too
    items = stream_items()
    want_got, want_queries = run_reference(items)
    assert sum(g is not None for g in want_got) > 20          # the stream has duplicates to find
    idx, got = NearDupIndex(), []
    for n, (url, body) in enumerate(items):
        if n and n % 37 == 0:
            idx.save(tmp_path)
            if n % 74 == 0:                          # every other save: a fresh process's load
                idx = NearDupIndex.load(tmp_path)
        got.append(idx.check_and_add(url, body))
    assert got == want_got
    assert [idx.query(body) for _, body in items] == want_queries   # ids and estimates
    idx.save(tmp_path)                               # in-process docs now served from the segment file
    assert not idx._ids and [idx.query(body) for _, body in items] == want_queries
    again = NearDupIndex.load(tmp_path)
    assert len(again) == len(idx) and [again.query(body) for _, body in items] == want_queries


def test_loaded_index_keeps_signatures_and_ids_on_disk(tmp_path):
    rng = np.random.default_rng(7)
    idx = NearDupIndex()
    sigs = rng.integers(0, 2**32, size=(4000, 128), dtype=np.uint32)     # random: no duplicates, fast
    for k, sig in enumerate(sigs):
        idx._insert(f"https://example.org/{k}/ünï", sig)
    idx.save(tmp_path)
    assert not idx._ids and not len(idx._sig) and all(on_disk(s) for s in idx._segs)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        loaded = NearDupIndex.load(tmp_path)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(loaded) == 4000 and not loaded._ids and len(loaded._segs) == 1 and on_disk(loaded._segs[0])
    # Band arrays (8 bytes per key) only: well under one copy of the signatures (512 bytes per doc).
    assert loaded._frozen_keys.dtype == np.uint32 and len(loaded._frozen_keys) == 4000 * 32
    assert held < 0.75 * sigs.nbytes, (held, sigs.nbytes)
    assert loaded._matches(sigs[1234]) == [(1234, 1.0)] and loaded._id(1234) == "https://example.org/1234/ünï"
    assert loaded._id(0) == "https://example.org/0/ünï" and loaded._id(3999) == "https://example.org/3999/ünï"
    # The files are plain .npy: tools can memory-map them.
    stem = loaded._segs[0].stem
    assert np.array_equal(np.load(tmp_path / f"{stem}.sig.npy", mmap_mode="r"), sigs)
    ends = np.load(tmp_path / f"{stem}.ends.npy", mmap_mode="r")
    assert np.load(tmp_path / f"{stem}.ids.npy", mmap_mode="r")[ends[9]:ends[10]].tobytes() == \
        "https://example.org/10/ünï".encode()


def test_32_bit_band_keys_never_change_answers(tmp_path, monkeypatch):
    """Every frozen key colliding (worst case of the 32-bit keys): answers stay those of 64-bit bands."""
    monkeypatch.setattr(NearDupIndex, "_short", staticmethod(lambda keys: np.zeros(keys.shape, dtype=np.uint32)))
    items = stream_items(per_site=40)
    want_got, want_queries = run_reference(items)
    idx = NearDupIndex()
    got = []
    for n, (url, body) in enumerate(items):
        if n == len(items) // 2:
            idx.save(tmp_path)
            idx = NearDupIndex.load(tmp_path)
        got.append(idx.check_and_add(url, body))
    assert got == want_got and [idx.query(body) for _, body in items] == want_queries
    # A signature agreeing on half the minima but on no whole band: estimate 0.5, yet no LSH match.
    rng = np.random.default_rng(3)
    a = rng.integers(0, 2**32, size=128, dtype=np.uint32)
    b = a.copy()
    b[2::4] ^= 1                                     # rows 2 and 3 of every band differ
    b[3::4] ^= 1
    idx._insert("crafted", a)
    idx.save(tmp_path)
    idx = NearDupIndex.load(tmp_path)
    assert (idx._segs[-1].rows(np.array([len(idx._segs[-1]) - 1]))[0] == b).mean() == 0.5
    assert all(idx._id(i) != "crafted" for i, _ in idx._matches(b))
    assert [idx._id(i) for i, _ in idx._matches(a)] == ["crafted"]


def write_legacy_segment(path, name: str, idx: NearDupIndex, docs: list[tuple[str, str]]) -> None:
    """A segment as format 1 wrote it (and its meta.json if there is none yet)."""
    ids = [d for d, _ in docs]
    sigs = np.array([idx.signature(body) for _, body in docs], dtype=np.uint32)
    path.mkdir(parents=True, exist_ok=True)
    np.savez(path / f"{name}.npz", ids=np.array(ids, dtype=str), sig=sigs)
    if not (path / "meta.json").exists():
        (path / "meta.json").write_text(json.dumps({**idx._meta(), "format": 1}))


def test_legacy_npz_segments_load_in_name_order_with_new_ones(tmp_path, monkeypatch):
    corpus = Corpus(seed=4, per_site=40)
    bodies = ["\n\n".join(a.paragraphs) for a in corpus.articles("reuters")]
    copy = lambda b: b.replace("said", "stated")            # noqa: E731 - a near duplicate
    ref = NearDupIndex()
    # Save order: legacy segment 1 (old code), a new segment, legacy segment 2 (an old-code
    # process saving later), another new segment. Each holds an original of later copies.
    legacy1 = [(f"L1-{k}", bodies[k]) for k in range(0, 10)]
    new1 = [(f"N1-{k}", bodies[k]) for k in range(10, 20)] + [("N1-copy-of-3", copy(bodies[3]))]
    legacy2 = [(f"L2-{k}", bodies[k]) for k in range(20, 30)] + [("L2-copy-of-12", copy(bodies[12]))]
    new2 = [(f"N2-{k}", bodies[k]) for k in range(30, 40)] + [("N2-copy-of-25", copy(bodies[25]))]
    for doc_id, body in legacy1 + new1 + legacy2 + new2:
        ref.add(doc_id, body)                        # add: copies are indexed after their original
    monkeypatch.setattr(nd, "_compact", lambda path, num_perm: None)    # keep the mixed directory for now
    write_legacy_segment(tmp_path, "seg-00000000000000000001-1", ref, legacy1)
    run = NearDupIndex.load(tmp_path)
    assert len(run) == 10 and run._segs[0].sig is not None         # format 1: read into memory
    for doc_id, body in new1:
        run.add(doc_id, body)
    run.save(tmp_path)
    write_legacy_segment(tmp_path, f"seg-{time.time_ns():020d}-1", ref, legacy2)
    run = NearDupIndex.load(tmp_path)
    for doc_id, body in new2:
        run.add(doc_id, body)
    run.save(tmp_path)
    assert len(list(tmp_path.glob("seg-*.npz"))) == 2 and len(list(tmp_path.glob("seg-*.sig.npy"))) == 2
    assert json.loads((tmp_path / "meta.json").read_text())["format"] == nd.FORMAT

    def answers(idx):
        probes = [copy(b) for b in bodies] + bodies
        return [idx.query(b) for b in probes], [idx.check_and_add(f"probe{k}", b) for k, b in enumerate(probes)]

    loaded = NearDupIndex.load(tmp_path)
    assert [s.sig is not None for s in loaded._segs] == [True, False, True, False]   # .npz, new, .npz, new
    assert len(loaded) == len(ref) == 43
    want = answers(ref)
    assert answers(loaded) == want
    assert loaded.check_and_add("x", copy(copy(bodies[3]))) == "L1-3"            # legacy 1 before new 1
    assert loaded.check_and_add("y", copy(bodies[12])) == "N1-12"                # new 1 before legacy 2
    assert loaded.check_and_add("z", copy(bodies[25])) == "L2-25"                # legacy 2 before new 2
    # The first settled compaction converts the legacy segments (and all after them).
    monkeypatch.undo()
    monkeypatch.setattr(segments, "_SETTLE_S", 0)
    NearDupIndex.load(tmp_path).save(tmp_path)
    assert not list(tmp_path.glob("seg-*.npz")) and len(list(tmp_path.glob("seg-*.sig.npy"))) == 1
    converted = NearDupIndex.load(tmp_path)
    assert all(on_disk(s) for s in converted._segs) and answers(converted) == want


def test_crash_leftovers_are_ignored_then_removed(tmp_path, monkeypatch):
    items = stream_items(per_site=40)
    half = len(items) // 4                           # the first segment is the smaller: they get merged
    idx = NearDupIndex()
    for url, body in items[:half]:
        idx.check_and_add(url, body)
    idx.save(tmp_path)
    for url, body in items[half:]:
        idx.check_and_add(url, body)
    idx.save(tmp_path)
    want = [idx.query(body) for _, body in items]
    stems = sorted(p.name[: -len(".sig.npy")] for p in tmp_path.glob("seg-*.sig.npy"))
    assert len(stems) == 2
    kept = tmp_path / "kept"
    kept.mkdir()
    for p in tmp_path.glob(f"{stems[0]}.*"):
        shutil.copy(p, kept / p.name)
    # A crash between a segment's renames (no .sig.npy yet), and temporary files of a crashed save.
    for part in ("ids", "ends"):
        shutil.copy(tmp_path / f"{stems[0]}.{part}.npy", tmp_path / f"seg-99999999999999999999-1.{part}.npy")
        shutil.copy(tmp_path / f"{stems[0]}.{part}.npy", tmp_path / f".seg-tmp-1-2.{part}.npy")
    (tmp_path / ".seg-tmp-1-2.sig.npy").write_bytes(b"\x93NUMPY half written")
    (tmp_path / ".seg-00000000000000000005-1.tmp.npz").write_bytes(b"PK half written")     # format 1's temp name
    loaded = NearDupIndex.load(tmp_path)
    assert len(loaded) == len(idx) and [loaded.query(body) for _, body in items] == want
    # A crash after a compaction renamed its merged segment into place, before deleting the members.
    monkeypatch.setattr(segments, "_SETTLE_S", 0)
    NearDupIndex.load(tmp_path).save(tmp_path)
    merged = [p.name for p in tmp_path.glob("seg-*~*.sig.npy")]
    assert len(merged) == 1 and not (tmp_path / f"{stems[0]}.sig.npy").exists()
    for p in kept.iterdir():
        shutil.copy(p, tmp_path / p.name)           # the first member is back
    loaded = NearDupIndex.load(tmp_path)
    assert len(loaded._segs) == 1 and len(loaded) == len(idx)
    assert [loaded.query(body) for _, body in items] == want
    # The next compaction deletes the member and the leftovers once they are stale.
    monkeypatch.setattr(segments, "_STALE_S", 0)
    loaded.save(tmp_path)
    shutil.rmtree(kept)
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != "meta.json")
    stem = merged[0][: -len(".sig.npy")]
    assert left == sorted([segments._LOCK] + [f"{stem}.{k}" for k in ("ids.npy", "ends.npy", "sig.npy", "members.json")])
    assert [NearDupIndex.load(tmp_path).query(body) for _, body in items] == want


def test_compaction_keeps_few_segments_and_the_save_order(tmp_path, monkeypatch):
    monkeypatch.setattr(segments, "_SETTLE_S", 0)
    items = stream_items(per_site=60)
    want_got, want_queries = run_reference(items)
    idx, got, counts = NearDupIndex(), [], []
    for n, (url, body) in enumerate(items):
        if n and n % 4 == 0:                         # many small saves, each from a fresh load
            idx.save(tmp_path)
            counts.append(len(list(tmp_path.glob("seg-*.sig.npy"))))
            idx = NearDupIndex.load(tmp_path)
        got.append(idx.check_and_add(url, body))
    idx.save(tmp_path)
    assert got == want_got
    assert len(counts) > 30 and max(counts) <= 6, counts
    loaded = NearDupIndex.load(tmp_path)
    assert len(loaded) == len(idx) and [loaded.query(body) for _, body in items] == want_queries
    stems = lambda pattern: {p.name.split(".")[0] for p in tmp_path.glob(pattern)}   # noqa: E731
    assert stems("seg-*") == stems("seg-*.sig.npy")          # merged members left no files behind


def test_compaction_waits_for_the_lock_and_for_settled_segments(tmp_path, monkeypatch):
    def save_some(n):
        idx = NearDupIndex.load(tmp_path)
        for k in range(n):
            idx.add(f"{len(idx)}", TEXT.replace("Thursday", f"day {k} of {len(idx)}"))
        idx.save(tmp_path)
        return len(list(tmp_path.glob("seg-*.sig.npy")))
    assert [save_some(1) for _ in range(3)] == [1, 2, 3]     # named less than _SETTLE_S ago: not merged
    monkeypatch.setattr(segments, "_SETTLE_S", 0)
    with open(tmp_path / segments._LOCK, "a") as lock:             # another process is compacting
        segments.fcntl.flock(lock.fileno(), segments.fcntl.LOCK_EX)
        assert save_some(1) == 4
    assert save_some(1) == 1 and len(NearDupIndex.load(tmp_path)) == 5


def test_merge_plan():
    assert segments._plan([], []) is None
    assert segments._plan([100], [False]) is None
    assert segments._plan([100], [True]) == 0                       # a lone format-1 segment is converted
    assert segments._plan([100, 100], [False, False]) == 0
    assert segments._plan([400, 150, 50], [False] * 3) is None      # each over twice the rest after it
    assert segments._plan([1000, 100, 50, 60], [False] * 4) == 1     # 50 <= 2 * 60, then 100 <= 2 * 110
    assert segments._plan([1000, 100, 50, 60], [True, False, False, False]) == 0


def test_load_lists_again_when_a_compaction_removed_a_segment(tmp_path, monkeypatch):
    idx = NearDupIndex()
    idx.add("a", TEXT)
    idx.save(tmp_path)
    real, calls = nd._listing, []

    def stale_then_real(path):
        calls.append(path)
        visible, hidden = real(path)
        return (visible + [("seg-00000000000000000009-9", "npy")], hidden) if len(calls) == 1 else (visible, hidden)
    monkeypatch.setattr(nd, "_listing", stale_then_real)
    loaded = NearDupIndex.load(tmp_path)
    assert len(calls) == 2 and len(loaded) == 1 and loaded.query(TEXT)[0][0] == "a"


def test_newer_format_is_refused(tmp_path):
    idx = NearDupIndex()
    idx.add("a", TEXT)
    idx.save(tmp_path)
    meta = json.loads((tmp_path / "meta.json").read_text())
    (tmp_path / "meta.json").write_text(json.dumps({**meta, "format": nd.FORMAT + 1}))
    with pytest.raises(ValueError, match="format"):
        NearDupIndex.load(tmp_path)
