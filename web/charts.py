"""Small SVG charts rendered on the server: stacked bars, lines, a timeline. No JavaScript.

Every text that reaches the SVG goes through ``html.escape``; the functions return markup
that templates mark safe. Tooltips are SVG ``<title>`` elements (the browser shows them).
"""
from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Sequence

PALETTE = ("#2b6cb0", "#c05621", "#2f855a", "#9b2c2c", "#6b46c1", "#b7791f", "#2c7a7b", "#702459")
OUTCOME_COLORS = {"fetched": "#2f855a", "not_modified": "#2b6cb0", "failed": "#c53030", "skipped": "#a0aec0"}

WIDTH, HEIGHT = 880, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 96


def color(name: str, index: int) -> str:
    return OUTCOME_COLORS.get(name) or PALETTE[index % len(PALETTE)]


def _nice_max(value: float, whole: bool = False) -> float:
    """A round axis maximum at or above ``value`` (1, 2, 5 x 10^n); ``whole``: at least 4, so
    the four grid steps of a count axis fall on whole numbers."""
    if whole and value <= 4:
        return 4.0
    if value <= 0:
        return 1.0
    step = 1.0
    while step * 10 < value:
        step *= 10
    for m in (1, 2, 5, 10):
        if step * m >= value:
            return step * m
    return step * 10


def _fmt(v: float) -> str:
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.2f}"


