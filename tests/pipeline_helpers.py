"""Run the crawl pipeline without Prefect, the way flows/scrape.py does (used by several tests)."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import extractors
from crawl.config import load_config
from crawl.fetch import Fetcher
from crawl.pipeline import SiteRun, crawl_batch, discover_urls, finish_site, load_known
from crawl.warc import WarcWriter
from dedup.state import DedupState
from flows.scrape import replay_host_map
from storage.commit import commit_staging
from storage.lake import Archive
from storage.staging import Staging
from storage.state import CrawlState, archive_state_loader


async def no_sleep(_seconds: float) -> None:
    return None


def config(retries: int = 1):
    cfg = load_config().with_politeness(delay_s=0.0, concurrency=4)
    return dataclasses.replace(cfg, fetch=dataclasses.replace(cfg.fetch, retries=retries, backoff_base_s=0.0))


async def crawl_once(arch: Archive, srv, run_id: str, sites=("almayadeen", "reuters"), cfg=None,
                     dedup: bool = False):
    cfg = cfg or config()
    dedup_state = DedupState.load(arch.root / "index") if dedup else None
    arch.init()
    # As the flow does: the state of the discovered URLs, loaded after discovery.
    state, loader = CrawlState(loaded=set()), archive_state_loader(arch, list(sites))
    staging = Staging(arch.staging_dir, run_id)
    warc = WarcWriter(arch.warc_dir, prefix=f"test-{run_id}")
    runs = []
    async with Fetcher(cfg, host_map=replay_host_map(cfg, srv.url), warc=warc,
                       validators=state.validators, sleep=no_sleep) as fetcher:
        for name in sites:
            site = cfg.site(name)
            run = SiteRun(site=site, run_id=run_id, fetcher=fetcher, staging=staging, state=state,
                          extractor=extractors.registry.get(site.extractor), dedup=dedup_state,
                          state_loader=loader)
            urls = [d.url for d in await discover_urls(run)]
            await load_known(run, urls)
            for n in range(0, len(urls), 25):
                await crawl_batch(run, urls[n:n + 25], n)
            finish_site(run)
            runs.append(run)
    warc.close()
    con = arch.connect()
    now = datetime.now(timezone.utc)
    commit_staging(con, staging, {"run_id": run_id, "flow_name": "test", "sites": list(sites),
                                  "started_at": now, "finished_at": now, "status": "completed"},
                   {r.site.name: r.counters for r in runs})
    con.close()
    if dedup_state is not None:
        dedup_state.save()
    return {r.site.name: r for r in runs}


