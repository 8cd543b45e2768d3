"""The scrape flow against Scrapy on one replay web, in the same run (issue 12).

    pip install -e ".[bench]"
    python bench/bench_vs_scrapy.py --articles 3000            # 3,000 articles per site
    python bench/bench_vs_scrapy.py --articles 300 --skip trafilatura   # a quick check
    python bench/bench_vs_scrapy.py --prefect server --skip fetch --rounds 3   # medians of 3 rounds

``--rounds N`` runs every pipeline N times, in reverse order every other round (this machine's
speed drifts by up to 30 % over minutes), and prints each round and the medians.

One replay web (``newsarchive replay``) runs in its own process. Then, each pipeline in its
own process, one after the other against that same replay web:

* ``flow``: the real ``scrape`` flow (discovery, fetch, WARC, extraction, dedup, stories,
  commit), politeness off (delay 0, 16 concurrent requests per host), into a fresh archive,
  run twice (``--prefect`` picks one):

  - ``flow (server)``: against a Prefect server already running (started by the bench before
    the flow, in its own process with its own PREFECT_HOME), as a scheduled or deployed run
    on a worker meets it (docs/DEPLOY.md), and as ``newsarchive run`` does when a
    ``newsarchive serve`` runs;
  - ``flow (temporary)``: without ``PREFECT_API_URL``, so the flow call first starts Prefect's
    temporary server, as a bare ``newsarchive run`` on a fresh machine does (its
    ``run`` head start, flows/head_start.py, is not used here).
* ``scrapy``: a Scrapy spider fetching the article URLs the flow fetched (read back from the
  flow's ``fetch_log``) and running the project's own extractors (``extractors.extract``).
* ``sitemaps``: a Scrapy spider that finds the articles itself, as the flow does: from each
  site's configured sitemaps (the flow's), index -> monthly urlsets read with Scrapy's own
  sitemap parser, each article fetched as soon as it is found, with the project's extractors.
  Pages/s counts article pages, as for the flow (the sitemaps are fetched but not counted).
* ``fetch``: the same spider without parsing (Scrapy's own ceiling).
* ``trafilatura``: the same spider with ``trafilatura.extract`` instead.

Scrapy gets the same politeness: no delay, 16 concurrent requests per host (one download
slot per real host; every request goes to the replay's loopback address with the real Host
header, as the flow's host map does). Pages/s is article pages / wall time of the pipeline.
For the flow three wall times are given: the whole flow call (a temporary server's start
included), from its first request (discovery) on, and its crawl phase alone (the union of
its fetch+extract batches). CPU ms/page is the crawling process's CPU time (every thread;
the Prefect server and the replay are other processes) / article pages; the parse
workers' CPU (crawl/parsepool.py, other processes) is given apart, and so is the replay web's
CPU per page while each pipeline ran (the same server for all: what serving costs the
machine's two cores beside the pipeline). The crawl phase's CPU is also given per thread of
the crawling process (the event loop, MainThread; the parse pool's result and feeder threads;
the WARC writer), from /proc/self/task.

``--dump FILE`` writes what the flow stored (articles' content hashes, stories, duplicates,
ticker items) as JSON, to compare two versions of the code on the same corpus.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

# "sitemaps": Scrapy finds the articles itself, from the sites' sitemaps, as the flow does.
SCRAPY_MODES = ("scrapy", "sitemaps", "fetch", "trafilatura")


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _thread_cpu_s() -> dict[str, float]:
    """CPU time (user + system) of each thread of this process so far, by thread name (Linux:
    /proc/self/task; {} elsewhere). Tells the event loop's CPU from the WARC and pool threads'."""
    import threading
    names = {t.native_id: t.name for t in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for task in Path("/proc/self/task").glob("*"):
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:     # the thread ended meanwhile
            continue
        name = names.get(int(task.name), f"thread {task.name}")
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


# -- the flow -------------------------------------------------------------------------------
def run_flow(replay_url: str, archive: str, concurrency: int, batch_size: int, urls_out: str,
             dump: str | None) -> dict:
    """One scrape flow run into ``archive``; writes the fetched article URLs to ``urls_out``."""
    import crawl.pipeline as pipeline
    import flows.scrape as scrape_mod
    from bench_crawl import _bench_config, _union_length
    from crawl.config import load_config

    batches: list[tuple[float, float, float, float]] = []    # wall start, end, cpu start, end
    first_call: list[float] = []

    threads: list[dict[str, float]] = []    # each thread's CPU at the first batch's start, at the last's end

    async def timed_batch(*a, **kw):
        t, c = time.perf_counter(), _cpu_s()
        if not batches and not threads:
            threads.append(_thread_cpu_s())
        try:
            return await pipeline.crawl_batch(*a, **kw)
        finally:
            batches.append((t, time.perf_counter(), c, _cpu_s()))
            threads[1:] = [_thread_cpu_s()]

    async def timed_discover(*a, **kw):
        first_call.append(time.perf_counter())
        return await pipeline.discover_urls(*a, **kw)

    scrape_mod.crawl_batch = timed_batch
    scrape_mod.discover_urls = timed_discover
    cfg_path = Path(archive).with_suffix(".sites.toml")
    cfg_path.write_text(_bench_config(concurrency), "utf-8")
    for site in load_config(cfg_path).sites.values():   # the text replace must have taken effect
        if site.politeness.concurrency_per_host != concurrency:
            raise SystemExit(f"{cfg_path}: {site.name} concurrency_per_host is "
                             f"{site.politeness.concurrency_per_host}, not {concurrency}; update _bench_config")

    t0, c0 = time.perf_counter(), _cpu_s()
    result = asyncio.run(scrape_mod.scrape(archive=archive, config_path=str(cfg_path), replay_url=replay_url,
                                           delay_s=0.0, batch_size=batch_size))
    wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
    workers_cpu = _parse_workers_cpu_s()
    pages = sum(c.get("fetched", 0) + c.get("not_modified", 0) for c in result["stats"].values())
    crawl_wall = _union_length([(a, b) for a, b, _, _ in batches])
    crawl_cpu = max(d for _, _, _, d in batches) - min(c for _, _, c, _ in batches)
    after_start = wall - (min(first_call) - t0)
    _write_urls(archive, result["run_id"], urls_out)
    if dump:
        Path(dump).write_text(json.dumps(archive_fingerprint(archive), indent=1, sort_keys=True), "utf-8")
    return {"pipeline": "flow", "pages": pages, "wall_s": wall, "pages_per_s": pages / wall,
            "pages_per_s_after_first_request": pages / after_start,
            "before_first_request_s": min(first_call) - t0,
            # From the first request to the first batch (discovery), and the time between batches.
            "discovery_s": min(a for a, _, _, _ in batches) - min(first_call),
            "between_batches_s": (max(b for _, b, _, _ in batches) - min(a for a, _, _, _ in batches)) - crawl_wall,
            "crawl_phase_pages_per_s": pages / crawl_wall, "cpu_ms_per_page": 1000 * cpu / pages,
            "crawl_phase_cpu_ms_per_page": 1000 * crawl_cpu / pages,
            "parse_workers_cpu_ms_per_page": 1000 * workers_cpu / pages,
            "main_thread_cpu_ms_per_page": round(1000 * (threads[-1].get("MainThread", 0.0)
                                                         - threads[0].get("MainThread", 0.0)) / pages, 3),
            "crawl_phase_thread_cpu_ms_per_page": {
                name: round(1000 * (cpu_s - threads[0].get(name, 0.0)) / pages, 3)
                for name, cpu_s in sorted(threads[-1].items(), key=lambda kv: threads[0].get(kv[0], 0.0) - kv[1])
                if cpu_s - threads[0].get(name, 0.0) >= 0.005 * pages / 1000},
            "stored": sum(c.get("stored", 0) for c in result["stats"].values()),
            "errors": result["error_count"], "timings": result["timings"]}


def _parse_workers_cpu_s() -> float:
    """CPU time of the parse pool's worker processes (crawl/parsepool.py; alive until exit)."""
    from crawl.parsepool import shared_pool
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in shared_pool().pids():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks    # utime, stime
    return total


