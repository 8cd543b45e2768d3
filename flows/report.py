"""Run summaries: the per-site counter table (log, terminal, Prefect artifact)."""
from __future__ import annotations

from collections import Counter

# Counters shown first, in this order; any other counter (failed:<kind>, ...) follows.
MAIN_COUNTERS = ("discovered", "fetched", "not_modified", "failed", "skipped", "extracted",
                 "new", "changed", "unchanged", "stored", "extract_fallback", "discovery_errors")


def counter_names(stats: dict[str, Counter]) -> list[str]:
    seen = {k for c in stats.values() for k, v in c.items()}
    extra = sorted(seen - set(MAIN_COUNTERS))
    return [c for c in MAIN_COUNTERS if c in seen or c in ("fetched", "new", "stored")] + extra


def markdown_table(stats: dict[str, Counter]) -> str:
    sites = sorted(stats)
    names = counter_names(stats)
    lines = ["| counter | " + " | ".join(sites) + " |", "|---|" + "---:|" * len(sites)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(str(stats[s].get(name, 0)) for s in sites) + " |")
    return "\n".join(lines)


def text_table(stats: dict[str, Counter]) -> str:
    sites = sorted(stats)
    names = counter_names(stats)
    width = max([len(n) for n in names] + [7])
    colw = [max(len(s), 8) for s in sites]
    out = ["counter".ljust(width) + "  " + "  ".join(s.rjust(w) for s, w in zip(sites, colw))]
    for name in names:
        out.append(name.ljust(width) + "  " + "  ".join(str(stats[s].get(name, 0)).rjust(w)
                                                       for s, w in zip(sites, colw)))
    return "\n".join(out)
