"""`newsarchive run` sends its first request within 3 s of starting, and is still a whole Prefect
flow run: the crawl begins before the flow run exists (flows/head_start.py) while the local
Prefect server starts (flows/local_server.py), and the flow run then records it all.

The deadline: the replay web records the wall-clock time of its first site request
(`/__replay__/stats` -> first_request_at), the test the time just before it starts the command.
The deadline is asserted by the cold test (a fresh PREFECT_HOME, the server started by `run`
itself), marked slow: it costs 10-20 s of CPU, and it is a wall-clock deadline, meant for a
machine that runs this suite alone (as .ci/run does): 1.0-1.4 s measured at load ~2.5-3.5 (docs/BENCHMARKS.md,
"First request"); with other jobs loading the 2 cores it can exceed 3 s. The test against the
session's Prefect server asserts the order instead, whatever the load: the first request comes
before the flow run is created.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from storage.lake import Archive
from storage.sql import query

EXE = shutil.which("newsarchive") or os.path.join(os.path.dirname(sys.executable), "newsarchive")
FIRST_REQUEST_DEADLINE_S = 3.0


@pytest.fixture
def replay_alone():
    """A replay web of its own: its first-request time is this test's."""
    from replay import start_replay

    srv = start_replay(seed=5, per_site=20)
    yield srv
    srv.stop()


def run_cli(replay_url: str, archive: Path, env: dict, max_articles: int = 6) -> tuple[subprocess.CompletedProcess, float]:
    """`newsarchive run` against ``replay_url``; returns it and the seconds to its first request
    (``.first_request_at`` on the returned process: the epoch time of that request)."""
    httpx.post(f"{replay_url}/__replay__/reset").raise_for_status()
    started = time.time()
    done = subprocess.run([EXE, "--archive", str(archive), "run", "--replay-url", replay_url, "--max-articles",
                           str(max_articles), "--query", "", "--no-progress"],
                          env=env, capture_output=True, text=True, timeout=300)
    first = httpx.get(f"{replay_url}/__replay__/stats").json()["first_request_at"]
    done.first_request_at = first
    return done, (first - started) if first else float("inf")


async def _flow_run_record(flow_run_id: str) -> tuple[object, list, list, list]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (ArtifactFilter, ArtifactFilterFlowRunId, FlowRunFilter,
                                                FlowRunFilterId, LogFilter, LogFilterFlowRunId)
    async with get_client() as client:
        flow_run = await client.read_flow_run(flow_run_id)
        logs = await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
        tasks = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
        arts = await client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    return flow_run, logs, tasks, arts


def _run_row(archive: Path) -> tuple[str, str]:
    _, rows = query(Archive(archive), "SELECT flow_run_id, status FROM runs")
    assert len(rows) == 1, rows
    return rows[0]


@pytest.mark.prefect
def test_run_crawls_before_its_flow_run_exists_and_the_flow_run_records_it_all(prefect_harness, replay_alone, tmp_path):
    from prefect.settings import get_current_settings

    env = {**os.environ, "PREFECT_API_URL": str(get_current_settings().api.url)}
    done, _ = run_cli(replay_alone.url, tmp_path / "archive", env)
    assert done.returncode == 0, done.stderr[-3000:]

    flow_run_id, status = _run_row(tmp_path / "archive")
    assert status == "completed"
    flow_run, logs, tasks, arts = asyncio.run(_flow_run_record(flow_run_id))
    assert flow_run.state.is_completed(), flow_run.state
    # The crawl began before the flow run existed (whatever the machine's load: an order, not a
    # deadline; the 3 s deadline is the cold test's below).
    assert done.first_request_at < flow_run.created.timestamp(), (done.first_request_at, flow_run.created)
    # Discovery ran before the flow run existed; its log lines still reach the run log, and the
    # discover tasks hold what it found.
    deadline = time.monotonic() + 60   # logs reach the API in batches: wait for them
    while not any("almayadeen: discovered" in log.message for log in logs) and time.monotonic() < deadline:
        time.sleep(0.5)
        logs = asyncio.run(_flow_run_record(flow_run_id))[1]
    assert any(log.name == "crawl.discovery" and "almayadeen: discovered" in log.message for log in logs), \
        sorted({(log.name, log.message[:60]) for log in logs})
    names = {t.name for t in tasks}
    assert {"discover-almayadeen", "discover-reuters", "crawl-almayadeen-0", "crawl-reuters-0"} <= names, names
    assert {a.key for a in arts} >= {"scrape-run-stats", "scrape-run-report"}


