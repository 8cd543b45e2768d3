"""Unattended operation end to end, as an operator runs it (docs/DEPLOY.md).

A Prefect server on Postgres, the deployments of deploy/prefect.yaml registered by
`newsarchive deploy`, two process workers with limits and one shared replay web: a schedule
fires on its own; a backfill is split across both workers; one worker is SIGKILLed with its
flow runs mid-chunk and the backfill, rerun, completes with every article of the window stored
once; the replay saw no host above its configured concurrency. And the README's plain
`newsarchive serve` (no PREFECT_API_URL, nothing else set up) fires its schedule too.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import httpx
import psutil
import pytest

from replay import Corpus, start_replay
from storage.lake import Archive
from storage.runlock import run_liveness
from storage.sql import query
from tests.services import BIN, postgres, prefect_env, prefect_server, start_worker, stop_group, wait_for

pytestmark = pytest.mark.slow

EMBEDDED = Path(__file__).resolve().parents[1] / "crawl" / "sites.toml"
NEWSARCHIVE = str(BIN / "newsarchive")


def config_with(tmp: Path, schedules: dict[str, str]) -> Path:
    """The embedded config with other schedules (the only change: an override under each
    site's table; the other settings come from its Site, sites/<name>.py)."""
    text = EMBEDDED.read_text()
    for site, sched in schedules.items():
        head = text.index(f"\n[sites.{site}]\n") + 1   # the table, not the comment's example
        eol = text.index("\n", head) + 1
        text = text[:eol] + f'schedule = "{sched}"\n' + text[eol:]
    path = tmp / "sites.toml"
    path.write_text(text)
    return path


def flow_runs(api: str, deployment: str, **state) -> list[dict]:
    dep = httpx.get(f"{api}/deployments/name/scrape/{deployment}", timeout=10).json()
    body = {"deployments": {"id": {"any_": [dep["id"]]}}}
    if state:
        body["flow_runs"] = {"state": {"type": {"any_": state["types"]}}}
    return httpx.post(f"{api}/flow_runs/filter", json=body, timeout=10).json()


def articles(arch: Path, site: str) -> list[tuple[str, int]]:
    return query(Archive(arch), f"SELECT url, count(*) FROM article_versions WHERE site = '{site}' GROUP BY url")[1]


def kill_tree(proc: subprocess.Popen) -> int:
    """SIGKILL a worker and every process under it (its flow runs): the machine died."""
    parent = psutil.Process(proc.pid)
    victims = parent.children(recursive=True) + [parent]
    for p in victims:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    proc.wait()
    return len(victims)


def test_two_workers_from_prefect_yaml_on_postgres(tmp_path):
    corpus_seed, per_site = 31, 120
    arch = tmp_path / "archive"
    config = config_with(tmp_path, {"almayadeen": "@every 10s", "reuters": "0 0 1 1 *"})
    elsewhere = tmp_path / "elsewhere"     # the backfill runs where no ./archive is: it must use the deployment's
    elsewhere.mkdir()
    with postgres() as pg, prefect_server(tmp_path / "pf", pg) as api, \
            start_replay(seed=corpus_seed, per_site=per_site) as srv:
        env = prefect_env(api, tmp_path / "home", PREFECT_WORKER_QUERY_SECONDS="1",
                          PREFECT_WORKER_PREFETCH_SECONDS="1", NEWSARCHIVE_REPLAY_URL=srv.url)
        env.pop("NEWSARCHIVE_ARCHIVE", None)
        env.pop("NEWSARCHIVE_CONFIG", None)
        done = subprocess.run([NEWSARCHIVE, "--archive", str(arch), "--config", str(config), "deploy",
                               "--pool-limit", "4"], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "deployment scrape/scrape-almayadeen: @every 10s" in done.stdout
        # serve would silently take over the pool's deployment: it refuses, naming the fix.
        refused = subprocess.run([NEWSARCHIVE, "--archive", str(arch), "serve", "--site", "almayadeen"], env=env,
                                 capture_output=True, text=True, timeout=300)
        assert refused.returncode != 0
        assert "scrape/scrape-almayadeen is registered for work pool 'newsarchive'" in refused.stderr, refused.stderr

        logs = [tmp_path / f"worker{i}.log" for i in (1, 2)]
        workers = [start_worker("newsarchive", f"w{i}", env, log) for i, log in zip((1, 2), logs)]
        try:
            # 1. The schedule fires on its own and its run archives the site.
            def scheduled_done():
                return [r for r in flow_runs(api, "scrape-almayadeen", types=["COMPLETED"])
                        if r["auto_scheduled"]]
            wait_for(scheduled_done, 240, "a scheduled scrape-almayadeen run completed", logs[0])
            assert len(articles(arch, "almayadeen")) > 0
            dep = httpx.get(f"{api}/deployments/name/scrape/scrape-almayadeen", timeout=10).json()
            httpx.post(f"{api}/deployments/{dep['id']}/pause_deployment", timeout=10).raise_for_status()

            # 2. A backfill on the workers; article pages slowed so chunks overlap and a kill lands mid-chunk.
            httpx.post(f"{srv.url}/__replay__/knobs", json={
                "fault_rate_slow": 1.0, "slow_s": 0.25, "fault_attempts": 1_000_000,
                "fault_paths": [r"/(world|business|markets|legal|technology|sustainability)/.+-\d{4}-\d\d-\d\d/$"],
            }, timeout=10).raise_for_status()
            backfill = [NEWSARCHIVE, "backfill", "--site", "reuters", "--from", "2019-01-01", "--to", "2026-11-20",
                        "--chunk-days", "365", "--deployment", "scrape/scrape-reuters", "--no-progress",
                        "--stale-after", "30"]
            first = subprocess.Popen(backfill, cwd=elsewhere, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)

            def chunk_mid_run_on_w1():
                mine = {p.pid for p in psutil.Process(workers[0].pid).children(recursive=True)}
                for r in flow_runs(api, "scrape-reuters", types=["RUNNING"]):
                    pid = (r.get("infrastructure_pid") or "").rsplit(":", 1)[-1]
                    if pid.isdigit() and int(pid) in mine and run_liveness(arch, r["id"]) == "alive":
                        return r
                return None
            victim = wait_for(chunk_mid_run_on_w1, 240, "a backfill chunk running on worker 1", logs[0])
            kill_tree(workers[0])
            out, err = first.communicate(timeout=600)
            assert first.returncode != 0, out + err
            assert "rerun the same backfill" in err and "Crashed" in err, err[-3000:]
            crashed = httpx.get(f"{api}/flow_runs/{victim['id']}", timeout=10).json()
            assert crashed["state"]["type"] == "CRASHED"

            # 3. The rerun runs just the chunks that did not complete, on the surviving worker.
            again = subprocess.run(backfill, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600)
            assert again.returncode == 0, again.stdout + again.stderr[-3000:]
        except BaseException:
            for log in logs:
                print(f"--- {log.name}\n" + log.read_text(errors="replace")[-5000:])
            raise
        finally:
            for w in workers:
                stop_group(w)
        stats = httpx.get(f"{srv.url}/__replay__/stats", timeout=10).json()

    assert not (elsewhere / "archive").exists(), "the backfill used ./archive instead of the deployment's archive"
    want = {a.url for a in Corpus(seed=corpus_seed, per_site=per_site).articles("reuters")}
    got = articles(arch, "reuters")
    # (the replay also serves a few captured real pages besides its generated corpus)
    assert want <= {u for u, _ in got}, "every article of the window, none missing"
    assert all(n == 1 for _, n in got), "each article stored once"
    ran = [set(re.findall(r"backfill-reuters-\d{8}-\d{8}", log.read_text(errors="replace"))) for log in logs]
    assert ran[0] and ran[1], f"both workers ran chunks: {ran}"
    limit = 2   # concurrency_per_host of reuters and almayadeen in the embedded config
    assert stats["max_inflight_by_host"] and max(stats["max_inflight_by_host"].values()) <= limit, stats


def test_serve_without_a_prefect_server_fires_its_schedule(tmp_path):
    """README "Scheduling": `newsarchive serve` with no PREFECT_API_URL and nothing else set up."""
    arch = tmp_path / "archive"
    config = config_with(tmp_path, {"almayadeen": "@every 10s"})
    with start_replay(seed=5, per_site=20) as srv:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSARCHIVE_"))}
        env.update(PREFECT_HOME=str(tmp_path / "home"), PYTHONUNBUFFERED="1")
        log = tmp_path / "serve.log"
        with log.open("wb") as out:
            serve = subprocess.Popen([NEWSARCHIVE, "--archive", str(arch), "--config", str(config), "serve",
                                      "--site", "almayadeen", "--replay-url", srv.url],
                                     env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            def committed():
                if not (arch / "catalog.sqlite").exists():
                    return False
                try:
                    return query(Archive(arch), "SELECT count(*) FROM runs WHERE status = 'completed'")[1][0][0] > 0
                except Exception:
                    return False
            wait_for(committed, 240, "a scheduled run committed to the archive", log)
            assert len(articles(arch, "almayadeen")) == 20
            state = json.loads((tmp_path / "home" / "newsarchive-server.json").read_text())
            assert httpx.get(f"{state['api_url']}/health", timeout=5).status_code == 200
        finally:
            os.killpg(serve.pid, signal.SIGINT)
            try:
                serve.wait(timeout=60)
            finally:
                stop_group(serve)
    text = log.read_text(errors="replace")
    assert "Prefect server: http://127.0.0.1:" in text
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{state['api_url']}/health", timeout=2)   # the server serve started is stopped with it


def test_a_run_whose_worker_died_is_marked_crashed_and_frees_the_pool(tmp_path):
    """A worker host dies (kill -9 of the worker and its flow run) in the middle of a scheduled run,
    on a pool limited to 1 run: Prefect alone would leave that run Running for ever, holding the
    only slot, so no schedule would ever run again. `newsarchive deploy`'s automation marks it
    Crashed once its heartbeats stop (3 x 30 s), and the next scheduled run completes on the other
    worker, committing what the dead run had staged."""
    from flows.cli_deploy import CRASH_AUTOMATION

    arch = tmp_path / "archive"
    config = config_with(tmp_path, {"almayadeen": "@every 10s", "reuters": "0 0 1 1 *"})
    with postgres() as pg, prefect_server(tmp_path / "pf", pg) as api, \
            start_replay(seed=33, per_site=60) as srv:
        env = prefect_env(api, tmp_path / "home", PREFECT_WORKER_QUERY_SECONDS="1",
                          PREFECT_WORKER_PREFETCH_SECONDS="1", NEWSARCHIVE_REPLAY_URL=srv.url)
        done = subprocess.run([NEWSARCHIVE, "--archive", str(arch), "--config", str(config), "deploy",
                               "--pool-limit", "1"], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"automation '{CRASH_AUTOMATION}': created (a flow run with no heartbeat for 90 s" in done.stdout
        # Article pages slowed: the run is still crawling when its host dies.
        httpx.post(f"{srv.url}/__replay__/knobs", json={
            "fault_rate_slow": 1.0, "slow_s": 2.0, "fault_attempts": 1_000_000,
            "fault_paths": [r"/news/.+"]}, timeout=10).raise_for_status()
        logs = [tmp_path / f"worker{i}.log" for i in (1, 2)]
        first = start_worker("newsarchive", "w1", env, logs[0])
        second = None
        try:
            def heartbeating_run_on_w1():
                mine = {p.pid for p in psutil.Process(first.pid).children(recursive=True)}
                for r in flow_runs(api, "scrape-almayadeen", types=["RUNNING"]):
                    pid = (r.get("infrastructure_pid") or "").rsplit(":", 1)[-1]
                    if not (pid.isdigit() and int(pid) in mine and run_liveness(arch, r["id"]) == "alive"):
                        continue
                    beats = httpx.post(f"{api}/events/filter", json={"filter": {
                        "event": {"name": ["prefect.flow-run.heartbeat"]},
                        "resource": {"id": [f"prefect.flow-run.{r['id']}"]}}}, timeout=10).json()
                    if beats["events"]:
                        return r
                return None
            victim = wait_for(heartbeating_run_on_w1, 240, "a heartbeating scrape-almayadeen run on worker 1", logs[0])
            kill_tree(first)
            httpx.post(f"{srv.url}/__replay__/knobs", json={"fault_rate_slow": 0.0}, timeout=10).raise_for_status()
            second = start_worker("newsarchive", "w2", env, logs[1])

            def crashed():
                state = httpx.get(f"{api}/flow_runs/{victim['id']}", timeout=10).json()["state"]
                return state if state["type"] == "CRASHED" else None
            state = wait_for(crashed, 240, "the killed run marked Crashed", logs[1])
            assert "no heartbeat for 90 s" in state["message"], state

            def completed_after_crash():
                return [r for r in flow_runs(api, "scrape-almayadeen", types=["COMPLETED"])
                        if r["auto_scheduled"] and r["start_time"] > state["timestamp"]]
            wait_for(completed_after_crash, 240, "a scheduled run completed after the crash", logs[1])
        except BaseException:
            for log in logs:
                if log.exists():
                    print(f"--- {log.name}\n" + log.read_text(errors="replace")[-5000:])
            raise
        finally:
            for w in (first, second):
                if w is not None and w.poll() is None:
                    stop_group(w)
    want = {a.url for a in Corpus(seed=33, per_site=60).articles("almayadeen")}
    got = articles(arch, "almayadeen")
    assert want <= {u for u, _ in got} and all(n == 1 for _, n in got)
    statuses = [s for (s,) in query(Archive(arch), "SELECT status FROM runs")[1]]
    assert "completed" in statuses and set(statuses) <= {"completed", "recovered"}, statuses
