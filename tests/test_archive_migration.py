"""An archive written by schema 1 (tests/data/archive_v1, made by make_archive_v1.py) opens and migrates."""
import json
import shutil
from pathlib import Path

import pytest

from archive_builders import article, commit_run
from storage.lake import Archive
from storage.schema import SCHEMA_VERSION
from storage.snapshots import list_snapshots, query_at
from storage.sql import query

FIXTURE = Path(__file__).parent / "data" / "archive_v1"


@pytest.fixture
def v1(tmp_path):
    # A copy at another path: the catalog names the path it was written at.
    root = tmp_path / "old-archive"
    shutil.copytree(FIXTURE, root)
    return Archive(root), json.loads((FIXTURE / "expected.json").read_text())


def test_fixture_is_small_and_schema_1():
    size = sum(p.stat().st_size for p in FIXTURE.rglob("*") if p.is_file())
    assert size < 200_000
    expected = json.loads((FIXTURE / "expected.json").read_text())
    assert expected["schema_version"] == 1 and expected["written_at_path"] != str(FIXTURE.parent / "elsewhere")


def test_v1_archive_migrates_with_data_intact(v1):
    arch, expected = v1
    assert query(arch, "SELECT max(version) FROM schema_info")[1] == [(1,)]
    assert arch.init() == SCHEMA_VERSION
    assert query(arch, "SELECT max(version) FROM schema_info")[1] == [(SCHEMA_VERSION,)]
    counts = expected["counts"]
    for table in ("article_versions", "fetch_log", "runs", "run_stats"):
        assert query(arch, f"SELECT count(*) FROM {table}")[1] == [(counts[table],)], table
    _, rows = query(arch, "SELECT url, version, title FROM articles ORDER BY url")
    assert len(rows) == counts["articles"]
    lavrov = [r for r in rows if "lavrov" in r[0]]
    assert lavrov and lavrov[0][1] == 2
    # The runs' snapshots are still there, and time travel to them works after the migration.
    s1, s2 = expected["snapshots"]
    snaps = {s.snapshot_id: s for s in list_snapshots(arch)}
    assert snaps[s1].run_id == "20261101T060000Z-run1" and snaps[s1].rows_added["article_versions"] == 3
    assert query_at(arch, "SELECT count(*) FROM article_versions", s1)[1] == [(3,)]
    assert arch.init() == SCHEMA_VERSION  # idempotent


def test_migrated_archive_takes_new_runs(v1):
    arch, expected = v1
    arch.init()
    commit_run(arch, "after-migration", [article("https://www.reuters.com/world/new", title="New")])
    assert query(arch, "SELECT count(*) FROM article_versions")[1] == [(expected["counts"]["article_versions"] + 1,)]
