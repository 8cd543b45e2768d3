"""Local Prefect servers when no PREFECT_API_URL is set: a persistent one for ``newsarchive serve``,
and the temporary one a ``newsarchive run`` starts in the background (:func:`begin_run_server`).

Prefect's temporary server (what a flow gets without PREFECT_API_URL) runs with its scheduler
service off, so scheduled deployments would never fire. ``serve`` instead starts a real
``prefect server start`` on 127.0.0.1 with its database under PREFECT_HOME (run history kept
across restarts), or reuses the one a previous ``serve`` started and that still answers.
The server is stopped when the ``serve`` that started it stops.

A ``run`` needs no scheduler: it reuses that persistent server when one answers, else starts
what Prefect itself would start (its temporary server: API only, no UI, the ephemeral set of
services, history in PREFECT_HOME/prefect.db), but without waiting for it: the server takes 5-15 s
of CPU to import and migrate, which ``run`` overlaps with opening the archive and discovery
(flows/head_start.py), and waits for it (:meth:`LocalServer.wait`) only when the flow run begins.
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from newsarchive.errors import NewsarchiveError

DEFAULT_PORT = 4200
STARTUP_TIMEOUT_S = 120.0
STATE_FILE = "newsarchive-server.json"
LOG_FILE = "newsarchive-server.log"
RUN_LOG_FILE = "newsarchive-run-server.log"


class LocalServerError(NewsarchiveError):
    """The local Prefect server could not be started."""


@dataclass
class LocalServer:
    api_url: str
    process: subprocess.Popen | None   # None: reused, not ours to stop
    log: Path

    def wait(self, timeout: float = STARTUP_TIMEOUT_S, give_up: threading.Event | None = None) -> str:
        """Block until the server answers on /health; its API URL, or one line saying why not.
        ``give_up`` set (the run was interrupted) ends the wait at once."""
        deadline = time.monotonic() + timeout
        poll = 0.05
        while not healthy(self.api_url):
            if give_up is not None and give_up.is_set():
                raise LocalServerError("the run was interrupted while the local Prefect server was starting")
            if self.process is not None and self.process.poll() is not None:
                raise LocalServerError(f"the local Prefect server exited with code {self.process.returncode} "
                                       f"while starting; see {self.log}, or start one yourself (`prefect server "
                                       f"start`) and set PREFECT_API_URL")
            if time.monotonic() > deadline:
                self.stop()
                raise LocalServerError(f"the local Prefect server did not answer on {self.api_url} within "
                                       f"{timeout:.0f} s; see {self.log}, or start one yourself (`prefect server "
                                       f"start`) and set PREFECT_API_URL")
            time.sleep(poll)
            poll = min(0.25, poll * 1.5)
        return self.api_url

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


def _recorded_server(home: Path) -> str | None:
    """The API URL of the persistent server a ``serve`` left running under ``home``, if it answers."""
    state = home / STATE_FILE
    if not state.exists():
        return None
    try:
        url = json.loads(state.read_text())["api_url"]
    except (ValueError, KeyError, OSError, TypeError):
        return None
    return url if url and healthy(url) else None


def ensure_local_server(home: Path | None = None) -> LocalServer:
    """Reuse the recorded local server if it answers, else start one; sets PREFECT_API_URL."""
    home = home or prefect_home()
    home.mkdir(parents=True, exist_ok=True)
    state, log = home / STATE_FILE, home / LOG_FILE
    url = _recorded_server(home)
    if url:
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


def _die_with_parent() -> None:
    """In the server's process before exec: SIGTERM when the ``run`` that started it dies (even by
    SIGKILL), so a killed run never leaves its temporary server behind (Linux; elsewhere a no-op)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def begin_run_server(home: Path | None = None) -> LocalServer:
    """The Prefect server for one ``run``, without waiting for it; sets PREFECT_API_URL.

    Reuses the persistent server of a ``serve`` when it answers; otherwise starts Prefect's
    temporary server (the same app and settings Prefect uses when PREFECT_API_URL is unset) in
    its own session, stopped by :meth:`LocalServer.stop` (or by the death of this process).
    Call :meth:`LocalServer.wait` before the first Prefect call.
    """
    home = home or prefect_home()
    home.mkdir(parents=True, exist_ok=True)
    url = _recorded_server(home)
    if url:
        os.environ["PREFECT_API_URL"] = url
        return LocalServer(url, None, home / LOG_FILE)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url, log = f"http://127.0.0.1:{port}/api", home / RUN_LOG_FILE
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "prefect.server.api.server:create_app",
           "--host", "127.0.0.1", "--port", str(port), "--log-level", "error", "--lifespan", "on"]
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
           "PREFECT__SERVER_FINAL": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, preexec_fn=_die_with_parent)
    os.environ["PREFECT_API_URL"] = url
    return LocalServer(url, proc, log)
