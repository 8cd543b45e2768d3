"""Re-extraction: the current extractors over the raw WARC records, no network.

For every archived article response (the latest fetch of each URL, optionally one
site and since a date) the page is read back from its WARC record and run
through the same extraction and article steps as a crawl (crawl/steps.py: site
extractor, generic fallback, canonical URL, ticker and boilerplate apart, content
hash, near-duplicate, story). Only pages whose extracted record
changed become new article versions, with the extractor version that made them;
the run is committed as one snapshot. After a site changed its markup and its
extractor was fixed, this recovers every page of the broken period.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime

import extractors
from crawl.config import Config
from crawl.fetch import FetchResult, decode_body
from crawl.lifecycle import ArchiveRun, RunResult
from crawl.pipeline import SiteRun, extract_page
from crawl.steps import ARTICLE_STEPS, Page, run_steps
from crawl.warc import WarcRef
from crawl.warc_store import read_archived
from newsarchive.errors import NewsarchiveError
from storage.lake import Archive
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


def reextract_site(archive: Archive, config: Config, site_name: str, run: ArchiveRun,
                   since: datetime | None = None) -> Counter:
    """Stage new article versions for one site's pages whose extraction changed; returns counters."""
    site = config.site(site_name)
    con = archive.connect(read_only=True)
    try:
        state = load_state(con, [site_name])
        pages = archived_pages(con, site_name, since)
    finally:
        con.close()
    srun = SiteRun(site=site, run_id=run.run_id, fetcher=None, extractor=extractors.registry.get(site.extractor),
                   staging=run.staging, state=state, health_settings=config.health, dedup=run.dedup)
    rows = []
    for url, fetched_at, wf, off, length in pages:
        r = _archived_response(archive, srun, url, fetched_at, WarcRef(wf, off, length))
        if r is None:
            continue
        srun.counters["pages"] += 1
        art = extract_page(srun, r)
        if art is None:
            continue
        # The same article steps as a crawl (crawl/steps.py): the record equals a fresh crawl's.
        page = run_steps(srun, Page(r, art), ARTICLE_STEPS)
        if page.row is not None:
            rows.append(page.row)
    run.staging.append("article_versions", f"{site_name}-reextract", rows)
    srun.counters["stored"] = srun.counters["new"] + srun.counters["changed"]
    srun.counters.update(srun.health.counters())
    return srun.counters


def _archived_response(archive: Archive, run: SiteRun, url: str, fetched_at: datetime,
                       ref: WarcRef) -> FetchResult | None:
    try:
        _, status, headers, body = read_archived(archive, ref)
    except (OSError, ValueError, NewsarchiveError) as e:
        run.counters["warc_unreadable"] += 1
        run.note_error("warc", f"{run.site.name}: raw page of {url} unreadable in {ref.filename} at {ref.offset}: "
                               f"{e}; it cannot be re-extracted (refetch it with a normal run)")
        return None
    ctype = headers.get("content-type") or headers.get("Content-Type")
    # Decoded as the crawl decoded it (crawl/fetch.py decode_body: its charset, the BOM dropped), so
    # the record is the crawl's; a body of a type that is not text, as UTF-8 (never an article).
    enc, text = decode_body(body, ctype)
    if text is None:
        enc, text = "utf-8", body.decode("utf-8", errors="replace")
    return FetchResult(url=url, final_url=url, site=run.site.name, outcome="fetched", status=status,
                       content=body, text=text, encoding=enc,
                       headers={k.lower(): v for k, v in headers.items()}, fetched_at=fetched_at, warc=ref)


def reextract(archive: Archive, config: Config, sites: list[str], *, since: datetime | None = None,
              flow_run_id: str | None = None) -> tuple[RunResult, dict[str, Counter]]:
    """Re-extract the given sites and commit the new versions as one snapshot (crawl/lifecycle.py)."""
    with ArchiveRun(archive, flow_label="reextract", sites=sites, flow_run_id=flow_run_id, warc=False,
                    work_phase="extract") as run:
        stats = {s: reextract_site(archive, config, s, run, since) for s in sites}
        return run.commit(stats, "completed"), stats
