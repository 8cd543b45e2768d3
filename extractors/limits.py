"""Bounds on hostile pages, applied before any extractor sees them.

* **Bytes**: :class:`CappedDecoder` undoes ``Content-Encoding`` (gzip/deflate) with a cap on
  the *decompressed* size, chunk by chunk, so a 486 KB gzip bomb never expands to 500 MB in
  memory. The fetcher (``crawl.fetch``) and ``newsarchive extract`` share it.
* **Depth**: lexbor's tree builder checks element scopes by walking the stack of open
  elements, so building a tree costs O(tags x depth): 100k nested ``<div>`` take ~20 s, and
  recursive walks over such a tree hit Python's recursion limit. :func:`bound_depth` measures
  the nesting with one linear scan of the tags and, past :data:`MAX_DEPTH`, drops the excess
  tags (their text stays, in order). Extractors then see a page at most ``MAX_DEPTH`` deep and
  the record carries the quality flag ``too_deep``.

Browsers do the same: Blink's HTML parser stops nesting at 512 levels. Real article pages
are rarely deeper than ~40.
"""
from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass

from newsarchive.errors import NewsarchiveError

#: Deepest element nesting an extractor is given (a recursive walk of it stays far below
#: Python's default recursion limit of 1000 frames).
MAX_DEPTH = 256
TOO_DEEP = "too_deep"


class PageTooLarge(NewsarchiveError, ValueError):
    """A body whose decompressed size exceeds the cap; ``partial``: the output of the failing
    ``feed`` that still fits under it (so a caller can keep exactly ``max_bytes``)."""

    def __init__(self, message: str, partial: bytes = b""):
        super().__init__(message)
        self.partial = partial


class BadEncoding(NewsarchiveError, ValueError):
    """A body whose Content-Encoding (gzip/deflate) does not decode."""


# --------------------------------------------------------------------------- bytes

SUPPORTED_ENCODINGS = ("gzip", "x-gzip", "deflate", "identity")


class CappedDecoder:
    """Streaming decoder for one ``Content-Encoding`` with a cap on the decoded size.

    ``feed(chunk)`` returns the decoded bytes so far; it raises :class:`PageTooLarge` as soon as
    the output would pass ``max_bytes`` (never holding more than ``max_bytes + 1`` of it) and
    :class:`BadEncoding` on corrupt data. ``finish()`` raises :class:`BadEncoding` when the
    compressed stream stopped before its end marker.
    """

    def __init__(self, encoding: str | None, max_bytes: int):
        enc = (encoding or "identity").strip().lower()
        if enc not in SUPPORTED_ENCODINGS:
            raise BadEncoding(f"Content-Encoding {encoding!r} is not supported "
                              f"(supported: {', '.join(SUPPORTED_ENCODINGS)})")
        self.encoding = enc
        self.max_bytes = max_bytes
        self.size = 0
        self._fed = 0
        self._deflate_raw = False
        self._z = self._new()

    def _new(self):
        if self.encoding in ("gzip", "x-gzip"):
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        if self.encoding == "deflate":
            return zlib.decompressobj(-zlib.MAX_WBITS if self._deflate_raw else zlib.MAX_WBITS)
        return None

    def _count(self, out: bytes, parts: list[bytes] | None = None) -> bytes:
        room = self.max_bytes - self.size
        self.size += len(out)
        if self.size > self.max_bytes:
            raise PageTooLarge(f"the decompressed body exceeds {self.max_bytes} bytes",
                               partial=b"".join(parts or []) + out[:room])
        return out

    def feed(self, chunk: bytes) -> bytes:
        self._fed += len(chunk)
        if self._z is None:
            return self._count(chunk)
        parts: list[bytes] = []
        data = chunk
        while data:
            try:
                # max_length bounds what one call may produce: a bomb is stopped at cap + 1 bytes.
                out = self._z.decompress(data, self.max_bytes - self.size + 1)
            except zlib.error as e:
                if self.encoding == "deflate" and not self._deflate_raw and self.size == 0:
                    self._deflate_raw = True   # servers often send raw deflate (no zlib header)
                    self._z = self._new()
                    continue
                raise BadEncoding(f"the {self.encoding} body does not decode ({e})") from None
            parts.append(self._count(out, parts))
            if self._z.eof:
                data = self._z.unused_data          # a next gzip member (concatenated streams)
                if data and self.encoding in ("gzip", "x-gzip"):
                    self._z = self._new()
                    continue
                break
            data = self._z.unconsumed_tail
        return b"".join(parts)

    def finish(self) -> bytes:
        if self._z is None or not self._fed:   # no body at all (304, HEAD): nothing to decode
            return b""
        out = self._count(self._z.flush())
        if not self._z.eof:
            raise BadEncoding(f"the {self.encoding} body ends before its end marker")
        return out


def decompress(data: bytes, max_bytes: int, encoding: str = "gzip") -> bytes:
    """Decode a whole body, refusing past ``max_bytes`` of output (see :class:`CappedDecoder`)."""
    dec = CappedDecoder(encoding, max_bytes)
    return dec.feed(data) + dec.finish()


# --------------------------------------------------------------------------- depth

