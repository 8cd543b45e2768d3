"""BREAKING ticker items: one identity key per item, so each is stored once per site.

The same item comes back on every page for hours, re-typed by hand in between: curly or
straight quotes, an en dash for a hyphen, a double space, "BREAKING:" styling. The key
keeps only what makes it a different statement: letters and digits, in NFC, casefolded,
single-spaced. Numbers are kept as written, so "12 killed" and "15 killed" stay distinct.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Iterable

# Every Unicode punctuation (P*) and symbol (S*) character becomes a space: quotes, dashes,
# colons, ellipses, bullets. Apostrophes inside words are dropped instead ("Mayadeen's").
# (The quote is matched first and the word character before it by a lookbehind: a leading
# lookbehind would be tried at every position of the text, 6x slower.)
_APOSTROPHES = re.compile(r"['\u2019\u02bc](?<=\w.)(?=\w)")
# The ticker's own label is styling, not content ("BREAKING: x" is item "x").
_LABEL = re.compile(r"^(?:breaking(?: news)?|urgent|just in|developing)\s+(?=\S)")


_SPACED: dict[str, bool] = {}   # char -> becomes a space; filled on first sight of each char


def _spaced(ch: str) -> bool:
    out = _SPACED[ch] = unicodedata.category(ch)[0] in "PSZ" or ch.isspace()
    return out


_LABEL_STARTS = ("breaking", "urgent", "just in", "developing")


def _spaced_out(text: str, keep: str = "") -> str:
    """NFC, casefolded, apostrophes inside words dropped, every punctuation, symbol and space
    character but ``keep`` turned into a space (not yet collapsed)."""
    text = unicodedata.normalize("NFC", text).casefold()
    if "'" in text or "\u2019" in text or "\u02bc" in text:
        text = _APOSTROPHES.sub("", text)
    # One str.replace per distinct punctuation/symbol/space character of the text, instead of a
    # unicodedata.category call per character: ~10x faster on a body paragraph, and
    # strip_ticker_lines normalises every paragraph of every article.
    for ch in set(text):
        if ch not in keep and (_SPACED.get(ch) or (ch not in _SPACED and _spaced(ch))):
            text = text.replace(ch, " ")
    return text


def _key(spaced: str) -> str:
    """Whitespace collapsed, the ticker's label dropped."""
    text = " ".join(spaced.split())
    return _LABEL.sub("", text) if text.startswith(_LABEL_STARTS) else text


@lru_cache(maxsize=4096)   # the same items come back on every page of the run
def normalize_ticker(text: str) -> str:
    """The identity key of a ticker item: NFC, casefold, punctuation/quotes/dashes removed,
    whitespace collapsed."""
    return _key(_spaced_out(text))


def paragraph_keys(body: str) -> list[str]:
    """``[normalize_ticker(p) for p in body.split("\n\n")]`` in one pass over the body (a third
    less CPU: the parse workers key every paragraph of every article). The same steps apply to
    the whole body: "\n" never composes, case-folds or joins with a neighbour, and an apostrophe
    beside it is not between word characters, so every step but the space-making one gives the
    paragraphs' results joined by "\n\n"; that one leaves "\n" alone until the paragraphs are
    split apart, and each paragraph's own whitespace collapse turns a lone "\n" into a space."""
    return [_key(part) for part in _spaced_out(body, keep="\n").split("\n\n")]


def distinct_items(items: Iterable[str]) -> dict[str, str]:
    """``{key: first text seen}`` for the items, in first-seen order; empty items are skipped."""
    out: dict[str, str] = {}
    for text in items:
        key = normalize_ticker(text or "")
        if key and key not in out:
            out[key] = text.strip()
    return out
