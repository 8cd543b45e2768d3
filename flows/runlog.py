"""The crawl's own log lines (``crawl.*``, ``storage.*``, ``dedup.*`` ...) in the Prefect run log.

Prefect only ships records of its run loggers (and of PREFECT_LOGGING_EXTRA_LOGGERS, read
once at process start, which a worker's flow-run process does not get from us). While a flow
runs, an APILogHandler is attached to the project's root logger; records emitted outside a
run context (worker threads) are dropped instead of raising Prefect's missing-context warning.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

PROJECT_LOGGERS = ("newsarchive", "crawl", "storage", "dedup", "extractors")


class _InRunContext(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        from prefect.context import FlowRunContext, TaskRunContext
        return FlowRunContext.get() is not None or TaskRunContext.get() is not None


@contextmanager
def crawl_logs_to_run_log(level: int = logging.INFO) -> Iterator[None]:
    from prefect.logging.handlers import APILogHandler

    handler = APILogHandler(level=level)
    handler.addFilter(_InRunContext())
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
