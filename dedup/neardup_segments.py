"""Segment files of the near-duplicate index (dedup.neardup.NearDupIndex.save/load).

On-disk format (``save``/``load``), one directory, format 2:
  ``meta.json``       {"format": 2, "num_perm", "bands", "shingle", "min_tokens", "seed",
                       "threshold", "minhash": "rensa.RMinHash/<ALGORITHM_VERSION>"}
  a segment ``<stem>``, ``stem = seg-<time_ns>-<pid>`` (one per ``save`` with new documents;
  time and process make the names unique when several processes save side by side; a
  shared archive's workers, whose pids repeat across hosts, add a random per-process tag,
  ``seg-<time_ns>-<pid>-<tag>``, and name past the newest segment, see ``writer_tag``):
    ``<stem>.ids.npy``   uint8, the UTF-8 ids of its documents concatenated
    ``<stem>.ends.npy``  int64, end offset of each id in ``ids`` (id j = ids[ends[j-1]:ends[j]])
    ``<stem>.sig.npy``   uint32, n x num_perm signatures, in insertion order
    The files are written under temporary ``.seg-tmp-*`` names and renamed, ``.sig.npy``
    last: it marks the segment complete. Files of a stem without ``.sig.npy`` (a crash
    between the renames) and temporary files are ignored, and deleted by a compaction
    once they are ``_STALE_S`` (an hour) old.
  a merged segment ``seg-<first member's time_ns-pid>~<time_ns>-<pid>``: the same three
    files plus ``<stem>.members.json`` (the stems it replaces, written before its
    ``.sig.npy``). Its members are ignored while they still exist.
  Segments are read in order of their first document's save (the name up to ``~``), so
  name order is save order across processes, and ``check_and_add``'s first seen document
  is the same in every process.

Compaction (end of ``save``; skipped while another process holds ``.compact.lock``): every
segment keeps 3 files open and scheduled runs save dozens of small segments a day, so the
tail of the segment list is merged into one segment while the segment before it is at
most twice the merged tail (a binary counter: a simulation of 26,000 saves of 20-400
documents kept at most 13 segments, each document rewritten ~9 times; 160 backfill chunks
of ~6,000 kept at most 6). Only segments named more than ``_SETTLE_S`` seconds ago are
merged (names are taken just before the renames), so a segment another process is still
renaming into place cannot fall inside a merge. The merged files are fsynced and renamed
into place before the members are deleted (each ``.sig.npy`` first); after a crash in
between, loads ignore the members and the next compaction deletes them. A load that finds
a segment gone between listing and opening it (a concurrent compaction) lists again.
Members are copied with plain file I/O, so a merge does not grow the process memory (a
format-1 member is read whole, one at a time).

Format 1 (``seg-<time_ns>-<pid>.npz``: ``ids`` unicode array, ``sig`` uint32 n x num_perm,
written by earlier versions; meta.json ``"format": 1``) still loads, with identical
answers: such a segment is read into memory as before and takes its place in name order
among format-2 segments. The first compaction that finds it settled rewrites it, and every
segment after it, in format 2 and deletes the ``.npz``. Code that only knows format 1
would not see format-2 segments: do not run it on the same directory.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import time
import zipfile
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Iterator

import numpy as np

from newsarchive.fsutil import fsync_path

FORMAT = 2
_LOAD_ROWS = 1 << 13      # signature rows read at a time while rebuilding band keys on load
_LOAD_TRIES = 5           # listings tried when a compaction deletes a segment being loaded
_SETTLE_S = 60            # segments named more recently are never compacted
_STALE_S = 3600           # crash leftovers (temporary files, unmarked segment files) older than this are removed
_LOCK = ".compact.lock"
_log = logging.getLogger(__name__)
_WRITER_TAG: ContextVar[str] = ContextVar("neardup_writer_tag", default="")


@contextmanager
def writer_tag(tag: str) -> Iterator[None]:
    """Segments written (and merged) inside are named ``...-<pid>-<tag>``: pids are unique on
    one host only, and a shared archive's workers on several hosts write into one index.
    ``tag``: letters and digits (no ``-~.``, which the names' parsing splits on)."""
    if not tag.isalnum():
        raise ValueError(f"near-duplicate segment writer tag {tag!r}: letters and digits only")
    token = _WRITER_TAG.set(tag)
    try:
        yield
    finally:
        _WRITER_TAG.reset(token)


def _writer() -> str:
    """The writer part of a segment name: the pid, plus the tag inside ``writer_tag``."""
    tag = _WRITER_TAG.get()
    return f"{os.getpid()}-{tag}" if tag else str(os.getpid())


# ---- segment files ----
def _npy_header(f) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of the .npy file ``f``, leaving it positioned at the data."""
    version = np.lib.format.read_magic(f)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(f)
    if fortran:
        raise ValueError(f"{getattr(f, 'name', f)}: Fortran-ordered array")
    return shape, dtype


def _save_npy(p: Path, arr: np.ndarray) -> None:
    with open(p, "wb") as f:
        np.save(f, arr)


def _start(stem: str) -> str:
    """Name part that orders a segment: its (first member's) ``<time_ns>-<pid>``."""
    return stem[4:].split("~", 1)[0]


def _settled(stem: str, now: int) -> bool:
    """Whether no segment named before this one can still be on its way into the directory."""
    if "~" in stem:                                  # merged under the lock: its members were settled
        return True
    t = _start(stem).split("-", 1)[0]
    return not t.isdigit() or now - int(t) >= _SETTLE_S * 1_000_000_000


def _listing(path: Path) -> tuple[list[tuple[str, str]], set[str]]:
    """Complete segments in save order as ``(stem, kind)`` (kind "npy", or "npz" for format 1),
    and the stems still present whose documents a merged segment holds."""
    found = {p.name[: -len(".sig.npy")]: "npy" for p in path.glob("seg-*.sig.npy")}
    for p in path.glob("seg-*.npz"):
        found.setdefault(p.name[: -len(".npz")], "npz")
    hidden = set()
    for stem in found:
        if "~" in stem:
            hidden.update(json.loads((path / f"{stem}.members.json").read_text()))
    visible = sorted((s for s in found if s not in hidden), key=lambda s: (_start(s), s))
    return [(s, found[s]) for s in visible], hidden & found.keys()


def _remove(path: Path, stem: str) -> None:
    """Delete a segment's files, the marker first so that no half segment is ever visible."""
    for suffix in (".sig.npy", ".npz", ".ids.npy", ".ends.npy", ".members.json"):
        (path / f"{stem}{suffix}").unlink(missing_ok=True)


class _NpyFile:
    """An open .npy file read with ``os.pread`` (no file position, no mapping)."""
    __slots__ = ("f", "shape", "dtype", "at")

    def __init__(self, p: Path):
        self.f = open(p, "rb", buffering=0)
        try:
            self.shape, self.dtype = _npy_header(self.f)
        except BaseException:
            self.f.close()
            raise
        self.at = self.f.tell()

    def read(self, start: int, count: int) -> bytes:
        """``count`` items from item ``start`` of the flattened array."""
        size = self.dtype.itemsize
        data = os.pread(self.f.fileno(), count * size, self.at + start * size)
        if len(data) != count * size:
            raise ValueError(f"{self.f.name}: truncated")
        return data


class _Segment:
    """One segment's documents. Format 2: its three open files (``files``), from which a lookup
    reads single signature rows and ids; nothing of them is held in memory. Format 1: ``sig``
    (n x num_perm) and ``names`` (unicode) arrays in memory."""
    __slots__ = ("stem", "n", "files", "sig", "names")

    def __init__(self, stem: str, n: int, files: dict[str, _NpyFile] | None = None,
                 sig: np.ndarray | None = None, names: np.ndarray | None = None):
        self.stem, self.n, self.files, self.sig, self.names = stem, n, files, sig, names

    def __len__(self) -> int:
        return self.n

    def rows(self, local: np.ndarray) -> np.ndarray:
        """Signature rows ``local`` (sorted): one pread each, in file order."""
        if self.sig is not None:
            return self.sig[local]
        f = self.files["sig"]
        width = f.shape[1] * 4
        fd, at = f.f.fileno(), f.at
        data = b"".join([os.pread(fd, width, at + r * width) for r in local.tolist()])
        if len(data) != len(local) * width:
            raise ValueError(f"{f.f.name}: truncated")
        return np.frombuffer(data, dtype=np.uint32).reshape(len(local), f.shape[1])

    def id(self, j: int) -> str:
        if self.names is not None:
            return str(self.names[j])
        ends = self.files["ends"]
        a, b = np.frombuffer(ends.read(j - 1, 2), ends.dtype).tolist() if j else \
            (0, int(np.frombuffer(ends.read(0, 1), ends.dtype)[0]))
        return self.files["ids"].read(a, b - a).decode("utf-8")

    @classmethod
    def read(cls, path: Path, stem: str, kind: str, num_perm: int, on_rows=None) -> "_Segment":
        """Open a complete segment; ``on_rows`` gets its signature rows block by block."""
        if kind == "npz":
            with np.load(path / f"{stem}.npz") as z:
                sig, names = z["sig"], z["ids"]
            if sig.dtype != np.uint32 or sig.ndim != 2 or sig.shape[1] != num_perm or len(sig) != len(names):
                raise ValueError(f"{path / stem}.npz: {len(names)} ids and signatures {sig.dtype} {sig.shape}, "
                                 f"expected uint32 (n, {num_perm})")
            for a in range(0, len(sig), _LOAD_ROWS) if on_rows else ():
                on_rows(sig[a:a + _LOAD_ROWS])
            return cls(stem, len(sig), sig=sig, names=names)
        files = {}
        try:
            for k in ("ids", "ends", "sig"):
                files[k] = _NpyFile(path / f"{stem}.{k}.npy")
            sig, ids, ends = files["sig"], files["ids"], files["ends"]
            n = sig.shape[0] if len(sig.shape) == 2 else -1
            if (sig.dtype != np.uint32 or sig.shape != (n, num_perm) or ids.dtype != np.uint8
                    or len(ids.shape) != 1 or ends.dtype.kind != "i" or ends.shape != (n,)
                    or (n and int(np.frombuffer(ends.read(n - 1, 1), ends.dtype)[0]) != ids.shape[0])):
                raise ValueError(f"{path / stem}: signatures {sig.dtype} {sig.shape}, ids {ids.dtype} {ids.shape}, "
                                 f"ends {ends.dtype} {ends.shape}; expected uint32 (n, {num_perm}), n ids")
            for a in range(0, n, _LOAD_ROWS) if on_rows else ():
                count = min(_LOAD_ROWS, n - a)
                on_rows(np.frombuffer(sig.read(a * num_perm, count * num_perm), dtype=np.uint32)
                        .reshape(count, num_perm))
        except BaseException:
            for f in files.values():
                f.f.close()
            raise
        return cls(stem, n, files)


def _name_time(path: Path) -> int:
    """The time for a new segment's name: now; for a tagged writer (a shared archive's, which
    saves under a lock across hosts) also past every segment in the directory, so that name
    order stays save order even when the hosts' clocks differ."""
    t = time.time_ns()
    if not _WRITER_TAG.get():
        return t
    for p in path.glob("seg-*.sig.npy"):
        for part in p.name[4:-len(".sig.npy")].split("~"):     # start, and a merged segment's merge time
            head = part.split("-", 1)[0]
            if head.isdigit():
                t = max(t, int(head) + 1)
    return t


def _write_segment(path: Path, sig: np.ndarray, ids: list[str]) -> _Segment:
    """Write a new segment (temporary names, renamed, ``.sig.npy`` last); return it opened."""
    enc = [s.encode("utf-8") for s in ids]
    tmp = f".seg-tmp-{os.getpid()}-{time.time_ns()}"
    files = {k: path / f"{tmp}.{k}.npy" for k in ("ids", "ends", "sig")}
    try:
        _save_npy(files["ids"], np.frombuffer(b"".join(enc), dtype=np.uint8))
        _save_npy(files["ends"], np.cumsum([len(b) for b in enc], dtype=np.int64))
        _save_npy(files["sig"], np.ascontiguousarray(sig, dtype=np.uint32))
        seg = _Segment.read(path, tmp, "npy", sig.shape[1])   # opened before the renames (they keep the inodes)
        # Named just before the renames: a segment is visible within microseconds of its name's time.
        t, writer = _name_time(path), _writer()
        while (path / f"seg-{t:020d}-{writer}.sig.npy").exists():
            t += 1
        stem = f"seg-{t:020d}-{writer}"
        for k in ("ids", "ends", "sig"):
            os.replace(files[k], path / f"{stem}.{k}.npy")
    finally:
        for f in files.values():
            f.unlink(missing_ok=True)
    seg.stem = stem
    return seg


def _plan(rows: list[int], legacy: list[bool]) -> int | None:
    """Start of the tail of segments to merge into one (None: nothing to do). The tail grows
    while the segment before it is at most twice the tail; a format-1 segment and all after
    it are always merged (converted)."""
    if not rows:
        return None
    i, acc = len(rows) - 1, rows[-1]
    while i and rows[i - 1] <= 2 * acc:
        i -= 1
        acc += rows[i]
    if True in legacy:
        i = min(i, legacy.index(True))
    return i if len(rows) - i >= 2 or legacy[i] else None


def _n_rows(path: Path, stem: str, kind: str) -> int:
    if kind == "npz":
        with zipfile.ZipFile(path / f"{stem}.npz") as z, z.open("sig.npy") as f:
            return _npy_header(f)[0][0]
    with open(path / f"{stem}.sig.npy", "rb") as f:
        return _npy_header(f)[0][0]


def _merge_segments(path: Path, run: list[tuple[str, str]], num_perm: int) -> str:
    """Write one segment holding the documents of ``run`` in order; return its stem. Reads the
    members with plain file I/O (format 1 ones one at a time into memory)."""
    pid = os.getpid()
    tmp = path / f".seg-tmp-{pid}-{time.time_ns()}"
    files = {k: Path(f"{tmp}.{k}") for k in ("ids.npy", "ends.npy", "sig.npy", "members.json")}
    try:
        ends, legacy_ids, n_total, n_bytes = [], {}, 0, 0
        for stem, kind in run:
            if kind == "npz":
                with np.load(path / f"{stem}.npz") as z:
                    enc = [s.encode("utf-8") for s in z["ids"].tolist()]
                legacy_ids[stem] = b"".join(enc)
                e = np.cumsum([len(b) for b in enc], dtype=np.int64)
            else:
                e = np.load(path / f"{stem}.ends.npy")
            ends.append(e + n_bytes)
            n_total += len(e)
            n_bytes += int(e[-1]) if len(e) else 0
        _save_npy(files["ends.npy"], np.concatenate(ends))
        del ends

        def write(name: str, dtype, shape, copy) -> None:
            with open(files[name], "wb") as out:
                np.lib.format.write_array_header_1_0(out, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                           "fortran_order": False, "shape": shape})
                at = out.tell()
                for stem, kind in run:
                    copy(stem, kind, out)
                want = int(np.prod(shape)) * np.dtype(dtype).itemsize
                if out.tell() - at != want:
                    raise ValueError(f"{path}: merged {name} has {out.tell() - at} bytes, expected {want}")
                out.flush()
                os.fsync(out.fileno())

        def copy_npy(suffix):
            def copy(stem, kind, out):
                with open(path / f"{stem}.{suffix}", "rb") as src:
                    _npy_header(src)
                    shutil.copyfileobj(src, out, 1 << 20)
            return copy

        def copy_ids(stem, kind, out):
            if kind == "npz":
                out.write(legacy_ids[stem])
            else:
                copy_npy("ids.npy")(stem, kind, out)

        def copy_sig(stem, kind, out):
            if kind == "npz":
                with np.load(path / f"{stem}.npz") as z:
                    out.write(np.ascontiguousarray(z["sig"], dtype=np.uint32).tobytes())
            else:
                copy_npy("sig.npy")(stem, kind, out)

        write("ids.npy", np.uint8, (n_bytes,), copy_ids)
        write("sig.npy", np.uint32, (n_total, num_perm), copy_sig)
        files["members.json"].write_text(json.dumps([s for s, _ in run]))
        for k in ("ends.npy", "members.json"):
            fsync_path(files[k])
        stem = f"seg-{_start(run[0][0])}~{time.time_ns():020d}-{_writer()}"
        for k in ("ids.npy", "ends.npy", "members.json", "sig.npy"):
            os.replace(files[k], path / f"{stem}.{k}")
        fsync_path(path)                 # the merged segment is durable before its members go
        return stem
    finally:
        for f in files.values():
            f.unlink(missing_ok=True)


def _compact(path: Path, num_perm: int) -> None:
    """Merge the tail of the segment list (see the module docstring); one process at a time."""
    with open(path / _LOCK, "a") as lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return                   # another process is compacting
        visible, hidden = _listing(path)
        for stem in hidden:          # members a crash left behind after their merge
            _remove(path, stem)
        now, complete = time.time_ns(), {s for s, _ in visible}
        for p in path.iterdir():     # crash leftovers: temporary files, files of unmarked segments
            name = p.name
            orphan = name.startswith("seg-") and not name.endswith((".sig.npy", ".npz")) and \
                name.split(".", 1)[0] not in complete
            if name.startswith((".seg-", ".meta-")) or orphan:
                try:
                    if now - p.stat().st_mtime_ns > _STALE_S * 1_000_000_000:
                        p.unlink()
                except FileNotFoundError:
                    pass
        settled = []
        for stem, kind in visible:
            if not _settled(stem, now):
                break
            settled.append((stem, kind))
        i = _plan([_n_rows(path, s, k) for s, k in settled], [k == "npz" for _, k in settled])
        if i is None:
            return
        run = settled[i:]
        _merge_segments(path, run, num_perm)
        for stem, _ in run:
            _remove(path, stem)


