"""Run an ASGI app under uvicorn on 127.0.0.1 in a background thread.

Used by the replay web (`newsarchive replay`, `run --replay`) and by tests that
need a real HTTP server on loopback.

uvicorn parses HTTP with httptools (llhttp, C; uvicorn's own "standard" choice) rather than its
pure-Python h11: the replay shares the machine's two cores with the crawler it serves, and
httptools took ~20 % off its CPU per article page (1.25-1.5 ms against 1.5-1.85, measured A/B;
the rest is the app rendering the page). The responses are the same bytes.
"""
from __future__ import annotations

import asyncio
import socket
import threading
import time

import uvicorn


class LoopbackServer:
    """``with LoopbackServer(app) as srv: srv.url`` -> "http://127.0.0.1:PORT"."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"):
        self.app = app
        self.host = host
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit TCP_NODELAY on Linux; without it uvicorn's separate header
        # and body writes stall ~40 ms per keep-alive request on Nagle + delayed ACK.
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.bind((host, port))
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="off",
                                timeout_keep_alive=30, limit_concurrency=None, http="httptools")
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> "LoopbackServer":
        def run() -> None:
            asyncio.run(self._server.serve(sockets=[self._sock]))

        self._thread = threading.Thread(target=run, name=f"loopback-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on {self.url} did not start within {timeout}s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> "LoopbackServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