def _write_urls(archive: str, run_id: str, out: str) -> None:
    from storage.lake import Archive
    con = Archive(archive).connect(read_only=True)
    try:
        rows = con.execute("SELECT final_url FROM fetch_log WHERE run_id = ? AND kind = 'article' "
                           "AND outcome = 'fetched' ORDER BY final_url", [run_id]).fetchall()
    finally:
        con.close()
    Path(out).write_text("\n".join(r[0] for r in rows) + "\n", "utf-8")


def archive_fingerprint(archive: str) -> dict:
    """What the run stored, independent of run ids and WARC file names."""
    from storage.lake import Archive
    con = Archive(archive).connect(read_only=True)
    try:
        q = lambda sql: [list(r) for r in con.execute(sql).fetchall()]  # noqa: E731
        return {
            "articles": q("SELECT url, content_hash, story_id FROM articles ORDER BY url"),
            "duplicates": q("SELECT url, duplicate_of, content_hash FROM duplicates ORDER BY url"),
            "stories": q("SELECT story_id, articles, list_sort(urls) FROM stories ORDER BY story_id"),
            "breaking": q("SELECT site, key, text, times_seen FROM breaking ORDER BY site, key"),
        }
    finally:
        con.close()


# -- Scrapy ---------------------------------------------------------------------------------
def run_scrapy(mode: str, replay_url: str, urls_file: str, concurrency: int) -> dict:
    """Fetch every URL of ``urls_file`` from the replay web with Scrapy; parse per ``mode``."""
    import scrapy
    from scrapy.crawler import CrawlerProcess
    from urllib.parse import urlsplit

    urls = [u for u in Path(urls_file).read_text("utf-8").split() if u]
    parse = _parser(mode)
    stats = {"pages": 0, "bodies": 0, "errors": 0, "sitemaps": 0}

    def request(url: str, callback, errback) -> "scrapy.Request":
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        # One download slot per real host: 16 concurrent requests per host, as the flow.
        return scrapy.Request(replay_url + path, headers={"Host": parts.netloc}, dont_filter=True,
                              meta={"url": url, "download_slot": parts.netloc}, callback=callback,
                              errback=errback)

    class ArticleSpider(scrapy.Spider):
        name = "articles"

        async def start(self):
            for url in urls:
                yield request(url, self.parse, self.failed)

        def parse(self, response):
            stats["pages"] += 1
            if response.status == 200 and parse(response.text, response.meta["url"]):
                stats["bodies"] += 1
            return None

        def failed(self, failure):
            stats["errors"] += 1

    class SitemapSpider(ArticleSpider):
        """The articles found from each site's configured sitemaps (index -> monthly urlsets),
        read with Scrapy's own sitemap parser, fetched as they are found."""
        name = "sitemaps"

        async def start(self):
            self.seen: set[str] = set()
            for url in sitemap_urls:
                yield request(url, self.parse_sitemap, self.failed)

        def parse_sitemap(self, response):
            from scrapy.utils.sitemap import Sitemap
            stats["sitemaps"] += 1
            sitemap = Sitemap(response.body)
            follow = self.parse_sitemap if sitemap.type == "sitemapindex" else self.parse
            for entry in sitemap:
                loc = entry.get("loc")
                if loc and loc not in self.seen:
                    self.seen.add(loc)
                    yield request(loc, follow, self.failed)

    process = CrawlerProcess(settings={
        "LOG_LEVEL": "WARNING", "ROBOTSTXT_OBEY": False, "DOWNLOAD_DELAY": 0,
        "CONCURRENT_REQUESTS": 2 * concurrency, "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
        "COOKIES_ENABLED": False, "TELNETCONSOLE_ENABLED": False, "AUTOTHROTTLE_ENABLED": False,
        "HTTPCACHE_ENABLED": False, "RETRY_ENABLED": True,
    })
    if mode == "sitemaps":
        from bench_crawl import _bench_config
        from crawl.config import load_config
        cfg_path = Path(urls_file).with_name("scrapy-sites.toml")   # the flow's sites, the flow's sitemaps
        cfg_path.write_text(_bench_config(concurrency), "utf-8")
        sitemap_urls = [u for site in load_config(cfg_path).sites.values() for u in site.sitemaps]
    process.crawl(SitemapSpider if mode == "sitemaps" else ArticleSpider)
    t0, c0 = time.perf_counter(), _cpu_s()
    process.start()
    wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
    pages = stats["pages"] or 1
    name = {"scrapy": "scrapy+extractors", "sitemaps": "scrapy+extractors (sitemaps)"}.get(mode, f"scrapy+{mode}")
    return {"pipeline": name, "pages": stats["pages"], "sitemaps": stats["sitemaps"],
            "bodies": stats["bodies"], "errors": stats["errors"], "urls": len(urls), "wall_s": wall,
            "pages_per_s": stats["pages"] / wall, "cpu_ms_per_page": 1000 * cpu / pages}