def _frame(title: str, y_max: float, y_unit: str, x_labels: Sequence[str], x_at) -> list[str]:
    """SVG opening, horizontal grid with y ticks, and x labels (thinned to ~12)."""
    plot_h = HEIGHT - TOP - BOTTOM
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
           f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for i in range(5):
        v = y_max * i / 4
        y = TOP + plot_h - plot_h * i / 4
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                   f'{escape(_fmt(v) + y_unit)}</text>')
    every = max(1, -(-len(x_labels) // 12))
    for i, label in enumerate(x_labels):
        if i % every == 0 or i == len(x_labels) - 1 and len(x_labels) <= 12:
            x = x_at(i)
            out.append(f'<text class="tick" x="{x:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="end" '
                       f'transform="rotate(-35 {x:.1f} {HEIGHT - BOTTOM + 14})">{escape(label)}</text>')
    return out


def _legend(names: Sequence[str], colors: Sequence[str]) -> list[str]:
    out, x = [], LEFT
    for name, c in zip(names, colors):
        out.append(f'<rect x="{x}" y="{HEIGHT - 14}" width="10" height="10" fill="{c}"/>'
                   f'<text class="legend" x="{x + 14}" y="{HEIGHT - 5}">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    return out


def empty(title: str, message: str = "no data") -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} 60" role="img" '
            f'aria-label="{escape(title)}"><text class="tick" x="{WIDTH / 2}" y="34" text-anchor="middle">'
            f'{escape(message)}</text></svg>')


def stacked_bars(title: str, categories: Sequence[str], series: dict[str, Sequence[float]],
                 colors: dict[str, str] | None = None) -> str:
    """One bar per category, stacked by series (e.g. per run: fetched / not_modified / failed)."""
    if not categories or not series:
        return empty(title)
    names = list(series)
    cols = [(colors or {}).get(n) or color(n, i) for i, n in enumerate(names)]
    totals = [sum(series[n][i] or 0 for n in names) for i in range(len(categories))]
    y_max = _nice_max(max(totals), whole=True)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(categories)
    bar = max(1.0, slot * 0.7)
    out = _frame(title, y_max, "", categories, lambda i: LEFT + slot * (i + 0.5))
    for i, cat in enumerate(categories):
        y = TOP + plot_h
        for name, c in zip(names, cols):
            v = series[name][i] or 0
            if not v:
                continue
            h = plot_h * v / y_max
            y -= h
            out.append(f'<rect x="{LEFT + slot * i + (slot - bar) / 2:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                       f'height="{h:.1f}" fill="{c}"><title>{escape(f"{cat}: {name} {_fmt(v)}")}</title></rect>')
    out += _legend(names, cols) + ["</svg>"]
    return "".join(out)


def lines(title: str, x_labels: Sequence[str], series: dict[str, Sequence[float | None]], *,
          y_max: float | None = None, y_unit: str = "", reference: float | None = None,
          reference_label: str = "") -> str:
    """One polyline per series over shared x labels; None leaves a gap. ``reference``: a dashed line."""
    values = [v for s in series.values() for v in s if v is not None]
    if not x_labels or not values:
        return empty(title)
    y_max = y_max or _nice_max(max(values))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(x_labels) - 1)
    x_at = (lambda i: LEFT + step * i) if len(x_labels) > 1 else (lambda i: LEFT + plot_w / 2)

    def y_at(v: float) -> float:
        return TOP + plot_h - plot_h * min(v, y_max) / y_max

    out = _frame(title, y_max, y_unit, x_labels, x_at)
    if reference is not None:
        out.append(f'<line class="reference" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y_at(reference):.1f}" '
                   f'y2="{y_at(reference):.1f}"><title>{escape(reference_label)}</title></line>')
    names = list(series)
    cols = [color(n, i) for i, n in enumerate(names)]
    for name, c in zip(names, cols):
        run: list[str] = []
        for i, v in enumerate(list(series[name]) + [None]):
            if v is not None:
                run.append(f"{x_at(i):.1f},{y_at(v):.1f}")
                out.append(f'<circle cx="{x_at(i):.1f}" cy="{y_at(v):.1f}" r="2.5" fill="{c}">'
                           f'<title>{escape(f"{x_labels[i]}: {name} {_fmt(v)}{y_unit}")}</title></circle>')
            elif run:
                out.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="{" ".join(run)}"/>')
                run = []
    out += _legend(names, cols) + ["</svg>"]
    return "".join(out)


def timeline(title: str, rows: Sequence[tuple[str, str, datetime, datetime, str]]) -> str:
    """A Gantt-like strip per row: (label, group, start, end, tooltip); one colour per group."""
    if not rows:
        return empty(title)
    row_h, label_w = 18, 330
    height = TOP + row_h * len(rows) + 60   # rows, the time axis, the legend
    t0 = min(r[2] for r in rows)
    t1 = max(r[3] for r in rows)
    span = max((t1 - t0).total_seconds(), 1.0)
    plot_w = WIDTH - label_w - RIGHT
    groups: dict[str, str] = {}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart timeline" viewBox="0 0 {WIDTH} {height}" '
           f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>']
    # Seconds when the items span less than a day (one crawl), else dates and minutes.
    fmt = "%H:%M:%S" if span < 86400 else "%Y-%m-%d %H:%M"
    for i in range(5):
        x = label_w + plot_w * i / 4
        moment = t0 + (t1 - t0) * i / 4
        anchor = "end" if i == 4 else "middle"
        out.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{height - 50}"/>'
                   f'<text class="tick" x="{x:.1f}" y="{height - 36}" text-anchor="{anchor}">'
                   f'{escape(moment.strftime(fmt))}</text>')
    for n, (label, group, start, end, tip) in enumerate(rows):
        c = groups.setdefault(group, color(group, len(groups)))
        y = TOP + row_h * n
        x = label_w + plot_w * (start - t0).total_seconds() / span
        w = max(3.0, plot_w * (end - start).total_seconds() / span)
        text = label if len(label) <= 48 else label[:47] + "…"
        out.append(f'<text class="rowlabel" x="{label_w - 6}" y="{y + 13}" text-anchor="end">{escape(text)}</text>'
                   f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" rx="3" fill="{c}">'
                   f'<title>{escape(tip)}</title></rect>')
    x = label_w
    for group, c in groups.items():
        out.append(f'<rect x="{x}" y="{height - 14}" width="10" height="10" fill="{c}"/>'
                   f'<text class="legend" x="{x + 14}" y="{height - 5}">{escape(group)}</text>')
        x += 24 + 7 * len(group)
    out.append("</svg>")
    return "".join(out)
