"""WARC capture: round trip, seekable refs, rotation, request/response pairing, crash safety."""
from __future__ import annotations

import gzip
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from crawl.fetch import Fetcher
from crawl.warc import SERVER_NOT_MODIFIED, WarcRef, WarcWriter, iter_records, read_record
from helpers_http import make_config, served  # noqa: F401  (fixture)


def records(path: Path):
    with open(path, "rb") as fh:
        return [(r.rec_type, dict(r.rec_headers.headers)) for r in ArchiveIterator(fh)]


def test_write_read_round_trip(tmp_path):
    with WarcWriter(tmp_path, prefix="t") as w:
        ref = w.write("https://news.example/a?x=1", status=200, reason="OK",
                      headers=[("Content-Type", "text/html"), ("Content-Encoding", "gzip"),
                               ("Transfer-Encoding", "chunked"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")],
                      body=b"<p>hello</p>", request_headers={"Host": "news.example", "User-Agent": "ua"})
    assert isinstance(ref, WarcRef) and ref.filename.startswith("t-") and ref.filename.endswith(".warc.gz")
    assert ref.filename == w.files[0] and "/" not in ref.filename
    url, status, headers, body = read_record(tmp_path, ref)
    assert (url, status, body) == ("https://news.example/a?x=1", 200, b"<p>hello</p>")
    assert "content-encoding" not in headers and "transfer-encoding" not in headers
    assert headers["content-length"] == "12" and headers["x-archive-orig-content-encoding"] == "gzip"
    # the member at ref is a complete gzip stream on its own
    raw = (tmp_path / ref.filename).read_bytes()[ref.offset:ref.offset + ref.length]
    assert gzip.decompress(raw).startswith(b"WARC/1.1\r\n")


def test_request_response_pairs_are_linked(tmp_path):
    with WarcWriter(tmp_path) as w:
        w.write("https://news.example/a", status=200, body=b"a", request_headers={"Host": "news.example"})
        w.write("https://news.example/b", status=404, body=b"nope")
    recs = records(tmp_path / w.files[0])
    assert [t for t, _ in recs] == ["warcinfo", "response", "request", "response", "request"]
    for (_, resp), (_, req) in [(recs[1], recs[2]), (recs[3], recs[4])]:
        assert resp["WARC-Target-URI"] == req["WARC-Target-URI"]
        assert req["WARC-Concurrent-To"] == resp["WARC-Record-ID"]
        assert resp["WARC-Concurrent-To"] == req["WARC-Record-ID"]
        assert resp["WARC-Payload-Digest"].startswith("sha1:") and resp["WARC-Date"] == req["WARC-Date"]


def test_not_modified_is_a_revisit(tmp_path):
    with WarcWriter(tmp_path) as w:
        ref = w.write("https://news.example/a", status=304, headers={"ETag": '"v1"'})
    assert read_record(tmp_path, ref) == ("https://news.example/a", 304, {"etag": '"v1"'}, b"")
    (_, rec), = [r for r in records(tmp_path / ref.filename) if r[0] == "revisit"]
    assert rec["WARC-Profile"] == SERVER_NOT_MODIFIED


def test_iter_records_refs_match_read_record(tmp_path):
    with WarcWriter(tmp_path) as w:
        refs = [w.write(f"https://news.example/{i}", status=200, body=str(i).encode() * 100) for i in range(5)]
    listed = list(iter_records(tmp_path / w.files[0]))
    assert [r[1] for r in listed] == refs
    for url, ref, status, _, body in listed:
        assert read_record(tmp_path, ref) == (url, status, read_record(tmp_path, ref)[2], body)


def test_rotation(tmp_path):
    with WarcWriter(tmp_path, max_file_bytes=2_000) as w:
        refs = [w.write(f"https://news.example/{i}", status=200, body=bytes(range(256)) * 8) for i in range(6)]
    assert len(w.files) > 1 and len({r.filename for r in refs}) == len(w.files)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(w.files)
    for i, ref in enumerate(refs):
        assert read_record(tmp_path, ref)[0] == f"https://news.example/{i}"


def test_readable_without_close(tmp_path):
    """Each record is flushed: a killed process leaves a valid file up to the last record."""
    w = WarcWriter(tmp_path)
    w.write("https://news.example/1", status=200, body=b"one")
    w.write("https://news.example/2", status=200, body=b"two")
    assert [r[0] for r in iter_records(tmp_path / w.current_file)] == [
        "https://news.example/1", "https://news.example/2"]
    # a half-written record after the last complete one does not hide the earlier ones
    with open(tmp_path / w.current_file, "ab") as fh:
        fh.write(gzip.compress(b"WARC/1.1\r\nWARC-Type: response\r\n")[:20])
    with open(tmp_path / w.current_file, "rb") as fh:
        seen = []
        try:
            for rec in ArchiveIterator(fh):
                seen.append(rec.rec_type)
        except Exception:
            pass
    assert seen[:5] == ["warcinfo", "response", "request", "response", "request"]
    w.close()


async def test_fetcher_archives_every_response_under_real_url(served, tmp_path):
    warc = WarcWriter(tmp_path)
    async with Fetcher(make_config(retries=1, backoff_max_s=0.0), host_map=served.host_map, warc=warc) as f:
        ok = await f.fetch("https://news.example/page")
        redirected = await f.fetch("https://news.example/r/rel")
        failed = await f.fetch("https://nobots.example/always500")
    warc.close()
    seen = []
    for name in warc.files:
        for rec_type, h in records(tmp_path / name):
            if rec_type != "warcinfo":
                seen.append((rec_type, h["WARC-Target-URI"]))
    uris = [u for _, u in seen]
    assert all("127.0.0.1" not in u for u in uris)
    assert ("response", "https://news.example/robots.txt") in seen
    assert ("response", "https://nobots.example/robots.txt") in seen     # 404 robots archived too
    assert ("response", "https://news.example/r/rel") in seen and ("response", "https://news.example/r/b") in seen
    assert uris.count("https://nobots.example/always500") == 4          # 2 attempts x (response + request)
    assert [t for t, _ in seen] == ["response", "request"] * (len(seen) // 2)
    assert read_record(tmp_path, ok.warc)[:2] == ("https://news.example/page", 200)
    assert read_record(tmp_path, redirected.warc)[0] == "https://news.example/page"
    assert read_record(tmp_path, failed.warc)[1] == 500
    assert f.stats["warc_records"] == len(seen) // 2


def test_records_are_byte_for_byte_warcios(tmp_path):
    """``WarcWriter.write`` builds its records by hand (CPU per page, issue 12); they are exactly
    the bytes warcio makes of the same exchange, ids and date included."""
    from crawl.warc import _Exchange, _warc_id, urlparse_path
    from crawl.warc import records as built_records

    w = WarcWriter(tmp_path)
    w._open()   # its warcio writer is the reference
    cases = [
        dict(status=200, headers=[("Content-Type", "text/html"), ("Content-Encoding", "gzip"),
                                  ("Content-Length", "9"), ("Transfer-Encoding", "chunked")], body=b"<p>hi</p>" * 999),
        dict(status=200, headers=[], body=b""),
        dict(status=304, headers=[("ETag", '"x"'), ("Content-Length", "0")], body=b""),
        dict(status=200, headers=[("X-A", "1")], body=b"cut", truncated="length"),
        dict(status=304, headers=[], body=b"", truncated="disconnect"),
        dict(status=404, headers=[("Content-Type", "text/plain")], body=b"gone", reason="Not There"),
        dict(status=299, headers=[], body=b"\x00\xff binary"),
        dict(status=200, headers=[("Set-Cookie", "a=1; Path=/")], body=b"x", method="HEAD", http_version="HTTP/1.0"),
    ]
    urls = ["https://www.reuters.com/world/a-2026-01-02/", "https://english.almayadeen.net/news/x?b=2&a=1",
            "https://www.reuters.com/", "http://example.com:8080/p;x?q=1#frag",
            "https://example.com/caf%C3%A9", "https://example.com/ünï?q=ü", "https://example.com/p#ü"]
    built = 0
    for i, case in enumerate(cases):
        for url in urls:
            x = _Exchange(url, case["status"], case["headers"], case["body"], case.get("reason"),
                          case.get("method", "GET"), [("Host", "www.reuters.com"), ("User-Agent", f"t/{i}")],
                          case.get("http_version", "HTTP/1.1"), f"2026-12-06T04:0{i}:00.12345{i}Z",
                          case.get("truncated"), _warc_id(), _warc_id())
            mine = built_records(x)
            if mine is None:      # a request line that is not ASCII: warcio's own encoding is used
                assert not urlparse_path(url).isascii(), url
                continue
            assert mine == w._warcio_records(x), (case, url)
            built += 1
    assert built == len(cases) * (len(urls) - 1)
    # A header warcio percent-encodes (not ASCII) goes through warcio and reads back.
    x = _Exchange(urls[0], 200, [("Content-Disposition", "inline; filename=café.html")], b"body", None, "GET",
                  [], "HTTP/1.1", "2026-12-06T04:00:00Z", None, _warc_id(), _warc_id())
    assert built_records(x) is None
    ref = w.write(urls[0], status=200, headers=x.headers, body=b"body")
    w.close()
    url, status, headers, body = read_record(tmp_path, ref)
    assert (url, status, body) == (urls[0], 200, b"body") and "filename" in headers["content-disposition"]
