"""Near-duplicate detection: MinHash signatures (rensa) + banded LSH, persisted across runs.

A body is normalised (NFKC, casefold, words = ``\\w+`` runs, punctuation dropped) and cut
into word 5-gram shingles; rensa's ``RMinHash`` turns the shingle set into ``num_perm``
32-bit minima. Bodies with fewer than ``min_tokens`` words get no signature and never
match: one-liners ("Watch the video") would collide with each other.

Why our own band tables instead of rensa's ``RMinHashLSH``: the index must be saved
incrementally and reloaded by another process, and rensa only pickles the whole LSH. We
keep the signatures (the only state that matters) in append-only segment files and
rebuild the band tables from them on load, which is a few vectorised numpy passes.

Band tables: ``bands`` bands of ``num_perm // bands`` rows; a band's rows are folded into
one 64-bit key (band number mixed in). Recent keys live in a dict (full 64-bit keys);
every ``_FREEZE_AT`` keys, and on load, they go into one sorted array of the keys' upper
32 bits (``uint32``) with a parallel ``int32`` array of document numbers: 8 bytes per key
instead of ~100 in a dict, searched with ``np.searchsorted``. The 32-bit keys let in a few
chance candidates (n_docs * bands / 2**32 per query key: ~0.24 per query at 1M documents);
every candidate is verified by the signature estimate (share of equal minima) against
``threshold``, and one that passes must also share a full 64-bit band key with the query,
so the results are exactly those of 64-bit band tables.

Memory: the band arrays are the only per-document state a loaded index holds (256 bytes
per document at 32 bands). Signatures and ids of saved documents stay in the segment
files, kept open: a lookup reads its candidates' signature rows with one ``os.pread`` each
(512 bytes; ~1 us), and the id of a match likewise. The files are plain ``.npy`` arrays
that ``np.load(..., mmap_mode="r")`` can map, but the index does not map them: on this
machine's kernel (Linux 6.18, ext4 with large folios) touching one mapped row mapped
~384 KiB of page cache into the process, so 6,250 lookups on a 100,000-document index
added its whole signature file (47 MiB) to the RSS, and unmapping after each lookup
(``madvise(MADV_DONTNEED)``) cost more than the reads. Loading computes the band keys
from the signature files in blocks of ``_LOAD_ROWS`` rows. Documents added in this
process live in memory until ``save``, which serves them from the segment it wrote after.

On disk: ``dedup/neardup_segments.py`` (append-only segment files, format 2; format 1 still loads).
"""
from __future__ import annotations

import json
import logging
import os
import re
import time
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import rensa

from .neardup_segments import _LOAD_TRIES, FORMAT, _compact, _listing, _Segment, _write_segment

_WORD = re.compile(r"\w+")
_UNKNOWN: Any = object()
_INITIAL_ROWS = 1 << 10   # signature rows of new documents allocated at the first one; grows by 1.5x
_FREEZE_AT = 1 << 21      # dict keys before merging into the sorted arrays
_log = logging.getLogger(__name__)


