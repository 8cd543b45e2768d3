"""Re-extraction: the current extractors over the raw WARC records, no network.

For every archived article response (the latest fetch of each URL, optionally one
site and since a date) the page is read back from its WARC record and run
through the same extraction steps as a crawl (site extractor, generic fallback,
canonical URL, ticker apart, content hash). Only pages whose extracted record
changed become new article versions, with the extractor version that made them;
the run is committed as one snapshot. After a site changed its markup and its
extractor was fixed, this recovers every page of the broken period.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import extractors
from crawl.config import Config
from crawl.fetch import FetchResult, detect_encoding
from crawl.pipeline import SiteRun, article_row, extract_page, note_ticker, strip_ticker_lines
from crawl.warc import WarcRef, read_record
from dedup import content_hash
from dedup.urls import canonicalize
from storage.commit import commit_staging
from storage.lake import Archive
from storage.staging import Staging
from storage.state import load_state


def archived_pages(con, site: str, since: datetime | None):
    """(url, fetched_at, warc ref) of the latest archived 200 response of each article URL."""
    where = "AND fetched_at >= ?" if since else ""
    params = [site] + ([since] if since else [])
    return con.execute(f"""
        SELECT final_url, fetched_at, warc_file, warc_offset, warc_length FROM fetch_log
        WHERE site = ? AND kind = 'article' AND outcome = 'fetched' AND warc_file IS NOT NULL {where}
        QUALIFY row_number() OVER (PARTITION BY final_url ORDER BY fetched_at DESC) = 1
        ORDER BY fetched_at
    """, params).fetchall()


def reextract_site(archive: Archive, config: Config, site_name: str, run_id: str, staging: Staging,
                   since: datetime | None = None) -> Counter:
    """Stage new article versions for one site's pages whose extraction changed; returns counters."""
    site = config.site(site_name)
    con = archive.connect(read_only=True)
    try:
        state = load_state(con, [site_name])
        pages = archived_pages(con, site_name, since)
    finally:
        con.close()
    run = SiteRun(site=site, run_id=run_id, fetcher=None, extractor=extractors.registry.get(site.extractor),
                  staging=staging, state=state, health_settings=config.health)
    rows = []
    for url, fetched_at, wf, off, length in pages:
        ref = WarcRef(wf, off, length)
        try:
            _, status, headers, body = read_record(archive.warc_dir, ref)
        except (OSError, ValueError) as e:
            run.counters["warc_unreadable"] += 1
            run.note_error("warc", f"{site_name}: raw page of {url} unreadable in {wf} at {off}: {e}; "
                                   f"it cannot be re-extracted (refetch it with a normal run)")
            continue
        ctype = headers.get("content-type") or headers.get("Content-Type")
        enc = detect_encoding(body, ctype) or "utf-8"
        r = FetchResult(url=url, final_url=url, site=site_name, outcome="fetched", status=status,
                        content=body, text=body.decode(enc, errors="replace"), encoding=enc,
                        headers={k.lower(): v for k, v in headers.items()}, fetched_at=fetched_at, warc=ref)
        run.counters["pages"] += 1
        art = extract_page(run, r)
        if art is None:
            continue
        art.site = site_name
        art.url = canonicalize(url, site_rules=run.url_rules, canonical_hint=art.url)
        note_ticker(run, art.ticker, r)
        strip_ticker_lines(run, art)
        chash = content_hash(art)
        if state.hashes.get(art.url) == chash:
            run.counters["unchanged"] += 1
            continue
        run.counters["changed" if art.url in state.hashes else "new"] += 1
        state.hashes[art.url] = chash
        rows.append(article_row(run, art, r, chash))
    staging.append("article_versions", f"{site_name}-reextract", rows)
    run.counters["stored"] = run.counters["new"] + run.counters["changed"]
    run.counters.update(run.health.counters())
    return run.counters


def reextract(archive: Archive, config: Config, sites: list[str], run_id: str, *,
              since: datetime | None = None, flow_run_id: str | None = None) -> tuple[int, dict[str, Counter]]:
    """Re-extract the given sites and commit the new versions as one snapshot."""
    staging = Staging(archive.staging_dir, run_id).hold()
    started = datetime.now(timezone.utc)
    try:
        stats = {s: reextract_site(archive, config, s, run_id, staging, since) for s in sites}
        run_row = {"run_id": run_id, "flow_run_id": flow_run_id, "flow_name": "reextract", "sites": sites,
                   "started_at": started, "finished_at": datetime.now(timezone.utc), "status": "completed",
                   "newsarchive_version": "0.1.0"}
        con = archive.connect()
        try:
            snapshot = commit_staging(con, staging, run_row, stats)
        finally:
            con.close()
    finally:
        staging.release()
    return snapshot, stats
