"""Worker processes that parse pages while the crawl's event loop goes on fetching.

The crawl is one asyncio process; parsing (and what can be worked out from the parsed record
alone: content hash, ticker keys, near-duplicate signature, story features) is CPU-bound pure
Python, so it goes to ``workers`` processes (default: one per core but one, at most 4) and the
second core does it (issue 12). The pool is shared by every crawl of the process, started on
first use and stopped at exit.

Never a reason to stop a crawl: when the pool cannot start (no process support, no /dev/shm,
a sandbox), every page is parsed in the crawl process as before, after one log line. A page
over its extraction budget (a stuck worker) kills the workers; pages they held are parsed in the
crawl process, and the pool is started again for later pages (``MAX_RESTARTS`` times at most).

No orphans: workers ignore SIGINT (the crawl process decides), are stopped at interpreter exit,
and each watches the crawl process (a pidfd, else polling its pid) and exits when it is gone,
so a SIGKILLed or SIGTERMed crawl leaves no process behind.

Calls made during one event-loop iteration (``submit_soon``) go to the workers together, as
one job of at most ``MAX_BATCH`` calls: responses finish several at a time (7 per iteration
on average in the replay bench), and every job costs the crawl process a wake-up of the pool's
manager and feeder threads on the way out and of its manager on the way back, each a GIL
hand-over the event loop waits for (docs/BENCHMARKS.md, issue 12, round 6). Each call still
has its own future and its own result or exception.
Only a stuck worker is different: a job of several calls over the budget does not say which call
is stuck, so its workers are killed without counting it as a restart and each of its calls is
sent again alone (``resend_alone``): the stuck one then runs over budget alone, and only it
fails (crawl/parsejob.py ``extract_in_pool``). A stuck page so takes two budgets, not one.

``NEWSARCHIVE_PARSE_WORKERS=0`` turns the pool off (every page parsed in the crawl process).
"""
from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import functools
import logging
import multiprocessing
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from concurrent.futures.process import BrokenProcessPool
from typing import Any

log = logging.getLogger("newsarchive.crawl")

ENV_WORKERS = "NEWSARCHIVE_PARSE_WORKERS"
MAX_RESTARTS = 3
MAX_BATCH = 16      # calls per job at most (submit_soon); fewer when there are several workers to share them
# Imported by the fork server once, so a (re)started worker is parsing within milliseconds.
PRELOAD = ["extractors", "crawl.parsejob"]


def default_workers() -> int:
    raw = os.environ.get(ENV_WORKERS)
    if raw is not None and raw.strip():
        try:
            return max(0, int(raw))
        except ValueError:
            log.warning("%s=%r is not a whole number; using the default parse workers", ENV_WORKERS, raw)
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def _watch_parent(parent: int) -> None:
    """In a worker: exit as soon as the crawl process ``parent`` is gone."""
    try:
        fd = os.pidfd_open(parent)
    except (AttributeError, OSError):      # no pidfd (old kernel, not Linux): poll the pid
        while True:
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:
                pass
            time.sleep(0.5)
    select.select([fd], [], [])            # readable when the process exits
    os._exit(0)


def _started() -> bool:
    """The job :meth:`ParsePool.warm` sends: it returns once a worker is up."""
    return True


def _init_worker(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent,), name="parent-watch", daemon=True).start()


def _call_each(calls: list[tuple[Callable[..., Any], tuple]]) -> list[tuple[bool, Any]]:
    """In a worker: the calls of one batch, each with its own result or exception."""
    out: list[tuple[bool, Any]] = []
    for fn, args in calls:
        try:
            out.append((True, fn(*args)))
        except Exception as e:   # noqa: BLE001  (the caller gets it, as from a job of its own)
            out.append((False, e))
    return out


@dataclass
class PoolJob:
    """One submitted call: its future and the pool generation (start) that runs it."""
    future: concurrent.futures.Future
    pool: "ParsePool"
    generation: int
    spec_code: tuple = ()     # the JobSpec.code it was sent with (crawl/parsejob.py)
    call: tuple | None = None           # (fn, args), for a call sent with others (submit_soon)
    batch: "Batch | None" = None        # the job it went in, once sent


