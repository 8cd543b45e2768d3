"""Raw capture of every HTTP exchange into gzip-compressed WARC/1.1 files (warcio).

Layout: ``root/<prefix>-<UTC timestamp>-<serial>.warc.gz``, rotated once a file
reaches ``max_file_bytes``.  Each record is its own gzip member, so a
``WarcRef(filename, offset, length)`` lets ``read_record`` seek straight to one
response without scanning.  Each exchange's records are built here (``records``:
warcio's exact bytes, headers and digests, without its per-record objects; warcio
builds the warcinfo record and any record whose HTTP headers are not ASCII) and
gzipped at ``GZIP_LEVEL`` (warcio's own gzip is fixed at level 9: 40 % of the time
of writing a record, for files 8 % smaller than level 1; see docs/BENCHMARKS.md,
"The scrape flow against Scrapy").  Every record is flushed as soon as
it is written, so a file stays readable by warcio's ArchiveIterator even if
the process dies between records.

Per exchange we write a 'response' record followed by its 'request' record;
the request carries ``WARC-Concurrent-To: <response id>`` (and the response
points back at the request the same way).  ``WARC-Target-URI`` is always the
real site URL, never the replay/loopback address.

Bodies: httpx hands us *decoded* bodies (Content-Encoding undone), so the body
we store is the decoded one.  To keep the record self-consistent we drop
Content-Encoding and Transfer-Encoding from the stored HTTP headers and set
Content-Length to the stored body length (the original values are kept as
``X-Archive-Orig-Content-Encoding`` etc. for the record).

304 Not Modified: written as a 'revisit' record with the WARC/1.1
"server-not-modified" profile (HTTP headers only, no payload), the record type
the WARC standard defines for exactly this case.  ``read_record`` /
``iter_records`` return it like a response: status 304 and an empty body.

Bodies cut short (size cap or a dropped connection) are written with a
``WARC-Truncated`` header ("length" or "disconnect").
"""
from __future__ import annotations

import base64
import hashlib
import io
import os
import threading
import uuid
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from isal import isal_zlib
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import datetime_to_iso_date
from warcio.warcwriter import WARCWriter

#: zlib level of each record's gzip member. Measured on 1,500 replay pages (14 KiB of HTML each),
#: CPU ms per written exchange / KiB on disk: level 9 (warcio's) 0.49 / 4.5, 6: 0.39 / 4.6,
#: 3: 0.33 / 4.8, 1: 0.28 / 4.9. Readers do not care: every level is plain gzip.
#: Levels 0-3 are compressed by ISA-L (``isal``, Intel's deflate with hand-written SIMD) rather
#: than zlib: on 200 replay records (19 KiB each) level 1 took 0.038 CPU ms a record against
#: zlib's 0.156, for 2 % smaller output (issue 12). Still one plain gzip member per record.
GZIP_LEVEL = 1
_ISAL_LEVELS = range(0, 4)
SERVER_NOT_MODIFIED = "http://netpreserve.org/warc/1.1/revisit/server-not-modified"
_DROP = {"content-encoding", "transfer-encoding", "content-length"}
_REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified",
            307: "Temporary Redirect", 308: "Permanent Redirect", 403: "Forbidden", 404: "Not Found",
            410: "Gone", 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
            503: "Service Unavailable", 504: "Gateway Timeout"}


@dataclass(frozen=True)
class WarcRef:
    filename: str   # relative to the WARC root directory
    offset: int     # byte offset of the record's gzip member
    length: int     # compressed length of the member


HeaderItems = Mapping[str, str] | Iterable[tuple[str, str]]


def _items(headers: HeaderItems | None) -> list[tuple[str, str]]:
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        return [(str(k), str(v)) for k, v in headers.items()]
    return [(str(k), str(v)) for k, v in headers]


def gzip_member(data: bytes | memoryview, level: int = GZIP_LEVEL) -> bytes:
    """``data`` as one complete gzip member (what ``gzip.decompress`` and warcio read)."""
    if level in _ISAL_LEVELS:
        c = isal_zlib.compressobj(level, isal_zlib.DEFLATED, isal_zlib.MAX_WBITS + 16)
    else:
        c = zlib.compressobj(level, zlib.DEFLATED, zlib.MAX_WBITS + 16)
    return c.compress(data) + c.flush()