@pytest.mark.slow
def test_cold_run_starts_its_own_server_and_still_crawls_within_3_s(replay_alone, tmp_path):
    """No PREFECT_API_URL, a PREFECT_HOME never used: `run` starts its own server (database
    created and migrated) and stops it after; the flow run is in that server's database."""
    home = tmp_path / "prefect-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env["PREFECT_HOME"] = str(home)
    done, first_s = run_cli(replay_alone.url, tmp_path / "archive", env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert first_s <= FIRST_REQUEST_DEADLINE_S, f"first request {first_s:.2f} s after the command started"
    assert "Traceback" not in done.stderr and "Error logging to API" not in done.stderr, done.stderr[-3000:]

    flow_run_id, status = _run_row(tmp_path / "archive")
    assert status == "completed"
    db = sqlite3.connect(home / "prefect.db")
    try:
        (state,) = db.execute("SELECT state_type FROM flow_run WHERE id = ?", (flow_run_id,)).fetchone()
        tasks = {n for (n,) in db.execute("SELECT name FROM task_run WHERE flow_run_id = ?", (flow_run_id,))}
        lines = [m for (m,) in db.execute("SELECT message FROM log WHERE flow_run_id = ?", (flow_run_id,))]
    finally:
        db.close()
    assert state == "COMPLETED"
    assert {"discover-almayadeen", "discover-reuters"} <= tasks, tasks
    assert any("almayadeen: discovered" in m for m in lines), lines[:20]


@pytest.mark.slow
def test_a_server_that_cannot_start_is_one_line_and_leaves_nothing_running(replay_alone, tmp_path):
    home = tmp_path / "prefect-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    # The server's database in a directory that does not exist: its migration fails at start.
    env.update(PREFECT_HOME=str(home), PREFECT_API_DATABASE_CONNECTION_URL=
               f"sqlite+aiosqlite:///{tmp_path}/missing/dir/prefect.db")
    done, _ = run_cli(replay_alone.url, tmp_path / "archive", env)
    assert done.returncode == 2, (done.returncode, done.stderr[-3000:])
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: the local Prefect server exited with code"), lines
    assert str(home / "newsarchive-run-server.log") in lines[0] and "PREFECT_API_URL" in lines[0]
    # Nothing was committed: the run never began as a flow run.
    assert query(Archive(tmp_path / "archive"), "SELECT count(*) FROM runs")[1] == [(0,)]


def test_run_reuses_the_persistent_server_a_serve_left_running(tmp_path, monkeypatch):
    """A `serve`'s server recorded under PREFECT_HOME and answering is reused: nothing started."""
    from flows.local_server import STATE_FILE, begin_run_server
    from replay import LoopbackServer
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def health(request):
        return JSONResponse(True)

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with LoopbackServer(Starlette(routes=[Route("/api/health", health)])) as fake:
        (tmp_path / STATE_FILE).write_text(json.dumps({"api_url": f"{fake.url}/api", "pid": os.getpid()}))
        server = begin_run_server(tmp_path)
        assert server.process is None and server.api_url == f"{fake.url}/api"
        assert os.environ["PREFECT_API_URL"] == server.api_url
        assert server.wait(timeout=5) == server.api_url


@pytest.mark.slow
def test_ctrl_c_while_the_server_starts_stops_the_run_and_its_server(replay_alone, tmp_path):
    import psutil
    import signal

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    httpx.post(f"{replay_alone.url}/__replay__/reset").raise_for_status()
    proc = subprocess.Popen([EXE, "--archive", str(tmp_path / "archive"), "run", "--replay-url", replay_alone.url,
                             "--query", "", "--no-progress"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60   # the head start is crawling: the server is still starting
        while httpx.get(f"{replay_alone.url}/__replay__/stats").json()["first_request_at"] is None:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children, "no Prefect server was started"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0 and "Traceback" not in err, err[-3000:]
    gone, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, [p.cmdline() for p in alive]
