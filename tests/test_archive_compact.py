"""Compaction: fewer files, old snapshots expired, no article version lost, readers keep answering."""
import threading
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from archive_builders import T0, article, commit_run
from storage.compact import CompactError, compact, snapshots_to_expire
from storage.lake import Archive
from storage.snapshots import list_snapshots, query_at
from storage.sql import query
from test_archive_snapshots import group

ALL_VERSIONS = "SELECT url, version, content_hash, body, run_id FROM article_versions ORDER BY url, version"


def build(root, runs=6) -> tuple[Archive, list[int]]:
    """``runs`` runs, each adding two articles and revising article 0 (a new version each time)."""
    arch = Archive(root)
    arch.init()
    snaps = []
    for r in range(runs):
        rows = [article(f"https://reuters.example/{r}-{k}", title=f"Story {r}-{k}", body=f"Body {r} {k}")
                for k in range(2)]
        rows.append(article("https://reuters.example/live", title="Live blog", body=f"Update number {r}",
                            seen=T0 + timedelta(hours=r)))
        snaps.append(commit_run(arch, f"run-{r}", rows))
    return arch, snaps


@pytest.fixture
def archive(tmp_path):
    return build(tmp_path / "archive")


def test_compaction_merges_files_expires_snapshots_and_keeps_every_version(archive):
    arch, snaps = archive
    _, before = query(arch, ALL_VERSIONS)
    _, latest_before = query(arch, "SELECT * FROM articles ORDER BY url")
    assert len(before) == 6 * 3 and ("https://reuters.example/live", 6) in [(u, v) for u, v, *_ in before]
    report = compact(arch, keep_days=None, keep_last=3, grace=timedelta(0))
    assert report.files_after < report.files_before and report.files_deleted > 0
    kept = [s.snapshot_id for s in list_snapshots(arch)]
    assert kept == [snaps[-2], snaps[-1], report.snapshot_id]
    assert report.expired == [s for s in range(0, snaps[-2])]
    assert query(arch, ALL_VERSIONS)[1] == before                      # every version of every article
    assert query(arch, "SELECT * FROM articles ORDER BY url")[1] == latest_before
    assert report.rows["article_versions"] == 18
    # Time travel to a kept snapshot still answers from the merged files; an expired one is refused.
    assert query_at(arch, "SELECT count(*) FROM article_versions", snaps[-2])[1] == [(15,)]
    with pytest.raises(Exception, match="no such snapshot"):
        query_at(arch, "SELECT 1", snaps[0])
    # Only files nothing refers to were deleted: the data directory holds exactly the live files.
    on_disk = {p.name for p in arch.data_dir.rglob("*.parquet")}
    _, listed = query(arch, "SELECT data_file FROM ducklake_list_files('lake', 'article_versions')")
    assert {p.rsplit("/", 1)[1] for (p,) in listed} <= on_disk


def test_compaction_is_repeatable_and_the_archive_keeps_growing(archive):
    arch, snaps = archive
    compact(arch, keep_days=None, keep_last=2, grace=timedelta(0))
    compact(arch, keep_days=None, keep_last=2, grace=timedelta(0))
    s = commit_run(arch, "after", [article("https://reuters.example/new", title="New")])
    assert query(arch, "SELECT count(*) FROM article_versions")[1] == [(19,)]
    assert [x.run_id for x in list_snapshots(arch)][-1] == "after" and s == list_snapshots(arch)[-1].snapshot_id


def test_grace_period_keeps_replaced_files_for_running_readers(archive):
    arch, _ = archive
    files = {p.name for p in arch.data_dir.rglob("*.parquet")}
    report = compact(arch, keep_days=None, keep_last=1)   # default grace: 10 minutes
    assert report.files_deleted == 0 and files <= {p.name for p in arch.data_dir.rglob("*.parquet")}


def test_readers_keep_answering_during_and_after_compaction(archive):
    arch, _ = archive
    expected = query(arch, "SELECT count(*), sum(version) FROM article_versions")[1]
    early = arch.connect(read_only=True)          # opened before the compaction
    errors, answers = [], []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            try:
                answers.append(query(arch, "SELECT count(*), sum(version) FROM article_versions")[1])
            except Exception as e:  # noqa: BLE001 (collected and asserted below)
                errors.append(e)

    t = threading.Thread(target=reader)
    t.start()
    try:
        compact(arch, keep_days=None, keep_last=1, grace=timedelta(0))
    finally:
        stop.set()
        t.join(60)
    try:
        assert not errors, errors[:3]
        assert answers and all(a == expected for a in answers)
        assert early.execute("SELECT count(*), sum(version) FROM article_versions").fetchall() == expected
    finally:
        early.close()
    assert query(arch, "SELECT count(*), sum(version) FROM article_versions")[1] == expected


