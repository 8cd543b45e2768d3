"""The crawl's own log lines (``crawl.*``, ``storage.*``, ``dedup.*`` ...) in the Prefect run log.

Prefect only ships records of its run loggers (and of PREFECT_LOGGING_EXTRA_LOGGERS, read
once at process start, which a worker's flow-run process does not get from us). While a flow
runs, an APILogHandler is attached to the project's root logger; records emitted outside a
run context (worker threads) are dropped instead of raising Prefect's missing-context warning,
except those of a ``newsarchive run``'s head start (:class:`EarlyLogs`): that process has one flow
run, so they are its, kept until it exists.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

PROJECT_LOGGERS = ("newsarchive", "crawl", "storage", "dedup", "extractors")


def _in_run_context() -> bool:
    from prefect.context import FlowRunContext, TaskRunContext
    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


class _InRunContext(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return _in_run_context()


@contextmanager
def _attached(handler: logging.Handler, level: int) -> Iterator[None]:
    """``handler`` on the project's loggers, which pass records of ``level`` and up meanwhile."""
    loggers = [logging.getLogger(name) for name in PROJECT_LOGGERS]
    old_levels = [lg.level for lg in loggers]
    for lg in loggers:
        if lg.getEffectiveLevel() > level:
            lg.setLevel(level)
        lg.addHandler(handler)
    try:
        yield
    finally:
        for lg, old in zip(loggers, old_levels):
            lg.removeHandler(handler)
            lg.setLevel(old)


class EarlyLogs(logging.Handler):
    """The project's log records of a ``run``'s head start (flows/head_start.py), emitted before
    its flow run exists, for that flow run's log: kept until :meth:`send_to` names the flow run,
    then sent, as are later records emitted outside any run context (the head start's discovery
    tasks, which began before the flow run, go on inside it). Use as a context manager around
    the whole head start and flow call."""

    def __init__(self, level: int = logging.INFO):
        super().__init__(level)
        self.kept: list[logging.LogRecord] = []
        self._target: tuple[logging.Handler, str] | None = None
        self._attach = _attached(self, level)
        # Warnings are for the person at the terminal too, at once (a crashed run's batches
        # committed, an unreadable staged file), as they are when emitted inside a flow run.
        self._console = logging.StreamHandler()
        self._console.setLevel(logging.WARNING)
        self._console.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d | %(levelname)-7s | %(name)s - "
                                                     "%(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        if self._target is None and record.levelno >= logging.WARNING:
            self._console.handle(record)
        if self._target is None:
            self.kept.append(record)
        elif not _in_run_context():   # (records in a run context reach the run's own handler)
            handler, flow_run_id = self._target
            record.flow_run_id = flow_run_id
            handler.emit(record)

    def send_to(self, handler: logging.Handler, flow_run_id: str) -> None:
        kept, self.kept = self.kept, []
        self._target = (handler, flow_run_id)
        for record in kept:
            record.flow_run_id = flow_run_id
            handler.emit(record)

    def stop_sending(self) -> None:
        self._target = None

    def __enter__(self) -> "EarlyLogs":
        self._attach.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._attach.__exit__(*exc)


@contextmanager
def crawl_logs_to_run_log(level: int = logging.INFO, early: EarlyLogs | None = None) -> Iterator[None]:
    """The project's log records of this flow run (and those ``early`` kept) in its Prefect run log."""
    from prefect.logging.handlers import APILogHandler
    from prefect.runtime import flow_run

    handler = APILogHandler(level=level)
    handler.addFilter(_InRunContext())
    with _attached(handler, level):
        if early is not None and flow_run.id:
            early.send_to(handler, str(flow_run.id))
        try:
            yield
        finally:
            if early is not None:
                early.stop_sending()
