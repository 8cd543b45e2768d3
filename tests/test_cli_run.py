"""The README's main job through the real console script: `newsarchive run --replay`, then `sql`;
and `newsarchive replay` serving on its own."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import httpx
import pytest

EXE = shutil.which("newsarchive") or os.path.join(os.path.dirname(sys.executable), "newsarchive")


@pytest.mark.prefect
def test_run_replay_prints_summary_and_query_then_sql_answers(prefect_harness, tmp_path):
    from prefect.settings import get_current_settings

    env = {**os.environ, "PREFECT_API_URL": str(get_current_settings().api.url),
           "NEWSARCHIVE_ARCHIVE": str(tmp_path / "archive")}
    r = subprocess.run([EXE, "run", "--replay", "--replay-articles", "12"], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout
    assert "counter" in out and "almayadeen" in out and "reuters" in out
    assert "SELECT site, count(*) AS articles" in out and "(2 rows)" in out
    s = subprocess.run([EXE, "sql", "--format", "csv", "SELECT site, count(*) AS n FROM articles GROUP BY site ORDER BY site"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert s.returncode == 0, s.stderr
    lines = s.stdout.splitlines()
    assert lines[0] == "site,n" and lines[1].startswith("almayadeen,") and lines[2].startswith("reuters,")
    assert int(lines[1].split(",")[1]) >= 12


def test_replay_command_serves_both_sites():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([EXE, "replay", "--port", str(port), "--articles", "10"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/sitemaps/all.xml", headers={"Host": "english.almayadeen.net"})
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
                time.sleep(0.1)
        assert r.status_code == 200 and "sitemap-" in r.text
        r = httpx.get(f"http://127.0.0.1:{port}/robots.txt", headers={"Host": "www.reuters.com"})
        assert r.status_code == 200 and "Sitemap:" in r.text
    finally:
        proc.terminate()
        proc.wait(timeout=10)
