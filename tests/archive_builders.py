"""Build real archives on disk quickly, without the crawler: staged rows + commit_staging (one snapshot per run)."""
from __future__ import annotations

import atexit
import hashlib
import shutil
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable

from storage.commit import commit_staging
from storage.lake import Archive
from storage.staging import Staging

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


def article(url: str, *, site: str = "reuters", title: str | None = None, body: str = "Body text.",
            published: datetime | None = datetime(2022, 3, 10, 6, 33, tzinfo=timezone.utc),
            seen: datetime = T0, tags: Iterable[str] = ("world",), run_id: str = "r") -> dict:
    h = hashlib.sha256(f"{title}|{body}".encode()).hexdigest()[:16]
    return {"url": url, "site": site, "version": 0, "content_hash": h, "title": title or f"Title of {url}",
            "summary": None, "authors": ["A. Writer", "Recep Tayyip Erdoğan"], "source": None,
            "published_at": published, "modified_at": None, "section": "world", "tags": list(tags),
            "language": "en", "dateline": None, "body": body,
            "images": [{"url": "https://i/1.jpg", "caption": "cap"}], "credits": None, "related": [],
            "ticker": [], "extractor": "generic", "extractor_version": "1", "quality": [],
            "fetched_url": url, "seen_at": seen, "run_id": run_id, "warc_file": "w.warc.gz",
            "warc_offset": 0, "warc_length": 10}


def fetch_row(url: str, run_id: str, site: str = "reuters", at: datetime = T0) -> dict:
    return {"run_id": run_id, "site": site, "kind": "article", "url": url, "final_url": url,
            "outcome": "fetched", "status": 200, "error_kind": None, "error": None, "etag": None,
            "last_modified": None, "content_hash": None, "fetched_at": at, "elapsed_ms": 1.5,
            "bytes": 100, "attempts": 1, "warc_file": None, "warc_offset": None, "warc_length": None}


def run_row(run_id: str, sites: list[str], flow_run_id: str | None = None) -> dict:
    return {"run_id": run_id, "flow_run_id": flow_run_id, "flow_name": "scrape", "sites": sites,
            "started_at": T0, "finished_at": T0, "status": "completed", "newsarchive_version": "test"}


def commit_run(archive: Archive, run_id: str, articles: list[dict], *, flow_run_id: str | None = None) -> int:
    """Commit one run with these articles (and one fetch_log row each); returns its snapshot id."""
    sites = sorted({a["site"] for a in articles}) or ["reuters"]
    run = run_row(run_id, sites, flow_run_id)
    st = Staging(archive.staging_dir, run_id)
    st.write_meta(run)
    if articles:
        st.append("article_versions", "part-0", [{**a, "run_id": run_id} for a in articles])
    st.append("fetch_log", "part-0", [fetch_row(a["url"], run_id, a["site"]) for a in articles])
    con = archive.connect()
    try:
        stats = {s: {"fetched": sum(1 for a in articles if a["site"] == s)} for s in sites}
        return commit_staging(con, st, run, stats)
    finally:
        con.close()


NEWS = [
    ("reuters", "Lavrov meets Kuleba in Antalya", "Russian Foreign Minister Sergei Lavrov met Ukrainian "
     "Foreign Minister Dmytro Kuleba in Antalya on Thursday. The talks produced no ceasefire.",
     datetime(2022, 3, 10, 9, 0, tzinfo=timezone.utc), ("ukraine", "diplomacy")),
    ("reuters", "Oil prices climb on supply fears", "Brent crude rose above 120 dollars a barrel as "
     "traders weighed sanctions on Russian energy exports.", datetime(2022, 3, 8, 14, 0, tzinfo=timezone.utc),
     ("markets", "oil")),
    ("almayadeen", "Kuleba says talks with Lavrov were difficult", "Ukraine's foreign minister said the "
     "meeting with his Russian counterpart Lavrov in Turkey brought no progress on humanitarian corridors.",
     datetime(2022, 3, 11, 7, 30, tzinfo=timezone.utc), ("ukraine",)),
    ("almayadeen", "Erdoğan hosts regional summit", "Turkish President Recep Tayyip Erdoğan welcomed "
     "leaders to a summit on energy and trade in Ankara.", datetime(2022, 4, 2, 10, 0, tzinfo=timezone.utc),
     ("turkey", "energy")),
    ("reuters", "Central bank raises rates", "The central bank raised its benchmark interest rate by "
     "half a point to fight inflation, the largest increase in two decades.",
     datetime(2022, 5, 4, 18, 0, tzinfo=timezone.utc), ("economy",)),
]


def news_articles() -> list[dict]:
    return [article(f"https://{site}.example/{i}", site=site, title=title, body=body, published=pub, tags=tags)
            for i, (site, title, body, pub, tags) in enumerate(NEWS)]


_NEWS_TEMPLATE: dict[str, tuple[Path, list[int]]] = {}


def build_news_archive(root) -> tuple[Archive, list[int]]:
    """Two runs: the five news articles, then one changed article and one new one.

    Built once per test process (init + two commits: ~1 s) and copied to ``root`` after that: an
    archive directory is meant to be copied as a whole (README, "The archive on disk")."""
    if "news" not in _NEWS_TEMPLATE:
        template = Path(tempfile.mkdtemp(prefix="newsarchive-news-template-")) / "archive"
        atexit.register(shutil.rmtree, template.parent, True)
        _NEWS_TEMPLATE["news"] = (template, _build_news_archive(template)[1])
    template, snapshots = _NEWS_TEMPLATE["news"]
    shutil.copytree(template, root)
    return Archive(root), list(snapshots)


def _build_news_archive(root) -> tuple[Archive, list[int]]:
    arch = Archive(root)
    arch.init()
    first = news_articles()
    s1 = commit_run(arch, "run-1", first, flow_run_id="flow-1")
    changed = dict(first[1], body=first[1]["body"] + " Analysts expect more volatility.",
                   content_hash="changed", seen_at=T0 + timedelta(days=1))
    extra = article("https://reuters.example/99", site="reuters", title="Grain deal extended",
                    body="The Black Sea grain deal was extended for another 120 days.",
                    published=datetime(2022, 11, 17, 8, 0, tzinfo=timezone.utc), tags=("food",),
                    seen=T0 + timedelta(days=1))
    s2 = commit_run(arch, "run-2", [changed, extra], flow_run_id="flow-2")
    return arch, [s1, s2]
