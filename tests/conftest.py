"""Shared fixtures: one Prefect test server per session, a replay web, archives on disk.

The plain ``pytest`` is the quick run: tests marked ``slow``, ``prefect`` (a real Prefect flow
run: a Prefect server to start, 10-20 s, and a flow per test) or ``browser`` are deselected
(said in the header and the summary). ``pytest --all`` (the README's test command, what .ci/run runs)
runs every test; an explicit ``-m EXPR`` chooses by itself.
"""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

#: Marks the quick run leaves out (README, "Run the tests").
LONG_MARKS = ("slow", "prefect", "browser")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--all", action="store_true", dest="run_all",
                     help=f"also run the tests marked {' or '.join(LONG_MARKS)} (left out of the quick default run)")


def _quick(config: pytest.Config) -> bool:
    return not config.getoption("run_all") and not config.getoption("markexpr")


def pytest_report_header(config: pytest.Config) -> str:
    if _quick(config):
        return f"quick run: tests marked {' or '.join(LONG_MARKS)} are left out; `pytest --all` runs every test"
    return "full run" if config.getoption("run_all") else f"tests chosen by -m {config.getoption('markexpr')!r}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _quick(config):
        return
    keep, left_out = [], []
    for item in items:
        (left_out if any(item.get_closest_marker(m) for m in LONG_MARKS) else keep).append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = keep


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if _quick(config) and terminalreporter.stats.get("deselected"):
        terminalreporter.write_line(f"quick run: {len(terminalreporter.stats['deselected'])} tests marked "
                                    f"{' or '.join(LONG_MARKS)} left out; `pytest --all` runs them too")


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect server for the whole session (it takes 10-20 s to start).

    Only flow tests request it; everything else runs without Prefect.
    """
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def replay_web():
    """The replay web with a small default corpus, shared by the tests that only read it."""
    from replay import start_replay

    srv = start_replay(seed=7, per_site=40)
    yield srv
    srv.stop()
