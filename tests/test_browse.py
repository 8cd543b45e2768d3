"""`newsarchive browse` and `newsarchive report` over a real archive crawled from the replay web.

Plain tests drive the Starlette app in-process (TestClient): every page type, 404 pages,
escaping, read-only-ness, --at. Browser tests start the real `newsarchive browse` command on a
free loopback port and open each page type in headless Chromium (Debian's `chromium`), checking
the rendered DOM and saving a screenshot per page (set NEWSARCHIVE_SCREENSHOTS=docs/screenshots
to refresh the ones in the docs).
"""
from __future__ import annotations

import asyncio
import hashlib
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from archive_builders import article, fetch_row, run_row
from crawl.warc import WarcWriter
from storage.commit import commit_staging
from storage.staging import Staging
from pipeline_helpers import crawl_once
from replay import Knobs, start_replay
from storage.lake import Archive
from storage.search import refresh_index

HOSTILE_TITLE = "<script>alert(1)</script> Ministers meet in zanzibarquux"
HOSTILE_URL = "https://www.reuters.com/world/hostile-title-2022-03-10/"
RAW_MARKER = "Archived copy of the hostile page"
FLOW_RUN_ID = "0b5c2f4e-1d2a-4c3b-9e8f-7a6b5c4d3e2f"
# Starlette's TestClient asks for httpx2 on import; httpx is what this project pins.
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
NEWSARCHIVE = [sys.executable, "-c", "from flows.cli import main; main()"]


