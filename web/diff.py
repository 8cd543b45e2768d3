"""Word-level differences between two versions of a text (difflib), for the article page."""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

# A word and the whitespace after it: words are compared, whitespace is carried along, so
# "says" -> "says - update" keeps "says" equal and paragraph breaks survive in the output.
_WORD = re.compile(r"(\S+)(\s*)")


@dataclass(frozen=True)
class Piece:
    op: str     # "same" | "del" | "ins"
    text: str


def _words(text: str | None) -> tuple[list[str], list[str]]:
    pairs = _WORD.findall(text or "")
    return [w for w, _ in pairs], [w + s for w, s in pairs]


def word_diff(old: str | None, new: str | None) -> list[Piece]:
    """The pieces of ``new`` against ``old``: unchanged runs, deleted and inserted words."""
    (a, a_text), (b, b_text) = _words(old), _words(new)
    out: list[Piece] = []
    # autojunk off: long bodies would otherwise treat frequent words as junk and diff coarsely.
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            out.append(Piece("same", "".join(b_text[j1:j2])))
            continue
        if i2 > i1:
            out.append(Piece("del", "".join(a_text[i1:i2])))
        if j2 > j1:
            out.append(Piece("ins", "".join(b_text[j1:j2])))
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
        _, words = _words(p.text)
        if p.op != "same" or len(words) <= 2 * context + 1:
            out.append(p)
            continue
        after_prev = "".join(words[:context]) if n > 0 else ""
        before_next = "".join(words[-context:]) if n < len(pieces) - 1 else ""
        out.append(Piece("same", after_prev + ("… " if after_prev.endswith(" ") else " … ")
                         + before_next if (after_prev or before_next) else "…"))
    return out