@dataclass
class Batch:
    """Calls of one event-loop iteration sent to a worker as one job (``ParsePool.submit_soon``)."""
    jobs: list[PoolJob]
    future: concurrent.futures.Future | None = None    # the executor's job
    suspect: bool = False     # over budget as a whole: its calls are sent again one by one

    @property
    def size(self) -> int:
        return len(self.jobs)


class ParsePool:
    """A ``ProcessPoolExecutor`` that falls back to None (parse here) instead of failing."""

    def __init__(self, workers: int | None = None, *, start_method: str | None = None):
        self.workers = default_workers() if workers is None else workers
        self.start_method = start_method or ("forkserver" if "forkserver" in multiprocessing.get_all_start_methods()
                                             else "spawn")
        self.disabled: str | None = None if self.workers > 0 else f"{ENV_WORKERS}=0"
        self.restarts = 0
        self.generation = 0     # bumped whenever the workers are replaced
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._soon: dict[asyncio.AbstractEventLoop, list[PoolJob]] = {}   # submit_soon's, per loop

    def submit(self, fn: Callable[..., Any], *args: Any) -> PoolJob | None:
        """``fn(*args)`` in a worker; None when the pool is off (the caller runs it itself)."""
        if self.disabled is not None:
            return None
        with self._lock:
            try:
                if self._executor is None:
                    self._executor = self._start()
                return PoolJob(self._executor.submit(fn, *args), self, self.generation)
            except (OSError, RuntimeError, ValueError, ImportError, NotImplementedError, BrokenProcessPool) as e:
                self._disable(f"{type(e).__name__}: {e}")
                return None

    def submit_soon(self, fn: Callable[..., Any], *args: Any) -> PoolJob | None:
        """``fn(*args)`` in a worker, sent with the other calls made during this event-loop
        iteration (from a coroutine or callback of the running loop); None when the pool is off."""
        if self.disabled is not None:
            return None
        loop = asyncio.get_running_loop()
        job = PoolJob(concurrent.futures.Future(), self, self.generation, call=(fn, args))
        pending = self._soon.get(loop)
        if pending is None:
            # Runs after the callbacks already queued: the calls they make join this batch.
            pending = self._soon[loop] = []
            loop.call_soon(self._send_soon, loop)
        pending.append(job)
        return job

    def _send_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        jobs = [j for j in self._soon.pop(loop, []) if not j.future.cancelled()]   # abandoned: dropped
        size = max(1, min(MAX_BATCH, -(-len(jobs) // max(1, self.workers))))
        for start in range(0, len(jobs), size):
            self._send(Batch(jobs[start:start + size]))

    def _send(self, batch: Batch) -> None:
        sent = self.submit(_call_each, [j.call for j in batch.jobs])
        if sent is None:   # the pool went off meanwhile: the callers parse these themselves
            for j in batch.jobs:
                _settle(j.future, error=BrokenProcessPool("the parse pool is off"))
            return
        batch.future = sent.future
        for j in batch.jobs:
            j.generation, j.batch = sent.generation, batch
        sent.future.add_done_callback(functools.partial(_deliver, batch))

    def resend_alone(self, job: PoolJob) -> PoolJob | None:
        """``job``'s call again, as a job of its own (its batch was over budget); None when the pool is off."""
        fn, args = job.call
        alone = self.submit(fn, *args)
        if alone is not None:
            alone.spec_code, alone.call = job.spec_code, job.call
        return alone

    def warm(self) -> threading.Thread | None:
        """Start the workers now, in a thread, so the crawl's first page does not wait for them:
        the first submit blocks until the fork server has imported the extractors (0.3-0.4 s on
        an idle machine, about a second beside a crawl's discovery), and it would block the
        event loop. A crawl calls this when it opens; its discovery runs meanwhile."""
        if self.disabled is not None or self._executor is not None:
            return None
        thread = threading.Thread(target=self.submit, args=(_started,), name="parse-pool-warm", daemon=True)
        thread.start()
        return thread

    def _start(self) -> concurrent.futures.ProcessPoolExecutor:
        ctx = multiprocessing.get_context(self.start_method)
        if self.start_method == "forkserver":
            ctx.set_forkserver_preload(PRELOAD)
        return concurrent.futures.ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                                      initargs=(os.getpid(),))

    def _disable(self, why: str) -> None:
        if self.disabled is None:
            self.disabled = why
            log.warning("page parsing stays in the crawl process (one core): the parse worker pool could not "
                        "run (%s); the crawl goes on, slower. %s=0 turns the pool off", why, ENV_WORKERS)
        self._stop(kill=True)

    def broken(self, generation: int, why: str, *, kill: bool = False, count: bool = True) -> None:
        """The workers of ``generation`` died (``kill``: are stuck past a page's budget, and are
        killed): later pages go to new workers, up to ``MAX_RESTARTS`` times (``count=False``: a
        batch over budget, whose stuck call is not known yet, is not counted). Every job of a
        broken generation reports it; only the first counts."""
        with self._lock:
            if generation != self.generation or self.disabled is not None:
                return
            self.restarts += count
            if self.restarts > MAX_RESTARTS:
                self._disable(f"{why}; {self.restarts} restarts")
            else:
                self._stop(kill=kill)

    def abandon(self, jobs: list[PoolJob]) -> None:
        """Jobs nobody waits for any more (a cancelled crawl): queued ones are dropped; if one is
        already running, its worker is killed (a page can take long, and interpreter exit would
        wait for it) and the next page starts new workers. Not counted as a failure."""
        running = False
        batches: dict[int, Batch] = {}
        for job in jobs:
            if job.call is not None:      # submit_soon's: its own future never runs, its batch does
                job.future.cancel()
                if job.batch is not None:
                    batches[id(job.batch)] = job.batch
            elif not job.future.cancel() and not job.future.done() and job.generation == self.generation:
                running = True
        for batch in batches.values():   # left running while another caller still waits for one of its calls
            if all(j.future.done() for j in batch.jobs) and not batch.future.cancel() \
                    and not batch.future.done() and batch.jobs[0].generation == self.generation:
                running = True
        if running:
            with self._lock:
                self._stop(kill=True)

    def pids(self) -> list[int]:
        ex = self._executor
        return sorted(getattr(ex, "_processes", None) or {}) if ex is not None else []

    def _stop(self, *, kill: bool) -> None:
        ex, self._executor = self._executor, None
        self.generation += 1
        if ex is None:
            return
        if kill:
            for p in list((getattr(ex, "_processes", None) or {}).values()):
                try:
                    p.kill()
                except (OSError, AttributeError):
                    pass
        ex.shutdown(wait=True, cancel_futures=True)

    def shutdown(self) -> None:
        with self._lock:
            self._stop(kill=False)


def _settle(fut: concurrent.futures.Future, result: Any = None, error: BaseException | None = None) -> None:
    try:
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)
    except concurrent.futures.InvalidStateError:   # cancelled meanwhile (abandoned)
        pass


def _deliver(batch: Batch, done: concurrent.futures.Future) -> None:
    """A batch's results to its calls' futures (in the pool's thread, as the executor's callbacks)."""
    if done.cancelled():
        for j in batch.jobs:
            j.future.cancel()
        return
    error = done.exception()
    if error is not None:
        for j in batch.jobs:
            _settle(j.future, error=error)
        return
    for j, (ok, value) in zip(batch.jobs, done.result()):
        _settle(j.future, *((value, None) if ok else (None, value)))


_SHARED: ParsePool | None = None
_SHARED_LOCK = threading.Lock()


def shared_pool() -> ParsePool:
    """The process's pool (made on first use; its workers start with the first page)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = ParsePool()
        return _SHARED


@atexit.register
def _shutdown_shared() -> None:
    if _SHARED is not None:
        _SHARED.shutdown()
