"""BREAKING ticker items: one identity key per item, so each is stored once per site.

The same item comes back on every page for hours, re-typed by hand in between: curly or
straight quotes, an en dash for a hyphen, a double space, "BREAKING:" styling. The key
keeps only what makes it a different statement: letters and digits, in NFC, casefolded,
single-spaced. Numbers are kept as written, so "12 killed" and "15 killed" stay distinct.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Iterable

# Every Unicode punctuation (P*) and symbol (S*) character becomes a space: quotes, dashes,
# colons, ellipses, bullets. Apostrophes inside words are dropped instead ("Mayadeen's").
_APOSTROPHES = re.compile(r"(?<=\w)['\u2019\u02bc](?=\w)")
_WS = re.compile(r"\s+")
# The ticker's own label is styling, not content ("BREAKING: x" is item "x").
_LABEL = re.compile(r"^(?:breaking(?: news)?|urgent|just in|developing)\s+(?=\S)")


def normalize_ticker(text: str) -> str:
    """The identity key of a ticker item: NFC, casefold, punctuation/quotes/dashes removed,
    whitespace collapsed."""
    text = unicodedata.normalize("NFC", text).casefold()
    text = _APOSTROPHES.sub("", text)
    text = "".join(" " if unicodedata.category(ch)[0] in "PSZ" or ch.isspace() else ch for ch in text)
    return _LABEL.sub("", _WS.sub(" ", text).strip())


def distinct_items(items: Iterable[str]) -> dict[str, str]:
    """``{key: first text seen}`` for the items, in first-seen order; empty items are skipped."""
    out: dict[str, str] = {}
    for text in items:
        key = normalize_ticker(text or "")
        if key and key not in out:
            out[key] = text.strip()
    return out