def _parser(mode: str):
    if mode == "fetch":
        return lambda html, url: True
    if mode == "trafilatura":
        import trafilatura
        return lambda html, url: bool(trafilatura.extract(html, url=url, with_metadata=True))
    import extractors
    return lambda html, url: bool(extractors.extract(html, url).body)


# -- driver ---------------------------------------------------------------------------------
def _worker(args: list[str], env: dict | None = None) -> dict:
    """Run one pipeline in a child process (a fresh interpreter: Twisted's reactor cannot restart,
    and each pipeline's CPU time is its own)."""
    out = subprocess.run([sys.executable, __file__, "--worker", *args], stdout=subprocess.PIPE, check=True,
                         env=env)
    return json.loads(out.stdout.decode().strip().splitlines()[-1])


def _proc_cpu_s(pid: int) -> float:
    """CPU time (user + system) of process ``pid`` so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _with_replay_cpu(pid: int, run) -> dict:
    """``run()``'s result with the replay web's CPU per page while it ran."""
    before = _proc_cpu_s(pid)
    result = run()
    result["replay_cpu_ms_per_page"] = 1000 * (_proc_cpu_s(pid) - before) / max(1, result["pages"])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--articles", type=int, default=3000, help="articles per site (2 sites)")
    ap.add_argument("--concurrency", type=int, default=16, help="concurrent requests per host")
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--prefect", choices=("both", "server", "temporary"), default="both",
                    help="run the flow against a running Prefect server, a temporary one, or both")
    ap.add_argument("--skip", action="append", default=[], choices=SCRAPY_MODES,
                    help="leave out a Scrapy pipeline (repeatable)")
    ap.add_argument("--dump", help="write the flow's stored results (stories, duplicates, ...) as JSON here")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--keep", action="store_true", help="keep the flow's archive and the URL list (temp dir)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run every pipeline this many times, alternating the order, and report the medians")
    ap.add_argument("--worker", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        kind, *rest = args.worker
        res = (run_flow(rest[0], rest[1], int(rest[2]), int(rest[3]), rest[4], rest[5] or None)
               if kind == "flow" else run_scrapy(kind, rest[0], rest[1], int(rest[2])))
        print(json.dumps(res))
        return

    from bench_crawl import ReplayProcess
    from flows.local_server import ensure_local_server
    work = Path(tempfile.mkdtemp(prefix="bench-vs-scrapy-"))
    urls_file = str(work / "urls.txt")
    srv = ReplayProcess(args.articles)
    server = None
    variants = ["server", "temporary"] if args.prefect == "both" else [args.prefect]
    pipelines = [f"flow ({v})" for v in variants] + [m for m in SCRAPY_MODES if m not in args.skip]
    rounds: list[list[dict]] = []
    try:
        envs = {}
        for variant in variants:
            env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
            if variant == "server":
                # A running server, its own home: started (and timed) before the flow, as on a worker.
                saved = os.environ.pop("PREFECT_API_URL", None)
                server = ensure_local_server(work / "prefect-home")
                env["PREFECT_API_URL"] = server.api_url
                os.environ.pop("PREFECT_API_URL", None)
                if saved is not None:
                    os.environ["PREFECT_API_URL"] = saved
            else:
                env["PREFECT_HOME"] = str(work / "prefect-home-temporary")
            envs[variant] = env
        for n in range(args.rounds):
            # Odd rounds run the pipelines in reverse order: the machine's speed drifts over
            # minutes, and a pipeline always run first would always meet the same phase of it.
            order = pipelines if n % 2 == 0 else pipelines[::-1]
            results = []
            for name in order:
                if name.startswith("flow"):
                    variant = name[len("flow ("):-1]
                    first = not rounds and not any(r["pipeline"].startswith("flow") for r in results)
                    archive = work / f"archive-{variant}-{n}"
                    flow_args = ["flow", srv.url, str(archive), str(args.concurrency), str(args.batch_size),
                                 urls_file if first else str(work / f"urls-{variant}-{n}.txt"),
                                 (args.dump or "") if first else ""]
                    res = _with_replay_cpu(srv.proc.pid, lambda: _worker(flow_args, envs[variant]))
                    res["pipeline"] = name
                    if not args.keep:
                        shutil.rmtree(archive, ignore_errors=True)
                else:
                    res = _with_replay_cpu(srv.proc.pid, lambda: _worker([name, srv.url, urls_file,
                                                                          str(args.concurrency)]))
                results.append(res)
            rounds.append(sorted(results, key=lambda r: pipelines.index(_mode(r["pipeline"]))))
    finally:
        if server is not None:
            server.stop()
        srv.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if len(rounds) == 1:
        report(rounds[0], args.json)
    else:
        report_rounds(rounds, args.json)


def _mode(pipeline: str) -> str:
    """The pipelines list's name of a result's pipeline ("scrapy+extractors (sitemaps)" -> "sitemaps")."""
    return {"scrapy+extractors": "scrapy", "scrapy+extractors (sitemaps)": "sitemaps", "scrapy+fetch": "fetch",
            "scrapy+trafilatura": "trafilatura"}.get(pipeline, pipeline)


def _ratios(results: list[dict]) -> dict[str, float]:
    by = {r["pipeline"]: r for r in results}
    ratios = {}
    for flow in (r for r in results if r["pipeline"].startswith("flow")):
        name = flow["pipeline"]
        for other in ("scrapy+extractors", "scrapy+extractors (sitemaps)", "scrapy+trafilatura"):
            if other in by:
                ratios[f"{name} / {other}"] = round(flow["pages_per_s"] / by[other]["pages_per_s"], 2)
                ratios[f"{name} after first request / {other}"] = round(
                    flow["pages_per_s_after_first_request"] / by[other]["pages_per_s"], 2)
                ratios[f"{name} crawl phase / {other}"] = round(
                    flow["crawl_phase_pages_per_s"] / by[other]["pages_per_s"], 2)
    return ratios


def report_rounds(rounds: list[list[dict]], as_json: bool) -> None:
    """Several rounds: each round's pages/s and ratios, then the median of each over the rounds."""
    import statistics
    ratios = [_ratios(r) for r in rounds]
    if as_json:
        print(json.dumps({"rounds": rounds, "ratios": ratios, "loadavg": os.getloadavg()}, indent=2))
        return
    names = [r["pipeline"] for r in rounds[0]]
    print(f"{'pipeline: pages/s per round':44} " + " ".join(f"{i + 1:>6}" for i in range(len(rounds))) + "  median")
    for i, name in enumerate(names):
        values = [rnd[i]["pages_per_s"] for rnd in rounds]
        print(f"{name:44} " + " ".join(f"{v:>6.1f}" for v in values) + f"  {statistics.median(values):>6.1f}")
    for key, label in (("cpu_ms_per_page", "CPU ms/page"), ("crawl_phase_cpu_ms_per_page", "crawl phase CPU ms/page"),
                       ("parse_workers_cpu_ms_per_page", "+ parse workers CPU ms/page"),
                       ("main_thread_cpu_ms_per_page", "crawl phase event loop CPU ms/page"),
                       ("before_first_request_s", "s before the first request"), ("discovery_s", "s of discovery")):
        for i, name in enumerate(names):
            if key in rounds[0][i]:
                values = [rnd[i][key] for rnd in rounds]
                print(f"{name + ' ' + label:44} " + " ".join(f"{v:>6.2f}" for v in values)
                      + f"  {statistics.median(values):>6.2f}")
    print(f"{'ratio per round':66} " + " ".join(f"{i + 1:>5}" for i in range(len(rounds))) + "  median")
    for key in ratios[0]:
        values = [r[key] for r in ratios]
        print(f"{key:66} " + " ".join(f"{v:>5.2f}" for v in values) + f"  {statistics.median(values):>5.2f}")
    print(f"load average at the end: {os.getloadavg()}")


