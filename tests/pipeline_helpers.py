"""Run the crawl pipeline without Prefect, the way flows/scrape.py does (used by several tests)."""
from __future__ import annotations

import dataclasses
import json

import httpx

import extractors
from crawl.config import load_config
from crawl.fetch import Fetcher
from crawl.lifecycle import ArchiveRun
from crawl.pipeline import SiteRun, crawl_batch, discover_urls, finish_site, load_known
from crawl.plan import replay_host_map
from storage.lake import Archive
from storage.state import CrawlState, archive_state_loader


async def no_sleep(_seconds: float) -> None:
    return None


def staged_rows(staging, table: str) -> list[dict]:
    """The rows a run staged for ``table`` (its JSON-lines batch files), in file order."""
    return [json.loads(line) for f in staging.files(table) for line in f.read_text().splitlines() if line.strip()]


def config(retries: int = 1):
    cfg = load_config().with_politeness(delay_s=0.0, concurrency=4)
    return dataclasses.replace(cfg, fetch=dataclasses.replace(cfg.fetch, retries=retries, backoff_base_s=0.0))


async def crawl_once(arch: Archive, srv, run_id: str, sites=("almayadeen", "reuters"), cfg=None,
                     dedup: bool = False):
    """One run through the real run lifecycle (crawl/lifecycle.py), without Prefect or search."""
    cfg = cfg or config()
    runs = []
    with ArchiveRun(arch, flow_label="test", sites=list(sites), run_id=run_id, refresh_search=False) as life:
        # As the flow does: the state of the discovered URLs, loaded after discovery.
        state, loader = CrawlState(loaded=set()), archive_state_loader(arch, list(sites))
        async with Fetcher(cfg, host_map=replay_host_map(cfg, srv.url), warc=life.warc_writer,
                           validators=state.validators, sleep=no_sleep) as fetcher:
            for name in sites:
                site = cfg.site(name)
                run = SiteRun(site=site, run_id=run_id, fetcher=fetcher, staging=life.staging, state=state,
                              extractor=extractors.registry.get(site.extractor),
                              dedup=life.dedup if dedup else None, state_loader=loader)
                urls = [d.url for d in await discover_urls(run)]
                await load_known(run, urls)
                for n in range(0, len(urls), 25):
                    await crawl_batch(run, urls[n:n + 25], n)
                finish_site(run)
                runs.append(run)
        life.commit({r.site.name: r.counters for r in runs}, "completed")
    return {r.site.name: r for r in runs}


# One client for the many ground-truth lookups of a test module: httpx.get builds a client (and
# loads certifi's CA bundle) per call, ~30 ms each, which was most of a dedup fixture's time.
_TRUTH_CLIENT = httpx.Client(timeout=30)


def replay_truth(srv, url: str) -> httpx.Response:
    """The replay web's ``/__replay__/truth`` answer for ``url``."""
    return _TRUTH_CLIENT.get(srv.url + "/__replay__/truth", params={"url": url})