# A comment, a doctype/processing instruction, or a tag (groups: "/", name, attributes).
# Possessive quantifiers and no '<' inside a tag keep every failed attempt short: linear overall.
# (A quoted '>' inside an attribute ends the tag early here; the name, all depth needs, is right.)
_TOKEN = re.compile(r"<(?:!--.*?(?:-->|\Z)|[!?][^>]*+>?|(/?)([A-Za-z][^\s/<>]*+)([^<>]*+)>)", re.S)
_RAW_END: dict[str, re.Pattern] = {}
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr "
                  "basefont bgsound frame keygen image".split())
# Elements whose text is not markup: skip straight to their end tag.
_RAW_TEXT = frozenset("script style textarea title xmp iframe noembed noframes plaintext".split())
# A new one of these closes an open one of the same name (p, li, option...: optional end tags;
# a, nobr: the adoption agency closes them). Tree builders do not nest them.
_SELF_CLOSING_SIBLINGS = frozenset("p li dt dd option optgroup tr td th thead tbody tfoot rb rt rtc rp "
                                   "a nobr h1 h2 h3 h4 h5 h6".split())
_IGNORED_TAGS = frozenset({"html", "head", "body"})


@dataclass
class Bounded:
    text: str          # the page to parse (the input itself when it was within bounds)
    depth: int         # deepest nesting measured (0: not measured, the page cannot reach the bound)
    dropped: int       # tags removed to stay within max_depth


def bound_depth(html: str, max_depth: int = MAX_DEPTH) -> Bounded:
    """Measure the element nesting of ``html`` in one linear pass and drop the tags nested deeper
    than ``max_depth`` (start and end tag; the content stays). Approximate but conservative:
    implied end tags of common elements are modelled, so ordinary pages measure their real depth.
    """
    if html.count("<") <= max_depth or _most_pushes(html) <= max_depth:   # cannot be too deep
        return Bounded(html, 0, 0)
    return _scan(html, max_depth)


def _scan(html: str, max_depth: int) -> Bounded:
    """``bound_depth``'s linear pass, without the shortcut of pages that cannot be too deep."""
    stack: list[str] = []
    open_count: dict[str, int] = {}
    dropped_open: dict[str, int] = {}    # dropped start tags whose end tag is still to come
    excess = 0                           # sum of dropped_open
    cuts: list[tuple[int, int]] = []     # spans of dropped tags
    depth = 0
    pos = 0
    n = len(html)
    while pos < n:
        m = _TOKEN.search(html, pos)
        if m is None:
            break
        pos = m.end()
        name = m.group(2)
        if name is None:
            continue
        name = name.lower()
        if name in _IGNORED_TAGS:
            continue
        if m.group(1):                                   # end tag
            if dropped_open.get(name):
                dropped_open[name] -= 1
                excess -= 1
                cuts.append(m.span())
            elif open_count.get(name):
                _pop_to(stack, open_count, name)
            continue
        if name in _VOID or (m.group(3).endswith("/") and (open_count.get("svg") or open_count.get("math"))):
            continue                                     # no end tag (foreign elements may self-close)
        if name in _SELF_CLOSING_SIBLINGS and open_count.get(name):
            _pop_to(stack, open_count, name)
        if name in _RAW_TEXT:
            end_tag = _RAW_END.get(name) or _RAW_END.setdefault(name, re.compile(rf"</{name}\s*>", re.I))
            end = end_tag.search(html, pos)
            pos = end.end() if end else n
            continue
        if len(stack) >= max_depth:
            dropped_open[name] = dropped_open.get(name, 0) + 1
            excess += 1
            depth = max(depth, len(stack) + excess)
            cuts.append(m.span())
            continue
        stack.append(name)
        open_count[name] = open_count.get(name, 0) + 1
        depth = max(depth, len(stack))
    if not cuts:
        return Bounded(html, depth, 0)
    parts, last = [], 0
    for start, end in cuts:
        parts.append(html[last:start])
        last = end
    parts.append(html[last:])
    return Bounded("".join(parts), depth, len(cuts))


# Any "<name" (tag, or tag-like text in a comment or script): a superset of the start tags
# the scan below sees, with the very name it would read.
_ANY_START = re.compile(r"<([A-Za-z][^\s/<>]*+)")
_NEVER_PUSHED = _VOID | _RAW_TEXT | _IGNORED_TAGS


def _most_pushes(html: str) -> int:
    """An upper bound on the depth ``bound_depth`` measures, in one C-speed regex pass (a tenth
    of the scan's cost on a news page): the scan's stack only grows by start tags of elements
    other than void, raw-text and ignored ones, and each is one of these "<name" matches. News
    pages have ~150-250 of them, under MAX_DEPTH, so the scan (and its result) is skipped."""
    return sum(n for name, n in Counter(_ANY_START.findall(html)).items() if name.lower() not in _NEVER_PUSHED)


def _pop_to(stack: list[str], open_count: dict[str, int], name: str) -> None:
    """Close ``name`` and everything opened inside it (amortised O(1): each push pops once)."""
    while stack:
        top = stack.pop()
        open_count[top] -= 1
        if top == name:
            return
