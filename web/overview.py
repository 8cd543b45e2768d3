"""The overview (browse's front page and `newsarchive report`) and per-run fetch-outcome charts."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any
from urllib.parse import quote

from crawl.config import HealthSettings
from storage.lake import Archive

from . import charts, queries
from .render import inline_css, render


def overview_context(con, *, since: date | None = None, bucket: str | None = None,
                     threshold: float = HealthSettings.threshold) -> dict[str, Any]:
    bucket, per_day = queries.articles_per_bucket(con, since, bucket)
    runs = queries.recent_runs(con, since)
    ids = [r["run_id"] for r in runs]
    labels = queries.run_labels(runs)
    stats = queries.run_stats(con, ids)
    outcomes = queries.fetch_outcomes(con, ids)
    health = queries.health_series(runs, stats)
    for r in runs:
        r["totals"] = queries.run_totals(stats.get(r["run_id"], {}))
    return {
        "totals": queries.totals(con),
        "bucket": bucket,
        "since": since,
        "chart_articles": charts.stacked_bars(f"Articles per {bucket} of publication, per site",
                                              per_day.labels, per_day.values),
        "chart_outcomes": charts.stacked_bars("Fetch outcomes per run (all fetches)", labels, outcomes),
        "chart_health": charts.lines("Extraction health per run: share of pages with the worst field found",
                                     labels, health, y_max=100, y_unit="%", reference=100 * threshold,
                                     reference_label=f"drift threshold {100 * threshold:.0f}%"),
        "runs": list(reversed(runs)),
        "threshold": threshold,
    }


def render_report(archive: Archive, *, since: date | None = None, title: str | None = None) -> str:
    """A standalone HTML file: the overview with its CSS inlined, no links back to a server."""
    with queries.Reader(archive).connect() as con:
        ctx = overview_context(con, since=since)
    return render("report.html", css=inline_css(), archive=archive.location,
                  generated=datetime.now(timezone.utc), title=title or "newsarchive report", **ctx)


def run_outcomes(archive: Archive, run_id: str) -> dict[str, Any]:
    """Fetch outcomes of one run per site, as an SVG chart and a markdown table.

    For run reports (e.g. a Prefect artifact): ``{"svg": ..., "markdown": ..., "counts": {site: {outcome: n}}}``.
    """
    with queries.Reader(archive).connect() as con:
        rows = con.execute("SELECT site, outcome, count(*) FROM fetch_log WHERE run_id = ? GROUP BY ALL "
                           "ORDER BY ALL", [run_id]).fetchall()
    counts: dict[str, dict[str, int]] = {}
    for site, outcome, n in rows:
        counts.setdefault(site, {})[outcome] = n
    return {"svg": outcomes_svg(run_id, counts), "markdown": outcomes_markdown(counts), "counts": counts}


def outcomes_svg(run_id: str, counts: dict[str, dict[str, int]]) -> str:
    sites = sorted(counts)
    names = [o for o in queries.OUTCOMES if any(o in counts[s] for s in sites)]
    names += sorted({o for s in sites for o in counts[s]} - set(names))
    return charts.stacked_bars(f"Fetch outcomes of run {run_id}", sites,
                               {o: [counts[s].get(o, 0) for s in sites] for o in names})


def outcomes_markdown(counts: dict[str, dict[str, int]]) -> str:
    sites = sorted(counts)
    names = [o for o in queries.OUTCOMES if any(o in counts[s] for s in sites)]
    names += sorted({o for s in sites for o in counts[s]} - set(names))
    lines = ["| outcome | " + " | ".join(sites) + " |", "|---|" + "---:|" * len(sites)]
    lines += [f"| {o} | " + " | ".join(str(counts[s].get(o, 0)) for s in sites) + " |" for o in names]
    return "\n".join(lines)


def run_report_markdown(archive: Archive, run_id: str, *, browse_url: str | None = None,
                        days: int = 14) -> str:
    """Markdown for a run's report (e.g. a Prefect artifact): its fetch outcomes per site, the
    articles per publication day of its sites over the ``days`` days up to the newest article,
    and a link to the run in `newsarchive browse` when ``browse_url`` is given."""
    outcomes = run_outcomes(archive, run_id)
    with queries.Reader(archive).connect() as con:
        per_day = con.execute(
            "SELECT published_at::DATE AS day, site, count(*) FROM articles WHERE site IN "
            "(SELECT unnest(sites) FROM runs WHERE run_id = ?) AND published_at >= "
            "(SELECT max(published_at) FROM articles) - to_days(?) GROUP BY ALL ORDER BY ALL",
            [run_id, days]).fetchall()
    sites = sorted({s for _, s, _ in per_day})
    table = {}
    for day, site, n in per_day:
        table.setdefault(day, {})[site] = n
    lines = [f"## Fetch outcomes of run `{run_id}`", "", outcomes["markdown"], "",
             f"## Articles per day of publication ({days} days up to the newest article)", ""]
    if sites:
        lines += ["| day | " + " | ".join(sites) + " |", "|---|" + "---:|" * len(sites)]
        lines += [f"| {day} | " + " | ".join(str(c.get(s, 0)) for s in sites) + " |"
                  for day, c in sorted(table.items())]
    else:
        lines.append("no dated articles")
    if browse_url:
        lines += ["", f"Browse: {browse_url.rstrip('/')}/run/{quote(run_id, safe='')}"]
    return "\n".join(lines)
