"""Shared fixtures: one Prefect test server per session, a replay web, archives on disk."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


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
