"""Locks of a shared archive, in its Postgres catalog database (session advisory locks).

A local archive coordinates its processes with ``flock`` on files in the archive directory;
workers on different hosts share no filesystem, so a shared archive takes the same locks in
Postgres. Each held lock has its own connection and is a *session* advisory lock: when the
process dies (SIGKILL, a lost host), the server closes the session and the lock is free,
exactly like a dead process's ``flock``. A lock is a name (``init``, ``staging:<run>``,
``run:<flow run>``, ``index:stories``); its 64-bit key is a hash of the archive's schema and
the name, so archives sharing a database never collide.
"""
from __future__ import annotations

import hashlib
import threading
from contextlib import contextmanager
from typing import Iterator

from newsarchive.errors import NewsarchiveError

from .location import redact


class CoordinationError(NewsarchiveError, RuntimeError):
    pass


def connect(dsn: str, *, autocommit: bool = True):
    """A psycopg connection to the catalog database; one line naming the fix if it fails."""
    import psycopg
    try:
        return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=10, application_name="newsarchive")
    except psycopg.Error as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CoordinationError(f"cannot connect to the archive catalog database {redact(dsn)}: {first}; check "
                                f"$NEWSARCHIVE_CATALOG, that Postgres is up, and PGPASSWORD/~/.pgpass") from None


def lock_key(namespace: str, name: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{namespace}\0{name}".encode(), digest_size=8).digest(),
                          "big", signed=True)


class HeldLock:
    """A held advisory lock; ``release`` (or the process's death) frees it."""

    def __init__(self, conn, key: int, name: str):
        self._conn, self.key, self.name = conn, key, name

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()   # ends the session: the lock goes with it
            finally:
                self._conn = None

    def __enter__(self) -> "HeldLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class PgLocks:
    """Named exclusive locks of one archive (``namespace``: its schema) in one database."""

    def __init__(self, dsn: str, namespace: str):
        self.dsn, self.namespace = dsn, namespace

    def acquire(self, name: str, *, wait: bool = True) -> HeldLock | None:
        """Hold ``name`` (waiting for it, or None at once when ``wait`` is false and it is held)."""
        key = lock_key(self.namespace, name)
        conn = connect(self.dsn)
        try:
            if wait:
                conn.execute("SELECT pg_advisory_lock(%s)", [key])
                return HeldLock(conn, key, name)
            if conn.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()[0]:
                return HeldLock(conn, key, name)
        except BaseException:
            conn.close()
            raise
        conn.close()
        return None

    @contextmanager
    def hold(self, name: str) -> Iterator[HeldLock]:
        held = self.acquire(name)
        try:
            yield held
        finally:
            held.release()

    def is_held(self, name: str) -> bool:
        """Whether some live session holds ``name`` (its process is alive and connected)."""
        key = lock_key(self.namespace, name)
        conn = connect(self.dsn)
        try:
            got = conn.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()[0]
            return not got
        finally:
            conn.close()


class SharedConnection:
    """One autocommit connection shared by a process's threads (short statements only)."""

    def __init__(self, dsn: str):
        self.dsn = dsn
        self._conn = None
        self._mutex = threading.Lock()

    def execute(self, sql: str, params: list | tuple = ()) -> list[tuple]:
        with self._mutex:
            if self._conn is None or self._conn.closed:
                self._conn = connect(self.dsn)
            cur = self._conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def close(self) -> None:
        with self._mutex:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
