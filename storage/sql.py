"""SQL over the archive: run a user's query safely, format the result, an interactive shell.

A user's SQL (`newsarchive sql`, the shell, `run --query`) runs on a connection made for it:
extension signatures verified, then locked (storage.lake.lock_down), and every statement is
checked before any runs (storage.sql_guard). Several statements separated by ';' are all
checked first, then run in order, each one's result shown.
"""
from __future__ import annotations

import csv
import io
import json
import sys
import time
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Sequence

import duckdb

from .lake import Archive, lock_down
from .sql_guard import RESULT_TYPES, QueryError, checked_statements, execute  # noqa: F401  (execute: re-export)
from .sql_guard import query_error as _query_error

FORMATS = ("table", "csv", "json")

Result = tuple[list[str], list[tuple]]

__all__ = ["FORMATS", "QueryError", "connect_user", "execute", "format_result", "query", "run_sql", "shell"]


def connect_user(archive: Archive, *, write: bool = False, at: int | None = None) -> duckdb.DuckDBPyConnection:
    """A connection for a user's SQL: read-only unless ``write``, pinned to snapshot ``at`` if given."""
    user_archive = archive.for_user_sql()
    if at is not None:
        if write:
            raise QueryError("--at cannot be combined with --write: snapshots are read-only")
        from .snapshots import connect_at   # imports this module: deferred
        con = connect_at(user_archive, at)
    else:
        con = user_archive.connect(read_only=not write)
    if archive.shared:
        _forget_s3_settings(con)
    return lock_down(con, user_archive)


#: httpfs copies AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY from the environment into these settings,
#: which current_setting() and duckdb_settings() show to any query; the lake reads through the
#: connection's temporary secret instead, so a user's connection keeps them empty.
S3_CREDENTIAL_SETTINGS = ("s3_access_key_id", "s3_secret_access_key", "s3_session_token")


def _forget_s3_settings(con: duckdb.DuckDBPyConnection) -> None:
    try:
        for name in S3_CREDENTIAL_SETTINGS:
            con.execute(f"SET {name} = ''")
    except BaseException:
        con.close()
        raise


def run_sql(con: duckdb.DuckDBPyConnection, sql: str, *, write: bool = False,
            one_result: bool = False) -> list[Result]:
    """Check every statement of ``sql`` (refusing all if one is refused), then run them in order.

    Returns one (columns, rows) per statement that has a result (queries, EXPLAIN, row counts
    of writes). ``one_result``: refuse SQL with more than one query (csv and json print one)."""
    statements = checked_statements(con, sql, write=write)
    if one_result and sum(s.type in RESULT_TYPES for s in statements) > 1:
        raise QueryError(f"refused: {len(statements)} statements, and --format csv/json prints one result; "
                         f"run them one at a time, or use --format table to see every result")
    results = []
    for statement in statements:
        try:
            cur = con.execute(statement)
        except duckdb.Error as e:
            raise _query_error(e, statement.query if len(statements) > 1 else "") from None
        if cur.description is not None and statement.type.name != "TRANSACTION":
            results.append(([d[0] for d in cur.description], cur.fetchall()))
    return results



#: DuckLake answers an ATTACH that races a snapshot expiry (`compact`) with this; a moment later the
#: catalog is consistent again, so readers try again instead of failing.
_EXPIRY_RACE = "No snapshot found in DuckLake"


def _connect_retrying(archive: Archive, *, write: bool, at: int | None, attempts: int = 5):
    for attempt in range(attempts):
        try:
            return connect_user(archive, write=write, at=at)
        except duckdb.InvalidInputException as e:
            if _EXPIRY_RACE not in str(e) or attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


def query(archive: Archive, sql: str, *, write: bool = False, at: int | None = None) -> Result:
    """Run one user statement on the archive (checked, on a locked connection); its result."""
    con = _connect_retrying(archive, write=write, at=at)
    try:
        results = run_sql(con, sql, write=write, one_result=True)
    finally:
        con.close()
    return results[-1] if results else ([], [])



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
    # A cut URL is useless (it cannot be opened or queried): columns named like one are never cut.
    limits = [10 ** 9 if "url" in c.lower() else max_width for c in columns]
    cells = [[_cell(v, lim) for v, lim in zip(r, limits)] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out = [line, "| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths)) + " |", line]
    out += ["| " + " | ".join(v.ljust(w) for v, w in zip(r, widths)) + " |" for r in cells]
    out += [line, f"({len(rows)} row{'s' if len(rows) != 1 else ''})"]
    return "\n".join(out)


def print_results(results: list[Result], fmt: str, stdout) -> None:
    for i, (cols, rows) in enumerate(results):
        if i:
            print("", file=stdout)
        print(format_result(cols, rows, fmt), file=stdout)


def shell(archive: Archive, *, write: bool = False, fmt: str = "table", stdin=None, stdout=None) -> int:
    """A small interactive SQL shell: statements end with ';', `.quit` leaves, `.tables` lists.

    Returns the exit status: 0, or 130 after Ctrl-C (one line on stderr, the connection closed:
    an unfinished --write statement is rolled back)."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    interactive = stdin.isatty()
    if interactive:
        try:
            import readline  # noqa: F401  (line editing and history)
        except ImportError:
            pass
    con = connect_user(archive, write=write)
    mode = "read-write" if write else "read-only"
    try:
        print(f"newsarchive SQL on {archive.location} ({mode}). End statements with ';'. "
              f".tables lists tables and views, .quit leaves.", file=stdout, flush=True)
        _shell_loop(con, write, fmt, stdin, stdout, interactive)
    except KeyboardInterrupt:
        print(("\n" if interactive else "") + "interrupted (Ctrl-C): SQL shell closed", file=sys.stderr)
        return 130
    finally:
        con.close()
    return 0


def _shell_loop(con, write: bool, fmt: str, stdin, stdout, interactive: bool) -> None:
    buf: list[str] = []
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
            print_results(run_sql(con, sql, write=write, one_result=fmt != "table"), fmt, stdout)
        except QueryError as e:
            print(f"error: {e}", file=stdout)
        stdout.flush()
