"""A scrape's crawl, opened: the plan, the archive run, one polite fetcher, a SiteRun per site.

The scrape flow opens it (:func:`open_crawl`) at its start. ``newsarchive run`` opens it *before*
its flow run exists, as a head start: without PREFECT_API_URL a flow run needs a Prefect server
first, and a server takes 5-15 s of CPU to start (imports, database migrations; Prefect itself
takes ~2.5 s to import). So ``run`` starts the server in the background, plans the crawl, opens
the archive run and sets each site's discovery going (nothing here imports Prefect), and only
then waits for the server; the scrape flow takes the head start over (:data:`HEAD_START`): its
discover tasks await the discovery under way, and the batches, the commit, the run log, the
artifacts and the final state are the flow run's as always. Log lines of the head start are kept
(:class:`flows.runlog.EarlyLogs`) and sent to the flow run's log once it exists.
"""
from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from contextvars import ContextVar
from dataclasses import dataclass, field

from crawl.fetch import Fetcher
from crawl.hostgate import host_gate_for
from crawl.lifecycle import ArchiveRun
from crawl.parsejob import job_spec
from crawl.parsepool import shared_pool
from crawl.pipeline import SiteRun, discover_urls
from crawl.plan import ScrapePlan
from storage.lake import Archive
from storage.state import CrawlState, archive_state_loader

from .runlog import EarlyLogs

#: The head start a ``newsarchive run`` made for the scrape flow it is about to call.
HEAD_START: ContextVar["OpenCrawl | None"] = ContextVar("newsarchive_head_start", default=None)


@dataclass
class OpenCrawl:
    """An opened crawl; ``discovery`` holds each site's discovery task when it was started early."""
    plan: ScrapePlan
    run: ArchiveRun
    site_runs: list[SiteRun]
    max_urls: int | None
    discovery: dict[str, asyncio.Task] = field(default_factory=dict)
    early_logs: EarlyLogs | None = None
    _run_stack: AsyncExitStack = field(default_factory=AsyncExitStack)
    _fetch_stack: AsyncExitStack = field(default_factory=AsyncExitStack)

    async def found(self, site: str) -> list[str] | None:
        """The URLs the early discovery of ``site`` found (awaiting it), or None if none was started."""
        task = self.discovery.get(site)
        return None if task is None else [d.url for d in await task]

    async def close_fetcher(self) -> None:
        """Stop fetching (before the commit, which closes the run's WARC files)."""
        for task in self.discovery.values():
            task.cancel()
        await asyncio.gather(*self.discovery.values(), return_exceptions=True)
        await self._fetch_stack.aclose()

    async def aclose(self) -> None:
        """Close everything; the archive run, if not committed, leaves its staging for the next run."""
        try:
            await self.close_fetcher()
        finally:
            await self._run_stack.aclose()

    async def __aenter__(self) -> "OpenCrawl":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()


async def open_crawl(plan: ScrapePlan, archive: Archive, *, flow_label: str, flow_run_id: str | None,
                     max_urls: int | None, discover_now: bool = False,
                     early_logs: EarlyLogs | None = None) -> OpenCrawl:
    """Open the archive run and the fetcher for ``plan``; ``discover_now`` starts every site's
    discovery at once (a head start: the flow's discover tasks then await it)."""
    crawl: OpenCrawl | None = None
    run_stack = AsyncExitStack()
    try:
        run = run_stack.enter_context(ArchiveRun(archive, flow_label=flow_label, sites=plan.names,
                                                 flow_run_id=flow_run_id, since=plan.window_since,
                                                 until=plan.until))
        crawl = OpenCrawl(plan, run, [], max_urls, early_logs=early_logs, _run_stack=run_stack)
        # The state of the URLs to fetch is loaded after discovery (crawl_site), not the whole archive's.
        state, loader = CrawlState(loaded=set()), archive_state_loader(run.archive, plan.names)
        gate = host_gate_for(run.archive)   # lock files, or Postgres for a shared archive
        crawl._fetch_stack.push_async_callback(gate.aclose)   # closed after the fetcher
        fetcher = await crawl._fetch_stack.enter_async_context(Fetcher(
            plan.config, host_map=plan.host_map, warc=run.warc_writer, validators=state.validators,
            host_gate=gate))
        crawl.site_runs = [plan.site_run(s, run.run_id, fetcher=fetcher, staging=run.staging, state=state,
                                         dedup=run.dedup, state_loader=loader) for s in plan.sites]
        if any(job_spec(r) is not None for r in crawl.site_runs):
            shared_pool().warm()   # the parse workers start while discovery runs, not at the first page
        if discover_now:
            crawl.discovery = {r.site.name: asyncio.create_task(discover_urls(r, max_urls=max_urls))
                               for r in crawl.site_runs}
        return crawl
    except BaseException:
        if crawl is not None:
            await crawl.aclose()
        else:
            await run_stack.aclose()
        raise
