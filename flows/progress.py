"""Progress events from flows to whoever shows them (the CLI's progress bar).

Flows call ``report(...)`` after discovery and after each batch; the CLI sets a
reporter for the duration of a command. No reporter: nothing happens. Kept out
of Prefect on purpose: progress is presentation, not orchestration state.
"""
from __future__ import annotations

from typing import Callable

Reporter = Callable[[str, dict], None]
_reporter: Reporter | None = None


def set_reporter(fn: Reporter | None) -> None:
    global _reporter
    _reporter = fn


def report(event: str, **data) -> None:
    if _reporter is not None:
        _reporter(event, data)
