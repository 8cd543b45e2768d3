"""Dedup indexes and search on a shared archive (Postgres + moto S3): two workers with separate
local caches save at once and see each other's documents, a worker SIGKILLed mid-push leaves
the index loadable, and search finds articles committed through either worker.

Each "worker" is an Archive built with its own $NEWSARCHIVE_WORKDIR; the concurrent and the
killed ones are subprocesses (this file run as a script), so pids, segment-name tags and
advisory-lock sessions are really theirs.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from crawl.indexes import load_dedup, save_dedup
from dedup.stories import StoryDoc

pytestmark = pytest.mark.slow   # Postgres + an S3 server, tens of seconds to minutes

HERE = Path(__file__).resolve().parent
T0 = datetime(2022, 3, 7, tzinfo=timezone.utc)
_VOCAB = [f"w{i:03d}" for i in range(400)]


def body(key: str, words: int = 120) -> str:
    """A text of its own per key (near-duplicates of it only by construction)."""
    rnd = random.Random(key)
    return " ".join(rnd.choice(_VOCAB) for _ in range(words))


def near_copy(key: str) -> str:
    """``body(key)`` with two words changed: a near-duplicate of it."""
    words = body(key).split()
    words[10], words[50] = "changed", "edited"
    return " ".join(words)


def story(url: str, title: str, hours: float = 0) -> StoryDoc:
    return StoryDoc(url, "s", title, body(url), T0 + timedelta(hours=hours))


# ---- the worker process (this file run as a script) ------------------------------------------
def worker_main(name: str, n_docs: int, barrier: str) -> None:
    """Load, wait until every worker of the barrier has loaded, add docs, save; print a summary."""
    import time
    from storage.lake import Archive
    archive = Archive(os.environ["NEWSARCHIVE_ARCHIVE"])
    dedup = load_dedup(archive)
    if barrier:
        ready = Path(barrier)
        (ready / f"{name}.loaded").touch()
        deadline = time.monotonic() + 60
        while len(list(ready.glob("*.loaded"))) < int(os.environ["TEST_WORKERS"]):
            if time.monotonic() > deadline:
                raise SystemExit(f"{name}: the other workers did not load within 60 s")
            time.sleep(0.02)
    loaded = len(dedup.neardup)
    rounds = int(os.environ.get("TEST_ROUNDS", "1"))     # runs one after another: load, add, save
    for r in range(rounds):
        if r:
            dedup = load_dedup(archive)
        for i in range(r * n_docs // rounds, (r + 1) * n_docs // rounds):
            url = f"https://{name}/{i}"
            assert dedup.neardup.check_and_add(url, body(url)) is None
            dedup.stories.assign(story(url, f"{name} council votes on budget plan number {i}", hours=i))
            dedup.boilerplate.observe(name, [f"Subscribe to the {name} newsletter", f"paragraph {i}"], page_id=url)
        save_dedup(archive, dedup)
    print(json.dumps({"name": name, "loaded": loaded, "now": len(dedup.neardup)}))


# ---- fixtures --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def services():
    from services import postgres, s3_server
    with postgres() as dsn, s3_server() as aws:
        yield dsn, aws


@pytest.fixture
def shared(services, monkeypatch, tmp_path):
    """A fresh shared archive (own prefix); ``.worker(name)`` builds that worker's Archive and
    ``.env(name)`` the environment of a worker process."""
    dsn, aws = services
    url = f"s3://newsarchive/t-{uuid.uuid4().hex[:10]}"
    for k, v in {**aws, "NEWSARCHIVE_CATALOG": dsn}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("NEWSARCHIVE_TEST_KILL_AT", raising=False)

    class Shared:
        location = url

        def worker(self, name: str):
            from storage.lake import Archive
            monkeypatch.setenv("NEWSARCHIVE_WORKDIR", str(tmp_path / name))   # read by Archive()
            return Archive(url)

        def env(self, name: str, **extra: str) -> dict[str, str]:
            return {**os.environ, "NEWSARCHIVE_WORKDIR": str(tmp_path / name), "NEWSARCHIVE_ARCHIVE": url,
                    "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent)]), **extra}

        def run_workers(self, names: list[str], n_docs: int, cache: str | None = None,
                        **extra: str) -> list[subprocess.CompletedProcess]:
            """Worker processes loading at once, then saving at once (each its own cache, or all ``cache``)."""
            barrier = tmp_path / f"barrier-{uuid.uuid4().hex[:6]}"
            barrier.mkdir()
            procs = [subprocess.Popen([sys.executable, __file__, name, str(n_docs), str(barrier)],
                                      env=self.env(cache or name, TEST_WORKERS=str(len(names)), **extra),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in names]
            out = []
            for p in procs:
                stdout, stderr = p.communicate(timeout=300)
                out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
            return out

        def objects(self) -> list[str]:
            arch = self.worker("lister")
            return [k for k, _ in arch.store.list(arch.shared.key("index") + "/")]

    return Shared()


def segment_files(keys: list[str]) -> dict[str, list[str]]:
    """Near-dup segment stem -> its object names."""
    out: dict[str, list[str]] = {}
    for k in keys:
        name = k.rsplit("/", 1)[1]
        if "/neardup/seg-" in k:
            out.setdefault(name.split(".", 1)[0], []).append(name)
    return out


# ---- tests -----------------------------------------------------------------------------------
def test_a_segment_is_complete_only_with_all_its_files():
    from crawl.shared_index import complete_stems
    seg, merged = "neardup/seg-00000000000000000001-7-ab12", "neardup/seg-00000000000000000001-7-ab12~00000000000000000009-8-cd34"
    files = {f"{seg}.ids.npy", f"{seg}.ends.npy", f"{seg}.sig.npy",
             f"{merged}.ids.npy", f"{merged}.ends.npy", f"{merged}.sig.npy", "neardup/meta.json"}
    assert complete_stems(files) == {seg}                          # the merged one lacks members.json
    assert complete_stems(files | {f"{merged}.members.json"}) == {seg, merged}
    assert complete_stems(files - {f"{seg}.ends.npy"}) == set()    # marker alone is not enough
    assert complete_stems({"neardup/seg-00000000000000000002-9.npz"}) == {"neardup/seg-00000000000000000002-9"}


def test_two_workers_saving_at_once_see_each_others_documents(shared):
    done = shared.run_workers(["alpha", "beta"], n_docs=6)
    for p in done:
        assert p.returncode == 0, p.stderr[-3000:]
    summaries = {json.loads(p.stdout)["name"]: json.loads(p.stdout) for p in done}
    assert all(s["loaded"] == 0 for s in summaries.values())    # neither saw the other when it loaded

    # Segment names differ across the "hosts" (random per-process tag), each segment complete.
    segs = segment_files(shared.objects())
    assert len(segs) == 2 and all(any(n.endswith(".sig.npy") for n in files) for files in segs.values())
    assert len({stem.rsplit("-", 1)[1] for stem in segs}) == 2

    for me, other in (("alpha", "beta"), ("beta", "alpha")):
        dedup = load_dedup(shared.worker(me))          # its own cache, refreshed from the bucket
        assert len(dedup.neardup) == 12
        assert dedup.neardup.check_and_add(f"https://new/{me}", near_copy(f"https://{other}/3")) == f"https://{other}/3"
        assert dedup.stories.story_of(f"https://{other}/0") and dedup.stories.story_of(f"https://{me}/5")
    meta = json.loads((Path(shared.worker("alpha").root) / "index" / "stories" / "meta.json").read_text())
    assert meta["n"] == 12                              # term statistics merged, not overwritten
    # Boilerplate is a last-writer-wins cache: one worker's learner, whole.
    assert sum(dedup.boilerplate.pages_seen(n) for n in ("alpha", "beta")) == 6


def test_workers_on_one_host_share_its_cache(shared):
    done = shared.run_workers(["alpha", "beta", "gamma"], n_docs=16, cache="host1", TEST_ROUNDS="8")
    for p in done:
        assert p.returncode == 0, p.stderr[-3000:]
    dedup = load_dedup(shared.worker("host2"))
    assert len(dedup.neardup) == 48
    assert dedup.neardup.check_and_add("https://q", near_copy("https://gamma/13")) == "https://gamma/13"
    assert len(load_dedup(shared.worker("host1")).neardup) == 48


def test_segment_names_follow_the_newest_segment_even_from_a_clock_ahead(tmp_path):
    from dedup.neardup import NearDupIndex
    from dedup.neardup_segments import _listing, writer_tag
    ahead = time_ns = 4_000_000_000_000_000_000          # a host whose clock is far ahead (year 2096)
    first = NearDupIndex()
    first.add("https://x/1", body("https://x/1"))
    with writer_tag("aaaa"):
        first.save(tmp_path)
    (stem, _), = _listing(tmp_path)[0]
    for p in tmp_path.glob(f"{stem}.*"):
        p.rename(tmp_path / p.name.replace(stem, f"seg-{time_ns:020d}-1-aaaa"))
    second = NearDupIndex.load(tmp_path)
    second.add("https://x/2", body("https://x/2"))
    with writer_tag("bbbb"):
        second.save(tmp_path)
    stems = [s for s, _ in _listing(tmp_path)[0]]
    assert stems[0] == f"seg-{ahead:020d}-1-aaaa" and stems[1].startswith(f"seg-{ahead + 1:020d}-")
    assert stems[1].endswith("-bbbb")
    assert NearDupIndex.load(tmp_path).check_and_add("https://x/3", near_copy("https://x/2")) == "https://x/2"


def test_a_worker_killed_mid_push_leaves_the_index_loadable_and_the_next_save_cleans_up(shared):
    first = shared.run_workers(["alpha"], n_docs=3)
    assert first[0].returncode == 0, first[0].stderr[-3000:]
    killed = shared.run_workers(["killed"], n_docs=4, NEWSARCHIVE_TEST_KILL_AT="index-segment-partly-pushed")
    assert killed[0].returncode == -signal.SIGKILL, killed[0].stderr[-3000:]
    half = [stem for stem, files in segment_files(shared.objects()).items()
            if not any(n.endswith(".sig.npy") for n in files)]
    assert len(half) == 1                               # its segment's first file made it, its marker did not

    reader = load_dedup(shared.worker("reader"))
    assert len(reader.neardup) == 3                     # the half segment is not read
    assert reader.neardup.check_and_add("https://r/x", near_copy("https://killed/1")) is None
    assert reader.neardup.check_and_add("https://r/y", near_copy("https://alpha/1")) == "https://alpha/1"

    # The killed worker's cache holds its whole segment, which the bucket never got: dropped on load.
    again = load_dedup(shared.worker("killed"))
    assert len(again.neardup) == 3
    save_dedup(shared.worker("reader"), reader)         # the next save deletes the leftover
    segs = segment_files(shared.objects())
    assert half[0] not in segs
    assert all(any(n.endswith(".sig.npy") for n in files) for files in segs.values())
    assert len(load_dedup(shared.worker("third")).neardup) == 4   # alpha's 3 + the reader's https://r/x


def test_compaction_on_one_worker_replaces_segments_in_the_bucket(shared, monkeypatch):
    import dedup.neardup_segments as segments
    a, b = shared.worker("alpha"), shared.worker("beta")
    for i, arch in enumerate([a, b, a, b]):             # four saves, alternating hosts
        dedup = load_dedup(arch)
        dedup.neardup.add(f"https://doc/{i}", body(f"https://doc/{i}"))
        save_dedup(arch, dedup)
    assert len(segment_files(shared.objects())) >= 3    # segments younger than _SETTLE_S stay apart
    monkeypatch.setattr(segments, "_SETTLE_S", 0)
    dedup = load_dedup(a)
    dedup.neardup.add("https://doc/last", body("https://doc/last"))
    save_dedup(a, dedup)                                # its compaction merges the others' segments too
    segs = segment_files(shared.objects())
    assert len(segs) == 1 and "~" in next(iter(segs)), segs
    fresh = load_dedup(shared.worker("gamma"))
    assert len(fresh.neardup) == 5
    assert fresh.neardup.check_and_add("https://q", near_copy("https://doc/1")) == "https://doc/1"
    # beta's cache still lists the merged members: its next load drops them (no document twice).
    assert len(load_dedup(b).neardup) == 5


def _commit(archive, rows: list[tuple[str, str, str]]) -> None:
    con = archive.connect()
    try:
        con.executemany("INSERT INTO article_versions (url, site, version, title, body, published_at) "
                        "VALUES (?, ?, 1, ?, ?, TIMESTAMPTZ '2022-03-07 10:00:00+00')",
                        [(u, "s", t, b) for u, t, b in rows])
    finally:
        con.close()


def test_search_finds_articles_committed_through_either_worker(shared):
    from storage.search import indexed_snapshot, lake_snapshot, refresh_index, search
    a, b = shared.worker("alpha"), shared.worker("beta")
    a.init()
    _commit(a, [("https://a/1", "Lavrov meets Kuleba in Antalya", "Talks in Antalya " * 20)])
    assert refresh_index(a).mode == "full"
    _commit(b, [("https://b/1", "Kuleba sees no progress", "Ceasefire talks in Antalya " * 20)])
    # alpha's index is behind the lake now: search refreshes it (incrementally) first.
    assert indexed_snapshot(a) < lake_snapshot(a)
    assert {h.url for h in search(a, "antalya")} == {"https://a/1", "https://b/1"}
    assert indexed_snapshot(a) == lake_snapshot(a)
    # beta never refreshed: its first search builds its own host's index.
    assert {h.url for h in search(b, "kuleba")} == {"https://a/1", "https://b/1"}
    _commit(a, [("https://a/2", "Antalya summit ends", "Antalya " * 10)])
    assert refresh_index(b).mode == "incremental"
    assert [h.url for h in search(b, "summit")] == ["https://a/2"]


if __name__ == "__main__":
    worker_main(sys.argv[1], int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "")
