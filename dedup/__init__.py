"""Deduplication: content hashes now; canonical URLs, near duplicates, ticker and stories later."""
from .hashing import content_hash, normalise_text

__all__ = ["content_hash", "normalise_text"]
