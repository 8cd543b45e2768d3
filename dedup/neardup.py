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
one 64-bit key (band number mixed in). Recent keys live in a dict; every
``_FREEZE_AT`` keys they are merged into one sorted ``uint64`` array (12 bytes per key
instead of ~100 in a dict), searched with ``np.searchsorted``. Candidates sharing a band
are verified by the signature estimate (share of equal minima) against ``threshold``.

On-disk format (``save``/``load``), one directory:
  ``meta.json``       {"format": 1, "num_perm", "bands", "shingle", "min_tokens", "seed",
                       "threshold", "minhash": "rensa.RMinHash/<ALGORITHM_VERSION>"}
  ``seg-<time_ns>-<pid>.npz``  one per ``save`` call with new documents: ``ids`` (unicode array) and
                      ``sig`` (uint32, len(ids) x num_perm) in insertion order. Written to a
                      temporary name and renamed, so a crash never leaves half a segment.
Segments are only appended; loading reads them in name order.
"""
from __future__ import annotations

import json
import os
import re
import time
import unicodedata
from pathlib import Path

import numpy as np
import rensa

FORMAT = 1
_WORD = re.compile(r"\w+")
_INITIAL_ROWS = 1 << 14   # signature rows allocated up front; grows by 1.5x
_FREEZE_AT = 1 << 21      # dict keys before merging into the sorted arrays
_MASK = (1 << 64) - 1


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
        self._ids: list[str] = []
        self._sig = np.empty((_INITIAL_ROWS, num_perm), dtype=np.uint32)   # one row per indexed doc
        self._live: dict[int, int | list[int]] = {}
        self._frozen_keys = np.empty(0, dtype=np.uint64)
        self._frozen_docs = np.empty(0, dtype=np.int32)
        self._saved = 0     # documents already written to segment files

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
        with np.errstate(over="ignore"):
            return (b * self._mult).sum(axis=-1, dtype=np.uint64) ^ self._band_salt

    # ---- lookup ----
    def _candidates(self, keys: np.ndarray) -> np.ndarray:
        """Indexed docs sharing at least one band with ``keys``: sorted, unique (int array).
        On templated news text a query meets hundreds of chance band collisions at 1M docs, so
        everything after the band lookup is vectorised."""
        parts = []
        if len(self._frozen_keys):
            lo = np.searchsorted(self._frozen_keys, keys, "left")
            hi = np.searchsorted(self._frozen_keys, keys, "right")
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

    def _matches(self, sig: np.ndarray) -> list[tuple[int, float]]:
        """``(doc index, estimated Jaccard)`` of candidates at or above the threshold, by index."""
        cands = self._candidates(self._band_keys(sig))
        if not len(cands):
            return []
        est = (self._sig[cands] == sig).mean(axis=1)
        keep = est >= self.threshold
        return list(zip(cands[keep].tolist(), est[keep].tolist()))

    def query(self, text: str) -> list[tuple[str, float]]:
        """Indexed documents whose estimated Jaccard with ``text`` is >= threshold, best first."""
        sig = self.signature(text)
        if sig is None:
            return []
        hits = sorted(self._matches(sig), key=lambda t: (-t[1], t[0]))
        return [(self._ids[i], e) for i, e in hits]

    # ---- insertion ----
    def _insert(self, doc_id: str, sig: np.ndarray) -> None:
        idx = len(self._ids)
        if idx == len(self._sig):
            grown = np.empty((len(self._sig) * 3 // 2, self.num_perm), dtype=np.uint32)
            grown[:idx] = self._sig
            self._sig = grown
        self._sig[idx] = sig
        self._ids.append(doc_id)
        live = self._live
        for k in self._band_keys(sig).tolist():
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
        self._merge(np.array(keys, dtype=np.uint64), np.array(docs, dtype=np.int32))
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

    def check_and_add(self, doc_id: str, text: str) -> str | None:
        """The first-seen indexed document that ``text`` nearly duplicates (not indexed then);
        otherwise index it and return None. Matches of ``doc_id`` with itself (a re-crawl or an
        in-place update) do not count, and the new version is indexed too."""
        sig = self.signature(text)
        if sig is None:
            return None
        for i, _ in self._matches(sig):     # sorted by insertion order: first seen wins
            if self._ids[i] != doc_id:
                return self._ids[i]
        self._insert(doc_id, sig)
        return None

    def __len__(self) -> int:
        return len(self._ids)

    # ---- persistence ----
    def _meta(self) -> dict:
        return {"format": FORMAT, "num_perm": self.num_perm, "bands": self.bands, "shingle": self.shingle,
                "min_tokens": self.min_tokens, "seed": self.seed, "threshold": self.threshold,
                "minhash": f"rensa.RMinHash/{rensa.RMinHash.ALGORITHM_VERSION}"}

    def save(self, path: Path) -> None:
        """Append the documents added since the last save as one new segment file."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta = path / "meta.json"
        if meta.exists():
            old = json.loads(meta.read_text())
            if {k: old.get(k) for k in ("num_perm", "bands", "shingle", "seed", "minhash")} != \
                    {k: self._meta()[k] for k in ("num_perm", "bands", "shingle", "seed", "minhash")}:
                raise ValueError(f"{path}: index was built with other parameters: {old}")
        tmp = meta.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._meta(), indent=1))
        os.replace(tmp, meta)
        if self._saved == len(self._ids):
            return
        # Named by save time and process, not by a counter: runs in several processes (backfill
        # chunks on several workers) append segments side by side without overwriting each
        # other's; name order is save order (and older counter names sort first).
        name = f"seg-{time.time_ns():020d}-{os.getpid()}"
        rows = self._sig[self._saved:len(self._ids)]
        seg = path / f"{name}.npz"
        tmp = path / f".{name}.tmp.npz"
        np.savez(tmp, ids=np.array(self._ids[self._saved:], dtype=str), sig=rows)
        os.replace(tmp, seg)
        self._saved = len(self._ids)

    @classmethod
    def load(cls, path: Path, **overrides) -> "NearDupIndex":
        """The index saved under ``path`` (an empty one if there is none yet). ``overrides`` may
        change ``threshold`` or ``min_tokens``, never the signature parameters."""
        path = Path(path)
        meta = json.loads((path / "meta.json").read_text()) if (path / "meta.json").exists() else {}
        params = {k: meta[k] for k in ("threshold", "num_perm", "bands", "shingle", "min_tokens", "seed") if k in meta}
        params.update(overrides)
        idx = cls(**params)
        if meta and meta.get("minhash") != idx._meta()["minhash"]:
            raise ValueError(f"{path}: signatures from {meta.get('minhash')}, this build computes "
                             f"{idx._meta()['minhash']}; rebuild the index")
        segs = sorted(path.glob("seg-*.npz"))
        if not segs:
            return idx
        ids, sigs = [], []
        for seg in segs:
            with np.load(seg) as z:
                ids.extend(z["ids"].tolist())
                sigs.append(z["sig"])
        sig = np.concatenate(sigs)
        idx._sig = np.empty((max(_INITIAL_ROWS, len(sig) * 5 // 4), idx.num_perm), dtype=np.uint32)
        idx._sig[: len(sig)] = sig
        del sigs
        idx._ids = ids
        keys = idx._band_keys(sig).reshape(-1)
        docs = np.repeat(np.arange(len(ids), dtype=np.int32), idx.bands)
        idx._merge(keys, docs)
        idx._saved = len(ids)
        return idx
