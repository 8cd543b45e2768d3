"""Content hash over the normalised extracted record, never over raw HTML.

A rotating BREAKING ticker, a new "Most Read" box or a changed timestamp in
the page chrome must not make an article look new; only what the extractor
keeps counts.
"""
from __future__ import annotations

import hashlib
import json
import unicodedata

from extractors.base import Article

# Fields that define "the same article". Chrome-derived fields (ticker,
# related links) and bookkeeping (extractor version, quality) are left out.
HASHED_FIELDS = ("title", "summary", "authors", "source", "published_at", "modified_at",
                 "section", "tags", "dateline", "body", "credits")


def normalise_text(text: str | None) -> str:
    r"""NFC, every run of whitespace one space, none at the ends. ``str.split()`` splits on the
    characters ``\s`` matches in a str pattern (both are ``str.isspace``), so this is
    ``re.sub(r"\s+", " ", text).strip()``, which it replaced, and every stored content hash stays
    the same (tests/test_hashing.py checks it), at a third of its CPU: it runs on every
    paragraph of every page (issue 12)."""
    if not text:
        return ""
    return " ".join(unicodedata.normalize("NFC", text).split())


def content_hash(article: Article) -> str:
    record = {}
    for name in HASHED_FIELDS:
        value = getattr(article, name)
        if isinstance(value, list):
            value = [normalise_text(v) for v in value]
        elif hasattr(value, "isoformat"):
            value = value.isoformat()
        elif name == "body":
            value = "\n\n".join(normalise_text(p) for p in (value or "").split("\n\n") if p.strip())
        else:
            value = normalise_text(value)
        record[name] = value
    blob = json.dumps(record, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.blake2b(blob, digest_size=16).hexdigest()
