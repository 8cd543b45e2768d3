"""A persistent local Prefect server for ``newsarchive serve`` when no PREFECT_API_URL is set.

Prefect's temporary server (what a flow gets without PREFECT_API_URL) runs with its scheduler
service off, so scheduled deployments would never fire. ``serve`` instead starts a real
``prefect server start`` on 127.0.0.1 with its database under PREFECT_HOME (run history kept
across restarts), or reuses the one a previous ``serve`` started and that still answers.
The server is stopped when the ``serve`` that started it stops.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from newsarchive.errors import NewsarchiveError

DEFAULT_PORT = 4200
STARTUP_TIMEOUT_S = 120.0
STATE_FILE = "newsarchive-server.json"
LOG_FILE = "newsarchive-server.log"


class LocalServerError(NewsarchiveError):
    """The local Prefect server could not be started."""


@dataclass
class LocalServer:
    api_url: str
    process: subprocess.Popen | None   # None: reused, not ours to stop
    log: Path

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def prefect_home() -> Path:
    return Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()


def healthy(api_url: str) -> bool:
    try:
        return httpx.get(f"{api_url}/health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _pick_port() -> int:
    if _free(DEFAULT_PORT):
        return DEFAULT_PORT
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_local_server(home: Path | None = None) -> LocalServer:
    """Reuse the recorded local server if it answers, else start one; sets PREFECT_API_URL."""
    home = home or prefect_home()
    home.mkdir(parents=True, exist_ok=True)
    state, log = home / STATE_FILE, home / LOG_FILE
    if state.exists():
        try:
            url = json.loads(state.read_text())["api_url"]
        except (ValueError, KeyError, OSError):
            url = None
        if url and healthy(url):
            os.environ["PREFECT_API_URL"] = url
            return LocalServer(url, None, log)
    port = _pick_port()
    url = f"http://127.0.0.1:{port}/api"
    prefect = Path(sys.executable).with_name("prefect")
    cmd = [str(prefect) if prefect.exists() else "prefect", "server", "start", "--host", "127.0.0.1",
           "--port", str(port)]
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not healthy(url):
        if proc.poll() is not None:
            raise LocalServerError(f"the local Prefect server exited with code {proc.returncode} while starting; "
                                   f"see {log}, or start one yourself (`prefect server start`) and set "
                                   f"PREFECT_API_URL")
        if time.monotonic() > deadline:
            LocalServer(url, proc, log).stop()
            raise LocalServerError(f"the local Prefect server did not answer on {url} within "
                                   f"{STARTUP_TIMEOUT_S:.0f} s; see {log}")
        time.sleep(0.25)
    state.write_text(json.dumps({"api_url": url, "pid": proc.pid}))
    os.environ["PREFECT_API_URL"] = url
    return LocalServer(url, proc, log)