class WarcWriter:
    def __init__(self, root: Path | str, prefix: str = "newsarchive", max_file_bytes: int = 1_000_000_000,
                 gzip_level: int = GZIP_LEVEL):
        self.root = Path(root)
        self.prefix = prefix
        self.max_file_bytes = max_file_bytes
        self.gzip_level = gzip_level
        self._serial = 0
        self._fh: io.BufferedWriter | None = None
        self._writer: WARCWriter | None = None
        self._buf = io.BytesIO()        # warcio writes one uncompressed record here; we gzip it
        self._filename: str | None = None
        self.files: list[str] = []      # every file this writer created (relative names)
        self.records = 0
        self._sealed = 0                # files[:_sealed] were handed out by seal()
        # The crawl writes from a thread of its own (crawl/fetch.py) while a batch end may seal
        # the file from the event loop: one record, or one seal, at a time.
        self._lock = threading.RLock()

    # -- file handling -------------------------------------------------------
    def _open(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        while True:
            stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S%f")
            name = f"{self.prefix}-{stamp}-{self._serial:05d}.warc.gz"
            self._serial += 1
            try:
                self._fh = open(self.root / name, "xb")
                break
            except FileExistsError:
                continue
        self._filename = name
        self.files.append(name)
        self._writer = WARCWriter(self._buf, gzip=False, warc_version="1.1")
        info = self._writer.create_warcinfo_record(name, {
            "software": "newsarchive (warcio)",
            "format": "WARC File Format 1.1",
            "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
            "note": "bodies are stored decoded; Content-Encoding/Transfer-Encoding removed",
        })
        self._fh.write(self._member(info))
        self._fh.flush()

    def _ensure_file(self) -> None:
        if self._fh is not None and self._fh.tell() >= self.max_file_bytes:
            self.close()
        if self._fh is None:
            self._open()

    @property
    def current_file(self) -> str | None:
        return self._filename

    # -- writing ---------------------------------------------------------------
    def write(
        self,
        url: str,
        *,
        status: int,
        headers: HeaderItems | None = None,
        body: bytes = b"",
        reason: str | None = None,
        method: str = "GET",
        request_headers: HeaderItems | None = None,
        http_version: str = "HTTP/1.1",
        date: datetime | None = None,
        truncated: str | None = None,
    ) -> WarcRef:
        """Write a response (or 304 revisit) record and its request record; return the response's ref."""
        with self._lock:
            return self._write(url, status, headers, body, reason, method, request_headers, http_version, date,
                               truncated)

    def _write(self, url: str, status: int, headers: HeaderItems | None, body: bytes, reason: str | None,
               method: str, request_headers: HeaderItems | None, http_version: str, date: datetime | None,
               truncated: str | None) -> WarcRef:
        self._ensure_file()
        assert self._fh is not None and self._writer is not None
        when = (date or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(tzinfo=None)
        exchange = _Exchange(url, status, _items(headers), body, reason, method, _items(request_headers),
                             http_version, datetime_to_iso_date(when, use_micros=True), truncated,
                             _warc_id(), _warc_id())
        response, request = records(exchange) or self._warcio_records(exchange)

        offset = self._fh.tell()
        response_member = gzip_member(response, self.gzip_level)
        self._fh.write(response_member)
        self._fh.write(gzip_member(request, self.gzip_level))
        self._fh.flush()
        length = len(response_member)
        self.records += 1
        assert self._filename is not None
        return WarcRef(self._filename, offset, length)

    def _warcio_records(self, x: "_Exchange") -> tuple[bytes, bytes]:
        """The exchange's (response, request) records as warcio builds them: ``records``' fallback
        for HTTP headers that are not ASCII (warcio percent-encodes them) and its reference."""
        w = self._writer
        assert w is not None
        http_headers = StatusAndHeaders(_status_line(x), _stored_headers(x), protocol=x.http_version)
        rec_headers = {"WARC-Record-ID": x.resp_id, "WARC-Date": x.warc_date, "WARC-Concurrent-To": x.req_id}
        if x.truncated:
            rec_headers["WARC-Truncated"] = x.truncated
        if x.status == 304:
            rec_headers["WARC-Profile"] = SERVER_NOT_MODIFIED
            record = w.create_warc_record(x.url, "revisit", payload=io.BytesIO(b""), length=0,
                                          http_headers=http_headers, warc_headers_dict=rec_headers)
        else:
            record = w.create_warc_record(x.url, "response", payload=io.BytesIO(x.body), length=len(x.body),
                                          http_headers=http_headers, warc_headers_dict=rec_headers)
        req_lines = StatusAndHeaders(f"{x.method} {urlparse_path(x.url)}", x.request_headers,
                                     protocol=x.http_version, is_http_request=True)
        request = w.create_warc_record(x.url, "request", http_headers=req_lines, warc_headers_dict={
            "WARC-Record-ID": x.req_id, "WARC-Date": x.warc_date, "WARC-Concurrent-To": x.resp_id})
        return self._record_bytes(record), self._record_bytes(request)

    def _record_bytes(self, record) -> bytes:
        assert self._writer is not None
        self._buf.seek(0)
        self._buf.truncate()
        self._writer.write_record(record)
        return self._buf.getvalue()

    def _member(self, record) -> bytes:
        """The record as its own gzip member."""
        return gzip_member(self._record_bytes(record), self.gzip_level)   # a copy: no export pins the buffer

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.flush()
                os.fsync(self._fh.fileno())
                self._fh.close()
            self._fh = None
            self._writer = None
            self._filename = None

    def seal(self) -> list[str]:
        """Close the current file; the files finished since the last seal (to ship them elsewhere).
        The next record starts a new file."""
        with self._lock:
            self.close()
            done, self._sealed = self.files[self._sealed:], len(self.files)
            return done

    def __enter__(self) -> "WarcWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# -- records built here ----------------------------------------------------------
@dataclass(frozen=True)
class _Exchange:
    """One ``WarcWriter.write`` call: what its two records are made of."""
    url: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    reason: str | None
    method: str
    request_headers: list[tuple[str, str]]
    http_version: str
    warc_date: str
    truncated: str | None
    resp_id: str
    req_id: str


def _warc_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"      # warcio's make_warc_id


def _status_line(x: _Exchange) -> str:
    return f"{x.status} {x.reason or _REASONS.get(x.status, '')}".strip()


def _stored_headers(x: _Exchange) -> list[tuple[str, str]]:
    """Stored headers describe the stored (decoded) body; see module docstring."""
    stored: list[tuple[str, str]] = []
    for k, v in x.headers:
        low = k.lower()
        if low in _DROP:
            if low != "content-length":
                stored.append((f"X-Archive-Orig-{k}", v))
            continue
        stored.append((k, v))
    if x.status != 304:
        stored.append(("Content-Length", str(len(x.body))))
    return stored


def _http_block(first_line: str, headers: list[tuple[str, str]]) -> bytes | None:
    """An HTTP head as warcio writes it, or None when it is not ASCII (warcio percent-encodes)."""
    text = first_line + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return text.encode("ascii") if text.isascii() else None


def _digest(*parts: bytes) -> str:
    h = hashlib.sha1()
    for part in parts:
        h.update(part)
    return "sha1:" + base64.b32encode(h.digest()).decode("ascii")


_EMPTY_DIGEST = _digest(b"")


def records(x: _Exchange) -> tuple[bytes, bytes] | None:
    """The (response or revisit, request) records of one exchange, uncompressed: byte for byte
    what warcio's ``create_warc_record`` + ``write_record`` make of the same exchange (its header
    order, digests and Content-Length; tests/test_warc.py compares them), at a third of its CPU
    time, which was a tenth of the crawl process's per page. None when an HTTP header is not
    ASCII: warcio's own encoding is used then."""
    http = _http_block(f"{x.http_version} {_status_line(x)}", _stored_headers(x))
    request_http = _http_block(f"{x.method} {urlparse_path(x.url)}", x.request_headers)
    if http is None or request_http is None:
        return None
    revisit = x.status == 304
    head = [f"WARC/1.1\r\nWARC-Record-ID: {x.resp_id}\r\nWARC-Date: {x.warc_date}\r\n"
            f"WARC-Concurrent-To: {x.req_id}\r\n"]
    if x.truncated:
        head.append(f"WARC-Truncated: {x.truncated}\r\n")
    if revisit:
        head.append(f"WARC-Profile: {SERVER_NOT_MODIFIED}\r\nWARC-Type: revisit\r\n"
                    f"WARC-Target-URI: {x.url}\r\n")
        payload, length = b"", len(http)
    else:
        head.append(f"WARC-Type: response\r\nWARC-Target-URI: {x.url}\r\n"
                    f"WARC-Payload-Digest: {_digest(x.body)}\r\n")
        payload, length = x.body, len(http) + len(x.body)
    head.append(f"WARC-Block-Digest: {_digest(http, payload)}\r\n"
                f"Content-Type: application/http; msgtype=response\r\nContent-Length: {length}\r\n\r\n")
    response = b"".join(("".join(head).encode("utf-8"), http, payload, b"\r\n\r\n"))
    request = b"".join((
        (f"WARC/1.1\r\nWARC-Record-ID: {x.req_id}\r\nWARC-Date: {x.warc_date}\r\n"
         f"WARC-Concurrent-To: {x.resp_id}\r\nWARC-Type: request\r\nWARC-Target-URI: {x.url}\r\n"
         f"WARC-Payload-Digest: {_EMPTY_DIGEST}\r\nWARC-Block-Digest: {_digest(request_http)}\r\n"
         f"Content-Type: application/http; msgtype=request\r\nContent-Length: {len(request_http)}\r\n\r\n"
         ).encode("utf-8"), request_http, b"\r\n\r\n"))
    return response, request


def urlparse_path(url: str) -> str:
    """Request-target for the request line: path plus query (origin-form)."""
    from urllib.parse import urlsplit
    p = urlsplit(url)
    return (p.path or "/") + (f"?{p.query}" if p.query else "")


# -- reading -------------------------------------------------------------------
def _record_tuple(record) -> tuple[str, int, dict[str, str], bytes]:
    url = record.rec_headers.get_header("WARC-Target-URI")
    status = int(record.http_headers.get_statuscode())
    headers = {k.lower(): v for k, v in record.http_headers.headers}
    body = record.content_stream().read()
    return url, status, headers, body


def read_record(root: Path | str, ref: WarcRef) -> tuple[str, int, dict[str, str], bytes]:
    """(url, status, headers, body) of the response/revisit record at ``ref``; reads only that member."""
    path = Path(root) / ref.filename
    with open(path, "rb") as fh:
        fh.seek(ref.offset)
        member = fh.read(ref.length)
    return parse_member(member, ref, path)


def parse_member(member: bytes, ref: WarcRef, path: Path | str) -> tuple[str, int, dict[str, str], bytes]:
    """The record of one gzip member read at ``ref`` from ``path`` (a file or an object URL)."""
    if len(member) != ref.length:
        raise ValueError(f"{path}: record at offset {ref.offset} is cut short "
                         f"({len(member)} of {ref.length} bytes); the WARC file is truncated")
    for record in ArchiveIterator(io.BytesIO(member)):
        if record.rec_type not in ("response", "revisit"):
            raise ValueError(f"{path}: record at offset {ref.offset} is a {record.rec_type!r} record, "
                             f"not a response; the ref does not point at a response")
        return _record_tuple(record)
    raise ValueError(f"{path}: no WARC record at offset {ref.offset}")


def iter_records(path: Path | str, root: Path | str | None = None
                 ) -> Iterator[tuple[str, WarcRef, int, dict[str, str], bytes]]:
    """Yield (url, ref, status, headers, body) for every response/revisit record in one WARC file.

    ``ref.filename`` is relative to ``root`` (default: the file's directory).
    """
    path = Path(path)
    name = str(path.relative_to(root)) if root is not None else path.name
    with open(path, "rb") as fh:
        it = ArchiveIterator(fh)
        for record in it:
            if record.rec_type not in ("response", "revisit"):
                continue
            url, status, headers, body = _record_tuple(record)
            offset = it.get_record_offset()
            length = it.get_record_length()
            yield url, WarcRef(name, offset, length), status, headers, body
