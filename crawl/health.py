"""Extraction health per site and run: the drift alarm.

Each page a site extractor parses is checked for a title, a body of plausible
length and a parsed date. When a site's share of healthy pages falls under the
configured threshold (say the site changed its markup), the run is flagged
with the failing fields and example URLs; the pages themselves fall back to
the generic extractor and their raw responses stay in the WARC archive, so a
fixed extractor can re-extract them later.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from extractors import Article

from .config import HealthSettings

FIELDS = ("title", "body", "date")


def missing_fields(art: Article | None, min_body_chars: int) -> list[str]:
    if art is None:
        return list(FIELDS)
    missing = []
    if not (art.title or "").strip():
        missing.append("title")
    # A site extractor that found no body of its own borrows the generic one and
    # flags it: for the site extractor's health that page has no body.
    if len(art.body or "") < min_body_chars or any(q.startswith("body:generic") for q in art.quality):
        missing.append("body")
    if art.published_at is None:
        missing.append("date")
    return missing


@dataclass
class SiteHealth:
    """Counts for one site's extractor over one run."""
    site: str
    extractor: str
    pages: int = 0
    missing: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def record(self, url: str, missing: list[str]) -> None:
        self.pages += 1
        for name in missing:
            self.missing[name] += 1
            urls = self.examples.setdefault(name, [])
            if len(urls) < 3:
                urls.append(url)

    def share(self, name: str) -> float:
        return 1.0 if not self.pages else 1 - self.missing[name] / self.pages

    def counters(self) -> dict[str, int]:
        return {"health_pages": self.pages, **{f"health_missing_{n}": self.missing[n] for n in FIELDS}}


@dataclass(frozen=True)
class DriftAlarm:
    site: str
    extractor: str
    pages: int
    shares: dict[str, float]
    failing: list[str]
    examples: dict[str, list[str]]

    def message(self, threshold: float) -> str:
        parts = ", ".join(f"{n} {self.shares[n]:.0%}" for n in self.failing)
        example = next(iter(self.examples.get(self.failing[0], [])), "")
        return (f"{self.site}: extractor {self.extractor!r} looks broken (site markup changed?): "
                f"{parts} of {self.pages} pages, under the {threshold:.0%} threshold; e.g. {example}. "
                f"These pages were stored with the generic extractor and their raw responses are in "
                f"the WARC archive: fix extractors/{self.extractor}.py, then re-extract them.")


def check(health: SiteHealth, settings: HealthSettings) -> DriftAlarm | None:
    if health.extractor == "generic" or health.pages < settings.min_pages:
        return None
    shares = {n: health.share(n) for n in FIELDS}
    failing = [n for n in FIELDS if shares[n] < settings.threshold]
    if not failing:
        return None
    return DriftAlarm(health.site, health.extractor, health.pages, shares, failing,
                      {n: health.examples.get(n, []) for n in failing})


def markdown(alarms: list[DriftAlarm], settings: HealthSettings) -> str:
    lines = [f"# Extraction drift ({len(alarms)} site(s) under {settings.threshold:.0%})", "",
             "| site | extractor | pages | title | body | date | failing | example URLs |",
             "|---|---|---:|---:|---:|---:|---|---|"]
    for a in alarms:
        urls = "<br>".join(u for n in a.failing for u in a.examples.get(n, [])[:2])
        lines.append(f"| {a.site} | {a.extractor} | {a.pages} | " +
                     " | ".join(f"{a.shares[n]:.0%}" for n in FIELDS) +
                     f" | {', '.join(a.failing)} | {urls} |")
    lines += ["", "Affected pages fell back to the generic extractor; raw responses are in the WARC files."]
    return "\n".join(lines)
