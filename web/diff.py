"""Word-level differences between two versions of a text (difflib), for the article page."""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

# Words with the whitespace after them, so joining the pieces gives back the text.
_TOKEN = re.compile(r"\S+\s*|\s+")


@dataclass(frozen=True)
class Piece:
    op: str     # "same" | "del" | "ins"
    text: str


def word_diff(old: str | None, new: str | None) -> list[Piece]:
    """The pieces of ``new`` against ``old``: unchanged runs, deleted and inserted words."""
    a, b = _TOKEN.findall(old or ""), _TOKEN.findall(new or "")
    out: list[Piece] = []
    # autojunk off: long bodies would otherwise treat frequent words as junk and diff coarsely.
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            out.append(Piece("same", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(Piece("del", "".join(a[i1:i2])))
        if j2 > j1:
            out.append(Piece("ins", "".join(b[j1:j2])))
    return out


def counts(pieces: list[Piece]) -> tuple[int, int]:
    """(words deleted, words inserted)."""
    dels = sum(len(p.text.split()) for p in pieces if p.op == "del")
    ins = sum(len(p.text.split()) for p in pieces if p.op == "ins")
    return dels, ins


def shorten_same(pieces: list[Piece], context: int = 25) -> list[Piece]:
    """Long unchanged runs cut to ``context`` words on each side of a change ("…" between)."""
    out = []
    for n, p in enumerate(pieces):
        words = _TOKEN.findall(p.text)
        if p.op != "same" or len(words) <= 2 * context + 1:
            out.append(p)
            continue
        head = "".join(words[:context]) if n > 0 else ""
        tail = "".join(words[-context:]) if n < len(pieces) - 1 else ""
        out.append(Piece("same", head + (" … " if head or tail else "…") + tail))
    return out