def tokens(text: str) -> list[str]:
    """Normalised words of a body: NFKC, casefolded, punctuation and markup characters dropped."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def shingles(words: list[str], n: int) -> list[str]:
    if len(words) < n:
        return [" ".join(words)]
    return list(map(" ".join, zip(*(words[k:] for k in range(n)))))   # zip: no slice per shingle


class NearDupIndex:
    """MinHash LSH over article bodies; ``check_and_add`` is the one call the pipeline needs."""

    def __init__(self, threshold: float = 0.5, num_perm: int = 128, *, bands: int = 32, shingle: int = 5,
                 min_tokens: int = 15, seed: int = 1):
        if num_perm % bands:
            raise ValueError("num_perm must be a multiple of bands")
        self.threshold, self.num_perm, self.bands = threshold, num_perm, bands
        self.shingle, self.min_tokens, self.seed = shingle, min_tokens, seed
        self.rows = num_perm // bands
        rng = np.random.default_rng(0x5EED + seed)
        # Odd 64-bit multipliers fold a band's rows into one key; wrapping multiplication is intended.
        self._mult = (rng.integers(1, 2**63, size=(self.rows,), dtype=np.uint64) << np.uint64(1)) | np.uint64(1)
        self._band_salt = rng.integers(1, 2**63, size=(bands,), dtype=np.uint64)
        # Saved documents: segments (read from their files), document i of segment s is number _starts[s] + i.
        self._segs: list[_Segment] = []
        self._starts = np.zeros(1, dtype=np.int64)      # segment starts, then the number saved
        self._saved = 0
        # Documents added since (numbers _saved + k): in memory until save.
        self._ids: list[str] = []
        self._sig = np.empty((0, num_perm), dtype=np.uint32)
        self._live: dict[int, int | list[int]] = {}     # full 64-bit band key -> doc number(s)
        self._frozen_keys = np.empty(0, dtype=np.uint32)    # upper 32 bits of band keys, sorted
        self._frozen_docs = np.empty(0, dtype=np.int32)

    # ---- signatures ----
    def signature(self, text: str) -> np.ndarray | None:
        """The MinHash signature of a body, or None when it is too short to match."""
        words = tokens(text)
        if len(words) < self.min_tokens:
            return None
        m = rensa.RMinHash(num_perm=self.num_perm, seed=self.seed)
        m.update(shingles(words, self.shingle))
        return np.asarray(m.digest(), dtype=np.uint32)

    def _band_keys(self, sig: np.ndarray) -> np.ndarray:
        """(…, num_perm) uint32 -> (…, bands) uint64 band keys."""
        b = sig.reshape(sig.shape[:-1] + (self.bands, self.rows)).astype(np.uint64)
        # Integer arrays wrap silently (numpy warns of overflow for scalars only), so no
        # np.errstate here: entering one cost more than the arithmetic (a contextvar set).
        return (b * self._mult).sum(axis=-1, dtype=np.uint64) ^ self._band_salt

    @staticmethod
    def _short(keys: np.ndarray) -> np.ndarray:
        return (keys >> np.uint64(32)).astype(np.uint32)

    # ---- lookup ----
    def _candidates(self, keys: np.ndarray) -> np.ndarray:
        """Indexed docs sharing at least one band key (upper 32 bits in the sorted arrays) with
        ``keys``: sorted, unique (int array). On templated news text a query meets hundreds of
        chance band collisions at 1M docs, so everything after the band lookup is vectorised."""
        parts = []
        if len(self._frozen_keys):
            short = self._short(keys)
            lo = np.searchsorted(self._frozen_keys, short, "left")
            hi = np.searchsorted(self._frozen_keys, short, "right")
            hit = hi > lo
            parts += [self._frozen_docs[a:b] for a, b in zip(lo[hit].tolist(), hi[hit].tolist())]
        live, found = self._live, []
        for k in keys.tolist():
            v = live.get(k)
            if v is not None:
                found.extend(v) if isinstance(v, list) else found.append(v)
        if found:
            parts.append(np.array(found, dtype=np.int32))
        return np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int32)

    def _sig_rows(self, docs: np.ndarray) -> np.ndarray:
        """Signature rows of the sorted doc numbers ``docs``: only those rows are read from the
        segment files."""
        saved = self._saved
        if docs[0] >= saved:                        # all added in this process (or nothing saved)
            return self._sig[docs - saved]
        cut = len(docs) if docs[-1] < saved else int(np.searchsorted(docs, saved))
        parts = []
        if cut:
            on_disk = docs[:cut]
            bounds = np.searchsorted(on_disk, self._starts)     # candidates of segment s: bounds[s]:bounds[s+1]
            for s in np.flatnonzero(bounds[1:] > bounds[:-1]).tolist():
                parts.append(self._segs[s].rows(on_disk[bounds[s]:bounds[s + 1]] - self._starts[s]))
        if cut < len(docs):
            parts.append(self._sig[docs[cut:] - saved])
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _id(self, i: int) -> str:
        saved = self._saved
        if i >= saved:
            return self._ids[i - saved]
        s = int(np.searchsorted(self._starts, i, "right")) - 1
        return self._segs[s].id(i - int(self._starts[s]))

    def _matches(self, sig: np.ndarray, keys: np.ndarray | None = None) -> list[tuple[int, float]]:
        """``(doc index, estimated Jaccard)`` of candidates at or above the threshold, by index.
        ``keys``: ``_band_keys(sig)`` when already worked out."""
        if keys is None:
            keys = self._band_keys(sig)
        cands = self._candidates(keys)
        if not len(cands):
            return []
        rows = self._sig_rows(cands)
        est = (rows == sig).mean(axis=1)
        keep = est >= self.threshold
        if keep.any():   # a candidate only by its 32-bit key must share a full 64-bit band key too
            keep[keep] = (self._band_keys(rows[keep])[:, :, None] == keys).any(axis=(1, 2))
        return list(zip(cands[keep].tolist(), est[keep].tolist()))

    def query(self, text: str) -> list[tuple[str, float]]:
        """Indexed documents whose estimated Jaccard with ``text`` is >= threshold, best first."""
        sig = self.signature(text)
        if sig is None:
            return []
        hits = sorted(self._matches(sig), key=lambda t: (-t[1], t[0]))
        return [(self._id(i), e) for i, e in hits]

    # ---- insertion ----
    def _insert(self, doc_id: str, sig: np.ndarray, keys: np.ndarray | None = None) -> None:
        n = len(self._ids)
        if n == len(self._sig):
            grown = np.empty((max(_INITIAL_ROWS, n * 3 // 2), self.num_perm), dtype=np.uint32)
            grown[:n] = self._sig[:n]
            self._sig = grown
        self._sig[n] = sig
        self._ids.append(doc_id)
        idx = self._saved + n
        live = self._live
        for k in (self._band_keys(sig) if keys is None else keys).tolist():
            hit = live.get(k)
            if hit is None:
                live[k] = idx
            elif isinstance(hit, list):
                hit.append(idx)
            else:
                live[k] = [hit, idx]
        if len(live) >= _FREEZE_AT:
            self._freeze()

    def _freeze(self) -> None:
        """Move the dict keys into the sorted arrays (one merge; amortised over _FREEZE_AT keys)."""
        keys, docs = [], []
        for k, v in self._live.items():
            if isinstance(v, list):
                keys.extend([k] * len(v))
                docs.extend(v)
            else:
                keys.append(k)
                docs.append(v)
        self._merge(self._short(np.array(keys, dtype=np.uint64)), np.array(docs, dtype=np.int32))
        self._live = {}

    def _merge(self, keys: np.ndarray, docs: np.ndarray) -> None:
        # Sort only the new keys, then one linear insert into the big sorted array
        # (an argsort of everything would cost O(n log n) on every freeze).
        order = np.argsort(keys, kind="stable")
        keys, docs = keys[order], docs[order]
        at = np.searchsorted(self._frozen_keys, keys, "right")
        self._frozen_keys = np.insert(self._frozen_keys, at, keys)
        self._frozen_docs = np.insert(self._frozen_docs, at, docs)

    def add(self, doc_id: str, text: str) -> None:
        """Index a document (no-op for bodies shorter than ``min_tokens`` words)."""
        sig = self.signature(text)
        if sig is not None:
            self._insert(doc_id, sig)

    def check_and_add(self, doc_id: str, text: str, signature: Any = _UNKNOWN) -> str | None:
        """The first-seen indexed document that ``text`` nearly duplicates (not indexed then);
        otherwise index it and return None. Matches of ``doc_id`` with itself (a re-crawl or an
        in-place update) do not count, and the new version is indexed too. ``signature``:
        ``self.signature(text)`` when already worked out (by an index of the same parameters,
        in a parse worker)."""
        sig = self.signature(text) if signature is _UNKNOWN else signature
        if sig is None:
            return None
        keys = self._band_keys(sig)          # once, for the lookup and the insertion
        for i, _ in self._matches(sig, keys):     # sorted by insertion order: first seen wins
            found = self._id(i)
            if found != doc_id:
                return found
        self._insert(doc_id, sig, keys)
        return None

    def __len__(self) -> int:
        return self._saved + len(self._ids)

    # ---- persistence ----
    def _meta(self) -> dict:
        return {"format": FORMAT, "num_perm": self.num_perm, "bands": self.bands, "shingle": self.shingle,
                "min_tokens": self.min_tokens, "seed": self.seed, "threshold": self.threshold,
                "minhash": f"rensa.RMinHash/{rensa.RMinHash.ALGORITHM_VERSION}"}

    def _append(self, seg: _Segment) -> None:
        self._segs.append(seg)
        self._saved += len(seg)
        self._starts = np.append(self._starts, self._saved)

    def save(self, path: Path) -> None:
        """Append the documents added since the last save as one new segment (their in-memory
        copy is dropped: lookups read them from the segment), then compact the segments."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta = path / "meta.json"
        if meta.exists():
            old = json.loads(meta.read_text())
            if {k: old.get(k) for k in ("num_perm", "bands", "shingle", "seed", "minhash")} != \
                    {k: self._meta()[k] for k in ("num_perm", "bands", "shingle", "seed", "minhash")}:
                raise ValueError(f"{path}: index was built with other parameters: {old}")
        tmp = path / f".meta-{os.getpid()}-{time.time_ns()}.tmp"     # per writer: saves run side by side
        tmp.write_text(json.dumps(self._meta(), indent=1))
        os.replace(tmp, meta)
        if self._ids:
            self._append(_write_segment(path, self._sig[:len(self._ids)], self._ids))
            self._ids = []
            self._sig = np.empty((0, self.num_perm), dtype=np.uint32)
        try:
            _compact(path, self.num_perm)
        except OSError:    # the saved documents are safe; the next save tries again
            _log.warning("%s: near-duplicate segment compaction failed", path, exc_info=True)

    @classmethod
    def load(cls, path: Path, **overrides) -> "NearDupIndex":
        """The index saved under ``path`` (an empty one if there is none yet). ``overrides`` may
        change ``threshold`` or ``min_tokens``, never the signature parameters."""
        path = Path(path)
        meta = json.loads((path / "meta.json").read_text()) if (path / "meta.json").exists() else {}
        if meta.get("format", 1) > FORMAT:
            raise ValueError(f"{path}: near-duplicate index format {meta['format']}, this build reads up to {FORMAT}")
        params = {k: meta[k] for k in ("threshold", "num_perm", "bands", "shingle", "min_tokens", "seed") if k in meta}
        params.update(overrides)
        idx = cls(**params)
        if meta and meta.get("minhash") != idx._meta()["minhash"]:
            raise ValueError(f"{path}: signatures from {meta.get('minhash')}, this build computes "
                             f"{idx._meta()['minhash']}; rebuild the index")
        for attempt in range(_LOAD_TRIES):
            segs, keys = [], []
            try:
                for stem, kind in _listing(path)[0]:
                    segs.append(_Segment.read(path, stem, kind, idx.num_perm,
                                              lambda rows: keys.append(idx._short(idx._band_keys(rows)).reshape(-1))))
                break
            except FileNotFoundError:    # a compaction replaced a segment between listing and opening it
                if attempt == _LOAD_TRIES - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        for seg in segs:
            idx._append(seg)
        if keys:
            keys = np.concatenate(keys)             # doc d's band keys at d * bands ... (d + 1) * bands - 1
            order = np.argsort(keys, kind="stable")
            idx._frozen_keys = keys[order]
            del keys
            order //= idx.bands
            idx._frozen_docs = order.astype(np.int32)
        return idx
