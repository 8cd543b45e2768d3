"""httpx transport that sends chosen hosts to another address (the local replay web).

``HostMapTransport({"english.almayadeen.net": "http://127.0.0.1:8765"})`` sends
requests for that host to 127.0.0.1:8765 while keeping the original ``Host``
header, so the replay server can route by Host, and everything above the
transport (redirect handling, WARC records, results) keeps seeing the real
site URL.  Other hosts pass through to the inner transport unchanged.
"""
from __future__ import annotations

from collections.abc import Mapping

import httpx


class HostMapTransport(httpx.AsyncBaseTransport):
    def __init__(self, mapping: Mapping[str, str], inner: httpx.AsyncBaseTransport | None = None):
        self._map: dict[str, httpx.URL] = {}
        for host, target in mapping.items():
            url = httpx.URL(target)
            if url.scheme not in ("http", "https") or not url.host:
                raise ValueError(f"host map entry {host!r} -> {target!r}: the target must be an "
                                 f"http(s) base URL such as 'http://127.0.0.1:8765'")
            self._map[host.lower()] = url
        self._inner = inner if inner is not None else httpx.AsyncHTTPTransport()

    @property
    def mapping(self) -> dict[str, str]:
        return {h: str(u) for h, u in self._map.items()}

    def target_for(self, url: httpx.URL | str) -> httpx.URL | None:
        host = httpx.URL(url).host.lower() if isinstance(url, str) else url.host.lower()
        return self._map.get(host)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = self._map.get(request.url.host.lower())
        if target is None:
            return await self._inner.handle_async_request(request)
        prefix = target.raw_path.split(b"?", 1)[0].rstrip(b"/")
        mapped = request.url.copy_with(
            scheme=target.scheme,
            host=target.host,
            port=target.port,
            raw_path=prefix + request.url.raw_path if prefix else request.url.raw_path,
        )
        headers = request.headers.copy()
        if "host" not in headers:  # httpx always sets it; keep the real site's host regardless
            headers["Host"] = request.url.netloc.decode("ascii")
        forwarded = httpx.Request(request.method, mapped, headers=headers,
                                  stream=request.stream, extensions=request.extensions)
        response = await self._inner.handle_async_request(forwarded)
        # httpx's client sets response.request to the original (real-URL) request afterwards.
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
