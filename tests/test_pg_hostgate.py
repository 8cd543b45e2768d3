"""PgHostGate's cases (tests/pg_hostgate_cases.py) in a fresh process of their own.

In one pytest process right after tests/test_parse_pool.py's over-budget test, the first case
hung (both gates' sessions idle, one holding both slots): found in the last full run of this
session and not yet understood; in a fresh process, and after that test in a plain script, the
cases pass. Running them apart keeps the suite from hanging; the interaction is an open item
(docs/RELIABILITY.md does not claim it away)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_pg_hostgate_cases_in_a_fresh_process():
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--all",
                           str(HERE / "pg_hostgate_cases.py")], cwd=HERE.parent, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and "3 passed" in done.stdout, done.stdout[-4000:] + done.stderr[-2000:]
