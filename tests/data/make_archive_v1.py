"""Write tests/data/archive_v1/: a tiny archive in schema version 1, the first released schema.

tests/test_archive_migration.py copies it and opens it with the current code,
which must migrate it to the current SCHEMA_VERSION with the data intact.
Never regenerate it with a later schema: it stands for archives users already
have. It must be written by the schema-1 code (commit 45f9562), not the
current one (whose commit_staging writes schema-2 columns):

    mkdir -p /tmp/v1src && git archive 45f9562 storage | tar -x -C /tmp/v1src
    python tests/data/make_archive_v1.py --src /tmp/v1src
"""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# --src DIR: import the `storage` package of another checkout (the schema-1 code).
_src = sys.argv[sys.argv.index("--src") + 1] if "--src" in sys.argv else str(ROOT)
sys.path.insert(0, _src)

import storage.lake as lake  # noqa: E402
from storage.commit import commit_staging  # noqa: E402
from storage.schema import MIGRATIONS  # noqa: E402
from storage.staging import Staging  # noqa: E402

OUT = Path(__file__).resolve().parent / "archive_v1"
T0 = datetime(2026, 11, 1, 6, 0, tzinfo=timezone.utc)

ARTICLES = [
    ("reuters", "https://www.reuters.com/world/europe/lavrov-kuleba-talks-2022-03-10/",
     "Lavrov and Kuleba meet in Antalya", "Russian Foreign Minister Sergei Lavrov and Ukrainian Foreign "
     "Minister Dmytro Kuleba met in Antalya.\n\nThe talks produced no agreement on a ceasefire.",
     datetime(2022, 3, 10, 9, 0, tzinfo=timezone.utc), ["ukraine", "diplomacy"]),
    ("reuters", "https://www.reuters.com/business/energy/oil-prices-2022-03-08/",
     "Oil prices climb on supply fears", "Brent crude rose above $120 a barrel.",
     datetime(2022, 3, 8, 14, 0, tzinfo=timezone.utc), ["markets", "oil"]),
    ("almayadeen", "https://english.almayadeen.net/news/politics/erdogan-hosts-summit",
     "Erdoğan hosts regional summit", "Turkish President Recep Tayyip Erdoğan welcomed leaders in Ankara.",
     datetime(2022, 4, 2, 10, 0, tzinfo=timezone.utc), ["turkey"]),
]


def row(site, url, title, body, published, tags, run_id, seen):
    digest = hashlib.sha256(f"{title}|{body}".encode()).hexdigest()[:16]
    return {"url": url, "site": site, "version": 0, "content_hash": digest,
            "title": title, "summary": None, "authors": ["Staff"], "source": None,
            "published_at": published, "modified_at": None, "section": "world", "tags": tags,
            "language": "en", "dateline": None, "body": body, "images": [], "credits": None,
            "related": [], "ticker": [], "extractor": site, "extractor_version": "1", "quality": [],
            "fetched_url": url, "seen_at": seen, "run_id": run_id, "warc_file": None,
            "warc_offset": None, "warc_length": None}


def fetch(url, site, run_id, seen):
    return {"run_id": run_id, "site": site, "kind": "article", "url": url, "final_url": url,
            "outcome": "fetched", "status": 200, "error_kind": None, "error": None, "etag": '"v1"',
            "last_modified": None, "content_hash": None, "fetched_at": seen, "elapsed_ms": 12.5,
            "bytes": 2048, "attempts": 1, "warc_file": None, "warc_offset": None, "warc_length": None}


def commit(archive, run_id, rows, seen):
    run = {"run_id": run_id, "flow_run_id": f"flow-{run_id}", "flow_name": "scrape",
           "sites": ["almayadeen", "reuters"], "started_at": seen, "finished_at": seen,
           "status": "completed", "newsarchive_version": "0.1.0"}
    st = Staging(archive.staging_dir, run_id)
    st.write_meta(run)
    st.append("article_versions", "all", rows)
    st.append("fetch_log", "all", [fetch(r["url"], r["site"], run_id, seen) for r in rows])
    con = archive.connect()
    try:
        counts = {}
        for r in rows:
            counts.setdefault(r["site"], {"fetched": 0})["fetched"] += 1
        return commit_staging(con, st, run, counts)
    finally:
        con.close()


def main() -> None:
    # Schema 1 only, whatever the imported code's latest migration is.
    lake.MIGRATIONS, lake.SCHEMA_VERSION = MIGRATIONS[:1], 1
    print(f"using storage from {lake.__file__}")
    shutil.rmtree(OUT, ignore_errors=True)
    archive = lake.Archive(OUT)
    assert archive.init() == 1
    seen1, seen2 = T0, T0 + timedelta(hours=6)
    s1 = commit(archive, "20261101T060000Z-run1", [row(*a, "20261101T060000Z-run1", seen1) for a in ARTICLES], seen1)
    site, url, title, body, published, tags = ARTICLES[0]
    changed = row(site, url, title, body + "\n\nUpdated with comments from both ministers.", published, tags,
                  "20261101T120000Z-run2", seen2)
    s2 = commit(archive, "20261101T120000Z-run2", [changed], seen2)
    con = archive.connect(read_only=True)
    try:
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("article_versions", "articles", "fetch_log", "runs", "run_stats")}
    finally:
        con.close()
    # Only the catalog and the parquet files belong in the fixture.
    shutil.rmtree(OUT / ".duckdb", ignore_errors=True)
    shutil.rmtree(OUT / "staging", ignore_errors=True)
    (OUT / "expected.json").write_text(json.dumps(
        {"schema_version": 1, "snapshots": [s1, s2], "counts": counts,
         "written_at_path": str(archive.root)}, indent=2) + "\n", "utf-8")
    size = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {OUT} ({size / 1024:.0f} KB): snapshots {s1}, {s2}; {counts}")


if __name__ == "__main__":
    main()
