"""Real servers for end-to-end tests, each on 127.0.0.1 and stopped after: Postgres (Debian's
packages, installed by .ci/run), a Prefect server (``prefect server start``) and workers.

Nothing here sleeps for a fixed time: every wait polls a condition with a deadline and, on
time-out, fails with the server's own log.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check: Callable[[], object], timeout: float, what: str, log: Path | None = None) -> object:
    deadline = time.monotonic() + timeout
    poll = 0.05
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
            raise AssertionError(f"{what}: not within {timeout:.0f} s\n{tail}")
        time.sleep(poll)
        poll = min(0.5, poll * 1.5)


def postgres_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    hits = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return hits[-1] if hits else None


@contextmanager
def postgres() -> Iterator[str]:
    """A throw-away Postgres cluster; yields a ``postgresql://`` URL (user postgres, trust auth).

    Postgres refuses to run as root, so as root the cluster runs as the ``postgres`` user that
    Debian's package creates."""
    initdb, pg_ctl = postgres_bin("initdb"), postgres_bin("pg_ctl")
    if not initdb or not pg_ctl:
        import pytest
        pytest.skip("Postgres is not installed (apt-get install postgresql; .ci/run does)")
    # Its own directory under /tmp: pytest's tmp_path (mode 700, root's) is not reachable by the
    # postgres user.
    tmp = Path(tempfile.mkdtemp(prefix="newsarchive-pg-"))
    data, log = tmp / "pgdata", tmp / "postgres.log"
    run_as: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(tmp, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    def run(cmd: list[str]) -> None:
        done = subprocess.run(run_as + cmd, capture_output=True, text=True)
        assert done.returncode == 0, f"{' '.join(cmd)}: {done.stdout}{done.stderr}"

    run([initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"])
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={tmp} -c max_connections=200"
    run([pg_ctl, "-D", str(data), "-l", str(log), "-o", opts, "-w", "-t", "60", "start"])
    try:
        run([postgres_bin("createdb") or "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "prefect"])
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(run_as + [pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def prefect_env(api_url: str, home: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PREFECT_API_URL": api_url, "PREFECT_HOME": str(home),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PYTHONUNBUFFERED": "1"}
    env.update(extra)
    return env


@contextmanager
def prefect_server(tmp: Path, database_url: str | None = None) -> Iterator[str]:
    """``prefect server start`` with its scheduler on; yields the API URL. ``database_url``
    (``postgresql://...``) puts its database on Postgres, else SQLite under ``tmp``."""
    port = free_port()
    home, log = tmp / "prefect-home", tmp / "prefect-server.log"
    home.mkdir(parents=True, exist_ok=True)
    api = f"http://127.0.0.1:{port}/api"
    env = prefect_env(api, home, PREFECT_UI_ENABLED="false",
                      PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="2",
                      PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED="false")
    env.pop("PREFECT_API_URL")
    if database_url:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url.replace("postgresql://", "postgresql+asyncpg://", 1) + "/prefect"
    cmd = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with serving(cmd, env, log, lambda: httpx.get(f"{api}/health", timeout=2).status_code == 200, 180,
                 "prefect server health"):
        yield api


@contextmanager
def serving(cmd: list[str], env: dict[str, str] | None, log: Path, ready: Callable[[], bool], timeout: float,
            what: str) -> Iterator[subprocess.Popen]:
    """Start ``cmd`` in its own process group (output in ``log``), wait until ``ready()`` (an HTTP
    error counts as not yet; the process exiting fails with its log), stop the group after."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def up() -> bool:
            assert proc.poll() is None, f"{cmd[0]} exited {proc.returncode}:\n{log.read_text()[-4000:]}"
            try:
                return ready()
            except httpx.HTTPError:
                return False
        wait_for(up, timeout, what, log)
        yield proc
    finally:
        stop_group(proc)


def stop_group(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=timeout)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def start_worker(pool: str, name: str, env: dict[str, str], log: Path, limit: int = 2) -> subprocess.Popen:
    """A Prefect process worker in its own process group (so a test can SIGKILL it with its flow runs)."""
    with log.open("wb") as out:
        return subprocess.Popen([str(BIN / "prefect"), "worker", "start", "--pool", pool, "--name", name,
                                 "--limit", str(limit)],
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


@contextmanager
def s3_server(bucket: str = "newsarchive") -> Iterator[dict[str, str]]:
    """moto's S3 server (PyPI ``moto[server]``) on 127.0.0.1 with ``bucket`` created; yields the
    AWS_* environment that points boto3 and DuckDB at it."""
    if shutil.which("moto_server", path=str(BIN)) is None:
        import pytest
        pytest.skip("moto's S3 server is not installed (pip install -e '.[test]' installs moto[server])")
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="newsarchive-s3-"))
    log = tmp / "moto.log"
    endpoint = f"http://127.0.0.1:{port}"
    env = {"AWS_ACCESS_KEY_ID": "newsarchive-test", "AWS_SECRET_ACCESS_KEY": "newsarchive-test-secret",
           "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint}
    try:
        with serving([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], None, log,
                     lambda: httpx.put(f"{endpoint}/{bucket}", timeout=2).status_code == 200, 60, "moto S3 server"):
            yield env
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
