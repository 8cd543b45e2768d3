"""Read-only web view of the archive (`newsarchive browse`) and the standalone report.

``create_app(archive, at=None)`` builds the Starlette app; ``render_report(archive, since=...)``
the standalone HTML overview; ``run_outcomes(archive, run_id)`` a run's fetch outcomes as SVG
and markdown, and ``run_report_markdown(archive, run_id, browse_url=...)`` a run report (outcomes,
articles per day, browse link), for Prefect artifacts.
"""
from __future__ import annotations

from .app import create_app
from .overview import render_report, run_outcomes, run_report_markdown

__all__ = ["create_app", "render_report", "run_outcomes", "run_report_markdown"]