def report(results: list[dict], as_json: bool) -> None:
    flows = [r for r in results if r["pipeline"].startswith("flow")]
    ratios = _ratios(results)
    if as_json:
        print(json.dumps({"results": results, "ratios": ratios, "loadavg": os.getloadavg()}, indent=2))
        return
    print(f"{'pipeline':30} {'pages':>6} {'wall s':>7} {'pages/s':>8} {'CPU ms/page':>12} {'replay ms/page':>15}")
    for r in results:
        print(f"{r['pipeline']:30} {r['pages']:>6} {r['wall_s']:>7.1f} {r['pages_per_s']:>8.1f} "
              f"{r['cpu_ms_per_page']:>12.2f} {r['replay_cpu_ms_per_page']:>15.2f}")
    for flow in flows:
        print(f"{flow['pipeline']}: {flow['pages_per_s_after_first_request']:.1f} pages/s after its first request "
              f"({flow['before_first_request_s']:.1f} s before it), crawl phase "
              f"{flow['crawl_phase_pages_per_s']:.1f} pages/s at {flow['crawl_phase_cpu_ms_per_page']:.2f} CPU "
              f"ms/page (+ {flow['parse_workers_cpu_ms_per_page']:.2f} in the parse workers); discovery "
              f"{flow['discovery_s']:.1f} s, between batches {flow['between_batches_s']:.1f} s; "
              f"stored {flow['stored']}, errors {flow['errors']}; phases {flow['timings']}")
        print(f"{flow['pipeline']}: crawl phase CPU ms/page by thread: " + ", ".join(
            f"{name} {ms:.2f}" for name, ms in flow["crawl_phase_thread_cpu_ms_per_page"].items()))
    for k, v in ratios.items():
        print(f"{k:66} {v}")
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
