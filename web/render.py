"""The Jinja environment of the pages and the report: autoescape on for everything."""
from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from markupsafe import Markup

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"


def _dt(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return "–"
    if isinstance(value, (datetime, date)):
        return value.strftime(fmt)
    return str(value)


def _short(value: Any, width: int = 90) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _query(base: str, **params: Any) -> str:
    """``/path?a=1&b=2`` with empty parameters left out (values URL-encoded)."""
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return base + ("?" + urlencode(kept) if kept else "")


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    # autoescape=True for every template, whatever its name: titles, bodies and URLs come from
    # the crawled web and may hold markup (an article titled <script>...</script> shows as text).
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(dt=_dt, short=_short, pct=_pct)
    env.globals.update(link=_query, svg=Markup)   # svg: chart markup built (and escaped) by web.charts
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def inline_css() -> str:
    return (STATIC_DIR / "style.css").read_text(encoding="utf-8")