def test_retention_rules():
    now = datetime(2026, 11, 30, tzinfo=timezone.utc)
    snaps = [(i, now - timedelta(days=10 - i)) for i in range(10)]   # ids 0..9, 10..1 days old
    assert snapshots_to_expire(snaps, keep_days=None, keep_last=None, now=now) == []
    assert snapshots_to_expire(snaps, keep_days=None, keep_last=3, now=now) == list(range(7))
    assert snapshots_to_expire(snaps, keep_days=5, keep_last=None, now=now) == list(range(5))
    # Either rule keeps a snapshot: the union of both.
    assert snapshots_to_expire(snaps, keep_days=5, keep_last=8, now=now) == [0, 1]
    assert snapshots_to_expire(snaps, keep_days=0, keep_last=None, now=now) == list(range(9))  # latest stays
    with pytest.raises(CompactError, match="keep_last >= 1"):
        snapshots_to_expire(snaps, keep_days=None, keep_last=0)


def test_cli_compact(archive):
    arch, _ = archive
    runner = CliRunner()
    out = runner.invoke(group(), ["--archive", str(arch.root), "compact", "--keep-days", "0", "--keep-last", "2",
                                  "--grace-minutes", "0"])
    assert out.exit_code == 0, out.output
    assert "compacted to snapshot" in out.output and "article_versions 18" in out.output
    bad = runner.invoke(group(), ["--archive", str(arch.root), "compact", "--keep-last", "0"])
    assert bad.exit_code == 2 and "--keep-last 0: must be 1 or more" in bad.output


# A commit SIGKILLed after DuckLake wrote its parquet files but before the catalog committed.
KILLED_COMMIT = r"""
import sys
sys.path.insert(0, sys.argv[2])
from archive_builders import article, fetch_row, run_row
from storage.commit import commit_staging
from storage.lake import Archive
from storage.staging import Staging
a = Archive(sys.argv[1])
st = Staging(a.staging_dir, "killed").hold()
rows = [article(f"https://reuters.example/killed-{i}", title=f"Killed {i}", run_id="killed") for i in range(3)]
st.append_batch("part-0", {"article_versions": rows, "fetch_log": [fetch_row(r["url"], "killed") for r in rows]})
con = a.connect()
commit_staging(con, st, run_row("killed", ["reuters"]), {})
"""


def _unknown_files(arch: Archive) -> set[str]:
    """Parquet files on disk that no catalog entry (live, replaced or pending deletion) names."""
    _, rows = query(arch, "SELECT path FROM __ducklake_metadata_lake.ducklake_data_file UNION ALL "
                          "SELECT path FROM __ducklake_metadata_lake.ducklake_delete_file UNION ALL "
                          "SELECT path FROM __ducklake_metadata_lake.ducklake_files_scheduled_for_deletion")
    known = {p.rsplit("/", 1)[-1] for (p,) in rows}
    return {p.name for p in arch.data_dir.rglob("*.parquet")} - known


def test_orphaned_files_of_a_killed_commit_are_deleted_after_their_grace(archive):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    arch, _ = archive
    tests = str(Path(__file__).resolve().parent)
    proc = subprocess.run([sys.executable, "-c", KILLED_COMMIT, str(arch.root), tests], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "NEWSARCHIVE_TEST_KILL_AT": "commit-before"})
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    orphans = _unknown_files(arch)
    assert orphans, "the killed commit left no data file"
    rows = query(arch, "SELECT count(*) FROM article_versions")[1]

    # Default orphan grace (an hour): a file this young may be a commit going on now: kept.
    # Default grace: the files the merge replaces stay for running readers.
    report = compact(arch, keep_days=None, keep_last=2)
    assert report.orphans_deleted == 0 and _unknown_files(arch) == orphans and report.files_pending > 0
    pending = {p.rsplit("/", 1)[-1] for (p,) in query(
        arch, "SELECT path FROM __ducklake_metadata_lake.ducklake_files_scheduled_for_deletion")[1]}
    report = compact(arch, keep_days=None, keep_last=2, orphan_grace=timedelta(0))
    assert report.orphans_deleted == len(orphans) and _unknown_files(arch) == set()
    assert pending <= {p.name for p in arch.data_dir.rglob("*.parquet")}, "a file kept for readers was deleted"
    assert query(arch, "SELECT count(*) FROM article_versions")[1] == rows
