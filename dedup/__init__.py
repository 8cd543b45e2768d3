"""Deduplication: content hashes (hashing), canonical URLs (urls), near-duplicates (neardup,
neardup_segments), BREAKING ticker items (ticker), learned boilerplate (boilerplate) and
cross-source stories (stories); ``state`` loads and saves the indexes of an archive."""
from .hashing import content_hash, normalise_text

__all__ = ["content_hash", "normalise_text"]
