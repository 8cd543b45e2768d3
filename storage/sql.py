"""SQL over the archive: run a query, format the result, an interactive shell."""
from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Sequence

import duckdb

from newsarchive.errors import NewsarchiveError

from .lake import Archive

FORMATS = ("table", "csv", "json")


class QueryError(NewsarchiveError, RuntimeError):
    pass


def query(archive: Archive, sql: str, *, write: bool = False) -> tuple[list[str], list[tuple]]:
    con = archive.connect(read_only=not write)
    try:
        return execute(con, sql)
    finally:
        con.close()


def execute(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[tuple]]:
    try:
        cur = con.execute(sql)
    except duckdb.Error as e:
        hint = ""
        if "read-only" in str(e):
            hint = " (the archive is opened read-only; add --write to modify it)"
        raise QueryError(f"{type(e).__name__}: {e}{hint}") from None
    if cur.description is None:
        return [], []
    return [d[0] for d in cur.description], cur.fetchall()


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.hex()
    return value


def _cell(value: Any, width: int) -> str:
    if value is None:
        text = "NULL"
    elif isinstance(value, (list, dict)):
        text = json.dumps(_plain(value), ensure_ascii=False)
    else:
        text = str(_plain(value))
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def format_result(columns: Sequence[str], rows: Sequence[tuple], fmt: str = "table",
                  max_width: int = 60) -> str:
    if fmt == "json":
        return json.dumps([{c: _plain(v) for c, v in zip(columns, r)} for r in rows],
                          ensure_ascii=False, indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow([json.dumps(_plain(v), ensure_ascii=False) if isinstance(v, (list, dict))
                        else ("" if v is None else _plain(v)) for v in r])
        return buf.getvalue().rstrip("\n")
    if fmt != "table":
        raise QueryError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    cells = [[_cell(v, max_width) for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out = [line, "| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths)) + " |", line]
    out += ["| " + " | ".join(v.ljust(w) for v, w in zip(r, widths)) + " |" for r in cells]
    out += [line, f"({len(rows)} row{'s' if len(rows) != 1 else ''})"]
    return "\n".join(out)


def shell(archive: Archive, *, write: bool = False, fmt: str = "table", stdin=None, stdout=None) -> None:
    """A small interactive SQL shell: statements end with ';', `.quit` leaves, `.tables` lists."""
    import sys
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    interactive = stdin.isatty()
    if interactive:
        try:
            import readline  # noqa: F401  (line editing and history)
        except ImportError:
            pass
    con = archive.connect(read_only=not write)
    mode = "read-write" if write else "read-only"
    print(f"newsarchive SQL on {archive.root} ({mode}). End statements with ';'. "
          f".tables lists tables and views, .quit leaves.", file=stdout)
    buf: list[str] = []
    try:
        while True:
            prompt = ("sql> " if not buf else "...> ") if interactive else ""
            if interactive:
                try:
                    line = input(prompt)
                except EOFError:
                    break
            else:
                line = stdin.readline()
                if not line:
                    break
            stripped = line.strip()
            if not buf and stripped in (".quit", ".exit", "\\q"):
                break
            if not buf and stripped == ".tables":
                stripped = "SHOW TABLES;"
            if not stripped:
                continue
            buf.append(stripped)
            if not stripped.endswith(";"):
                continue
            sql, buf = " ".join(buf), []
            try:
                cols, rows = execute(con, sql)
                if cols:
                    print(format_result(cols, rows, fmt), file=stdout)
            except QueryError as e:
                print(f"error: {e}", file=stdout)
    finally:
        con.close()