def rows(arch: Archive, sql: str, params=None) -> list[tuple]:
    con = arch.connect(read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _hostile_run(arch: Archive) -> None:
    """One extra run: an article whose title is markup, with a real WARC record holding a script."""
    raw = (f"<html><head><title>{HOSTILE_TITLE}</title></head><body><h1>{RAW_MARKER}</h1>"
           f"<script>document.body.innerHTML = 'scripts ran'</script></body></html>").encode()
    with WarcWriter(arch.warc_dir, prefix="test-hostile") as w:
        ref = w.write(HOSTILE_URL, status=200, headers=[("Content-Type", "text/html; charset=utf-8")], body=raw)
    row = article(HOSTILE_URL, site="reuters", title=HOSTILE_TITLE,
                  body="Ministers met in zanzibarquux on Thursday. <b>Talks</b> went on for hours.",
                  published=datetime(2022, 3, 10, 6, 0, tzinfo=timezone.utc), seen=datetime.now(timezone.utc))
    row.update(warc_file=ref.filename, warc_offset=ref.offset, warc_length=ref.length, run_id="r-hostile")
    # Committed as the flow does, as a drift run: its site extractor found a body on 4 pages of 10.
    run = dict(run_row("r-hostile", ["reuters"], FLOW_RUN_ID), status="drift")
    staging = Staging(arch.staging_dir, "r-hostile")
    staging.write_meta(run)
    staging.append("article_versions", "part-0", [row])
    staging.append("fetch_log", "part-0", [fetch_row(HOSTILE_URL, "r-hostile")])
    stats = {"reuters": Counter(fetched=1, health_pages=10, health_missing_body=6, health_missing_title=0,
                                health_missing_date=1)}
    con = arch.connect()
    try:
        commit_staging(con, staging, run, stats)
    finally:
        con.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Two crawls of the replay web (near-duplicates, stories, ticker; revisions in the second),
    then a run with a hostile title; the search index refreshed."""
    arch = Archive(tmp_path_factory.mktemp("browse") / "archive")
    # Some article URLs answer 500 twice: failed in the first run (one retry), fetched in the second.
    knobs = Knobs(syndicate_share=0.3, duplicate_share=0.2, fault_rate_500=0.15, fault_attempts=2,
                  fault_paths=["/world/", "/news/"])
    with start_replay(seed=9, per_site=30, knobs=knobs) as srv:
        asyncio.run(crawl_once(arch, srv, "r1", dedup=True))
        httpx.post(srv.url + "/__replay__/knobs", json={"revisions": 0.3, "revision_after_requests": 0})
        asyncio.run(crawl_once(arch, srv, "r2", dedup=True))
    _hostile_run(arch)
    refresh_index(arch)
    revised = rows(arch, "SELECT url FROM article_versions WHERE version = 2 AND duplicate_of IS NULL "
                         "AND list_contains(changed, 'title') ORDER BY url LIMIT 1")
    story = rows(arch, "SELECT story_id, site_list FROM stories WHERE sites > 1 ORDER BY story_id LIMIT 1")
    original = rows(arch, "SELECT duplicate_of FROM duplicates ORDER BY url LIMIT 1")
    assert revised and story and original, "the replay knobs produced no revision, story or duplicate"
    first_run_snapshot = rows(arch, "SELECT snapshot_id FROM lake.snapshots() "
                                    "WHERE commit_message LIKE '%r1%' ORDER BY 1")
    return {"arch": arch, "revised": revised[0][0], "story": story[0][0], "original": original[0][0],
            "r1_snapshot": first_run_snapshot[0][0]}


@pytest.fixture(scope="module")
def client(built):
    from starlette.testclient import TestClient

    from web import create_app
    return TestClient(create_app(built["arch"]), raise_server_exceptions=False)


def article_link(url: str) -> str:
    return "/article?url=" + quote(url, safe="")


# --- in-process: TestClient -------------------------------------------------------------------

def test_overview_shows_totals_and_three_charts(client, built):
    r = client.get("/")
    assert r.status_code == 200
    n_articles = rows(built["arch"], "SELECT count(*) FROM articles")[0][0]
    assert re.search(rf'<span class="n">{n_articles}</span><span class="what">articles</span>', r.text)
    assert r.text.count("<svg") == 3
    for title in ("Articles per", "Fetch outcomes per run", "Extraction health per run"):
        assert title in r.text
    # One bar segment per (run, outcome): the tooltips carry the counts of fetch_log.
    fetched_r1 = rows(built["arch"], "SELECT count(*) FROM fetch_log WHERE run_id = 'r1' AND outcome = 'fetched'")[0][0]
    assert re.search(rf"<title>[^<]*: fetched {fetched_r1}</title>", r.text)


def test_search_filters_by_site_and_date_and_links_articles(client, built):
    r = client.get("/search", params={"q": "zanzibarquux"})
    assert r.status_code == 200 and "1 result for" in r.text
    assert f'href="{article_link(HOSTILE_URL)}"' in r.text
    assert "0 results" in client.get("/search", params={"q": "zanzibarquux", "site": "almayadeen"}).text
    assert "0 results" in client.get("/search", params={"q": "zanzibarquux", "from": "2022-03-11"}).text
    assert "1 result for" in client.get("/search", params={"q": "zanzibarquux", "from": "2022-03-10",
                                                            "to": "2022-03-10", "site": "reuters"}).text


def test_article_page_shows_versions_word_diff_and_raw_page(client, built):
    url = built["revised"]
    r = client.get(article_link(url))
    assert r.status_code == 200
    versions = rows(built["arch"], "SELECT version, title, changed FROM article_versions WHERE url = ? "
                                   "ORDER BY version", [url])
    assert "Versions (2)" in r.text and len(versions) == 2
    assert '<span class="tag">title</span>' in r.text and "<ins>" in r.text
    # The title diff: the new title's extra words are inserted, the shared ones unchanged.
    old, new = versions[0][1], versions[1][1]
    assert new.startswith(old.split()[0])
    inserted = re.findall(r"<ins>(.*?)</ins>", r.text, re.S)
    assert inserted and all(w in new + " " + r.text for w in inserted)
    assert '<iframe class="raw" title="archived page" sandbox srcdoc="&lt;!DOCTYPE html&gt;' in r.text
    assert "HTTP 200 · text/html" in r.text


def test_article_page_lists_near_duplicates_and_story(client, built):
    original = built["original"]
    r = client.get(article_link(original))
    copies = rows(built["arch"], "SELECT url FROM duplicates WHERE duplicate_of = ?", [original])
    assert r.status_code == 200 and copies
    section = r.text.split('id="duplicates"')[1].split("</section>")[0]
    for (copy,) in copies:
        assert quote(copy, safe="") in section
    story_id = rows(built["arch"], "SELECT story_id FROM articles WHERE url = ?", [original])[0][0]
    assert f'href="/story/{story_id}"' in r.text


def test_story_shows_each_site_side_by_side(client, built):
    r = client.get(f"/story/{built['story']}")
    assert r.status_code == 200
    heads = re.findall(r'<h2 class="site-head">(\w+)</h2>', r.text)
    assert heads == ["almayadeen", "reuters"]
    titles = rows(built["arch"], "SELECT title FROM articles WHERE story_id = ?", [built["story"]])
    for (title,) in titles:
        assert title.replace("'", "&#39;").replace('"', "&#34;") in r.text
    assert f"/story/{built['story']}" in client.get("/stories").text


def test_ticker_timeline_and_runs(client, built):
    r = client.get("/ticker")
    items = rows(built["arch"], "SELECT text, times_seen FROM breaking ORDER BY first_seen DESC LIMIT 3")
    assert r.status_code == 200 and items and 'class="chart timeline"' in r.text
    for text, times in items:
        assert text.replace("'", "&#39;") in r.text
    r = client.get("/runs")
    assert all(f'href="/run/{run}"' in r.text for run in ("r1", "r2", "r-hostile"))
    r = client.get("/run/r2")
    counters = dict(rows(built["arch"], "SELECT counter, value FROM run_stats WHERE run_id = 'r2' "
                                        "AND site = 'reuters'"))
    assert r.status_code == 200 and "health_missing_body" in r.text
    assert f'<td class="num">{counters["not_modified"]}</td>' in r.text
    assert "Phase timings" in r.text and "Extraction health" in r.text


def test_failed_fetches_show_in_the_charts_and_the_run_page(client, built):
    failed = rows(built["arch"], "SELECT url, error_kind FROM fetch_log WHERE run_id = 'r1' AND outcome = 'failed'")
    assert failed and {k for _, k in failed} == {"http_5xx"}
    assert re.search(rf"<title>[^<]*: failed {len(failed)}</title>", client.get("/").text)
    r = client.get("/run/r1")
    assert f"Failures (first {len(failed)})" in r.text
    for url, _ in failed:
        assert f'<span class="url">{url}</span>: http_5xx 500' in r.text
    assert "Failures" not in client.get("/run/r2").text


def test_a_drift_run_shows_its_alarm(client):
    r = client.get("/run/r-hostile")
    assert '<span class="status drift">drift</span>' in r.text
    assert '<span class="status drift">alarm</span>' in r.text
    assert '<td class="num bad">40%</td>' in r.text and '<td class="num">90%</td>' in r.text
    assert "under 80% (with at least 5 pages)" in r.text
    r = client.get("/")
    assert re.search(r"<title>[^<]*: reuters 40%</title>", r.text)     # the health chart's worst field


def test_prefect_link_when_the_ui_is_known(client, monkeypatch):
    monkeypatch.delenv("PREFECT_UI_URL", raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert "/runs/flow-run/" not in client.get("/run/r-hostile").text
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    assert f'href="http://127.0.0.1:4200/runs/flow-run/{FLOW_RUN_ID}"' in client.get("/run/r-hostile").text
    monkeypatch.setenv("PREFECT_UI_URL", "http://prefect.local:4200")
    assert f'href="http://prefect.local:4200/runs/flow-run/{FLOW_RUN_ID}"' in client.get("/runs").text


@pytest.mark.parametrize("path", ["/nope", "/article?url=https%3A%2F%2Fnowhere.example%2F", "/article",
                                  "/story/story-0000", "/run/no-such-run", "/static/nope.css",
                                  "/article?url=" + quote(HOSTILE_URL, safe="") + "&v=7"])
def test_bad_urls_and_ids_answer_a_404_page(client, path):
    r = client.get(path)
    assert r.status_code == 404
    if not path.startswith("/static/"):
        assert "404 · Not found" in r.text and "Traceback" not in r.text
        assert r.headers["content-type"].startswith("text/html")


def test_bad_parameters_answer_a_400_page(client):
    r = client.get("/search", params={"q": "x", "from": "last tuesday"})
    assert r.status_code == 400 and "from=&#39;last tuesday&#39;: not a date; use YYYY-MM-DD" in r.text
    assert client.get("/stories", params={"page": "two"}).status_code == 400


def test_a_failing_page_is_a_one_line_500_page(client, monkeypatch):
    import web.records

    def broken(*args, **kwargs):
        raise RuntimeError("catalog went away\nsecond line")
    monkeypatch.setattr(web.records, "stories", broken)
    r = client.get("/stories")
    assert r.status_code == 500
    assert '<p class="message">RuntimeError: catalog went away</p>' in r.text
    assert "second line" not in r.text and "Traceback" not in r.text


def test_hostile_markup_is_escaped_everywhere(client):
    for path in (article_link(HOSTILE_URL), "/search?q=zanzibarquux"):
        r = client.get(path)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text, path
        assert "<script>alert(1)" not in r.text and "<b>Talks</b>" not in r.text, path
    r = client.get(article_link(HOSTILE_URL))
    # The raw page sits in a sandboxed srcdoc frame (no allow-scripts), escaped as an attribute.
    frame = re.search(r"<iframe [^>]*>", r.text).group(0)
    assert " sandbox srcdoc=" in frame and "allow-scripts" not in frame
    assert "&lt;script&gt;document.body.innerHTML" in frame and RAW_MARKER in frame
    assert "<script" not in r.text
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp   # no script source allowed at all


def test_browsing_never_writes_the_archive(client, built):
    arch = built["arch"]

    def state() -> dict[str, tuple[str, int]]:
        out = {}
        for p in sorted(arch.root.rglob("*")):
            # SQLite's shared-memory index of the WAL is rewritten by any reader; the catalog is not.
            if p.is_file() and not p.name.endswith("-shm"):
                out[str(p.relative_to(arch.root))] = (hashlib.sha256(p.read_bytes()).hexdigest(),
                                                      p.stat().st_mtime_ns)
        return out

    before = state()
    assert "catalog.sqlite" in before and "search.duckdb" in before
    for path in ("/", "/search?q=lavrov", article_link(built["revised"]), "/stories", f"/story/{built['story']}",
                 "/ticker", "/runs", "/run/r1", "/nope"):
        assert client.get(path).status_code in (200, 404)
    assert state() == before
    # And the connections it uses refuse writes.
    with client.app.state.reader.connect() as con:
        with pytest.raises(Exception, match="read-only|read only"):
            con.execute("CREATE TABLE lake.written (a INTEGER)")


def test_at_snapshot_browses_the_archive_as_it_was(built):
    from starlette.testclient import TestClient

    from web import create_app
    c = TestClient(create_app(built["arch"], at=built["r1_snapshot"]), raise_server_exceptions=False)
    r = c.get("/runs")
    assert f"as of snapshot {built['r1_snapshot']}" in r.text
    assert 'href="/run/r1"' in r.text and 'href="/run/r2"' not in r.text
    assert c.get("/run/r2").status_code == 404
    assert "Versions (1)" in c.get(article_link(built["revised"])).text
    assert c.get(article_link(HOSTILE_URL)).status_code == 404
    assert "0 results" in c.get("/search", params={"q": "zanzibarquux"}).text


def test_run_outcomes_for_run_reports(built):
    from web import run_outcomes
    out = run_outcomes(built["arch"], "r2")
    expected = rows(built["arch"], "SELECT site, outcome, count(*) FROM fetch_log WHERE run_id = 'r2' GROUP BY ALL")
    assert out["counts"] == {s: {o: n for s2, o, n in expected if s2 == s} for s, _, _ in expected}
    assert out["svg"].startswith("<svg") and "not_modified" in out["svg"]
    n = out["counts"]["reuters"]["not_modified"]
    assert re.search(rf"\| not_modified \| \d+ \| {n} \|", out["markdown"])


def test_run_report_markdown(built):
    from web import run_report_markdown
    md = run_report_markdown(built["arch"], "r1", browse_url="http://127.0.0.1:8766/")
    failed = rows(built["arch"], "SELECT site, count(*) FROM fetch_log WHERE run_id = 'r1' AND outcome = 'failed' "
                                 "GROUP BY site ORDER BY site")
    assert f"| failed | {failed[0][1]} | {failed[1][1]} |" in md
    newest = rows(built["arch"], "SELECT max(published_at)::DATE FROM articles WHERE site IN ('almayadeen', 'reuters')")
    assert f"| {newest[0][0]} |" in md
    assert md.endswith("Browse: http://127.0.0.1:8766/run/r1")


def test_word_diff_keeps_shared_words_and_paragraphs():
    from web.diff import counts, word_diff
    pieces = word_diff("Macron says\n\nOld tail.", "Macron says - update\n\nOld tail. New one.")
    assert [(p.op, p.text) for p in pieces] == [("same", "Macron says "), ("ins", "- update\n\n"),
                                                ("same", "Old tail. "), ("ins", "New one.")]
    assert [(p.op, p.text) for p in word_diff("a b c", "a x c")] == [("same", "a "), ("del", "b "),
                                                                   ("ins", "x "), ("same", "c")]
    assert counts(pieces) == (0, 4)


# --- the commands -----------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["browse", "report"])
def test_help_has_an_example(command):
    from click.testing import CliRunner

    from flows.cli import cli
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output and f"newsarchive {command}" in result.output


def test_report_writes_a_standalone_html_file(built, tmp_path):
    out = tmp_path / "report.html"
    r = subprocess.run([*NEWSARCHIVE, "--archive", str(built["arch"].root), "report", "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    html = out.read_text()
    assert "<style>" in html and 'rel="stylesheet"' not in html and html.count("<svg") == 3
    assert not re.search(r'(src|href)="(https?:)?//', html)      # nothing loads from anywhere
    r = subprocess.run([*NEWSARCHIVE, "--archive", str(built["arch"].root), "report", "--since", "soon"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and r.stderr.strip().splitlines()[-1].startswith("Error: --since 'soon': not a date")


def test_browse_on_a_busy_port_is_one_line(built):
    import socket
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = subprocess.run([*NEWSARCHIVE, "--archive", str(built["arch"].root), "browse", "--port", str(port)],
                           capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert r.stderr.strip().splitlines()[-1] == (f"Error: --port {port}: already in use on 127.0.0.1; pick "
                                                 f"another, e.g. --port {port + 1}, or --port 0 for any free one")


# --- in a real browser ------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH: apt-get install -y chromium")


@pytest.fixture(scope="module")
def server(built):
    """`newsarchive browse --port 0` in a subprocess; yields its base URL; ends it with Ctrl-C (SIGINT)."""
    proc = subprocess.Popen([*NEWSARCHIVE, "--archive", str(built["arch"].root), "browse", "--port", "0"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True)
    reader.start()
    try:
        first = lines.get(timeout=60)
    except queue.Empty:
        proc.kill()
        raise AssertionError("browse printed no URL within 60 s")
    m = re.search(r"at (http://127\.0\.0\.1:\d+/) ", first)
    assert m, first
    yield {"url": m.group(1), "proc": proc, "lines": lines, "reader": reader}
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    target = os.environ.get("NEWSARCHIVE_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def chromium(url: str, screenshot: Path, profile: Path, height: int = 900) -> str:
    """The rendered DOM of ``url`` (after load) and a 1280-wide screenshot of it."""
    r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                        "--no-first-run", "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}", "--dump-dom",
                        f"--screenshot={screenshot}", f"--window-size=1280,{height}", url],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    png = screenshot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") == 1280
    return r.stdout


def visible_text(dom: str) -> str:
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
    dom = re.sub(r"<[^>]+>", " ", dom)
    return re.sub(r"\s+", " ", dom.replace("&nbsp;", " ")).strip()


@pytest.mark.browser
@needs_chromium
def test_every_page_type_in_headless_chromium(server, built, shots, tmp_path):
    base = server["url"]
    catalog = built["arch"].catalog
    before = (hashlib.sha256(catalog.read_bytes()).hexdigest(), catalog.stat().st_mtime_ns)
    title_old = rows(built["arch"], "SELECT title FROM article_versions WHERE url = ? AND version = 1",
                     [built["revised"]])[0][0]
    story_titles = [t for (t,) in rows(built["arch"], "SELECT title FROM articles WHERE story_id = ?",
                                       [built["story"]])]
    ticker = rows(built["arch"], "SELECT text FROM breaking ORDER BY first_seen DESC LIMIT 1")[0][0]
    pages = [
        ("overview", "", 1500, ["Overview", "Articles per", "Fetch outcomes per run", "Extraction health per run",
                                "Recent runs", "r-hostile"]),
        ("search", "search?q=lavrov+kuleba", 800, ["results for", "lavrov kuleba", "reuters"]),
        # Whole page: headless screenshots of a #fragment come out blank above it.
        ("article", article_link(built["revised"])[1:], 2400,
         ["Versions (2)", "changed: title", "Archived page (version 2)", "HTTP 200", "Near-duplicates", "Story"]),
        ("stories", "stories", 900, ["Stories across sites"]),
        ("story", f"story/{built['story']}", 1000, ["almayadeen", "reuters", *story_titles]),
        ("ticker", "ticker", 1100, ["Breaking ticker", ticker]),
        ("runs", "runs", 700, ["Runs", "r1", "r2", "r-hostile", "completed"]),
        ("run", "run/r1", 1600, ["Fetch outcomes", "Extraction health", "Counters", "http_5xx", "Failures (first"]),
        ("not-found", "story/no-such-story", 500, ["404 · Not found", "no story 'no-such-story' in the archive"]),
    ]
    for name, path, height, expected in pages:
        dom = chromium(base + path, shots / f"{name}.png", tmp_path / "profile", height)
        text = visible_text(dom)
        for want in expected:
            assert want in text, (name, want, text[:600])
        assert "<script" not in dom, name          # no script element anywhere, scripts off
        if name == "article":
            assert title_old.split()[0] in text and re.search(r"<ins>[^<]+</ins>", dom)
            assert re.search(r'<iframe class="raw" title="archived page" sandbox="" srcdoc="', dom)
    # The hostile title renders as text, never as an element.
    dom = chromium(base + article_link(HOSTILE_URL)[1:], shots / "hostile.png", tmp_path / "profile", 1300)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Ministers meet in zanzibarquux" in dom
    assert "<script>alert(1)</script> Ministers meet in zanzibarquux" in visible_text(dom).replace("&lt;", "<") \
        .replace("&gt;", ">")
    after = (hashlib.sha256(catalog.read_bytes()).hexdigest(), catalog.stat().st_mtime_ns)
    assert after == before


@needs_chromium
def test_ctrl_c_stops_browse_with_one_line(server):
    # SIGINT is what Ctrl-C sends; to a browse that is serving (it answers), as after the page
    # test in file order, which a quick run leaves out (the `browser` mark).
    proc = server["proc"]
    assert httpx.get(server["url"], timeout=30).status_code == 200
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    server["reader"].join(timeout=30)          # stderr read to its end
    rest = []
    while not server["lines"].empty():
        rest.append(server["lines"].get_nowait().strip())
    assert [line for line in rest if line] == ["browse stopped"]
