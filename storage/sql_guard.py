"""Which statements `newsarchive sql` runs: a check of the user's SQL before any of it runs.

The first line of defence is the connection itself (storage.lake.lock_down: no file access
outside the archive's data directory, no extension loading, configuration locked, the lake
attached READ_ONLY unless --write). This module is the second: it refuses, with one line
saying what is allowed, every statement that would step outside "query the lake" (or, with
--write, "change the lake's tables"), so the user learns why instead of meeting a DuckDB
permission error, and so that what the engine would allow inside the archive (ATTACH of the
catalog, COPY into the data directory, DuckLake maintenance functions) is refused too.

Two independent readings of the SQL must both agree:

* DuckDB's tokenizer (``duckdb.tokenize``: string literals and comments are skipped, nothing
  is executed) gives each statement's leading keyword and every function name called;
* DuckDB's parser (``extract_statements``, on the locked connection) gives each statement's
  type. It runs only after the tokens passed: parsing PRAGMA/IMPORT already executes them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb

from newsarchive.errors import NewsarchiveError


class QueryError(NewsarchiveError, RuntimeError):
    """A SQL statement is refused, or DuckDB reports an error running it."""


class UnknownStatement(QueryError):
    """A leading word that is no statement newsarchive sql runs (often a typo: the parser says)."""


READ_VERBS = frozenset({"select", "with", "from", "values", "table", "show", "describe", "desc",
                        "summarize", "pivot", "unpivot", "pivot_wider", "pivot_longer", "("})
TRANSACTION_VERBS = frozenset({"begin", "start", "commit", "end", "rollback", "abort"})
WRITE_VERBS = frozenset({"insert", "update", "delete", "create", "drop", "alter", "merge", "truncate",
                         "comment"})

ST = duckdb.StatementType
READ_TYPES = frozenset({ST.SELECT, ST.EXPLAIN, ST.TRANSACTION})
WRITE_TYPES = READ_TYPES | {ST.INSERT, ST.UPDATE, ST.DELETE, ST.CREATE, ST.DROP, ST.ALTER, ST.MERGE_INTO}
RESULT_TYPES = frozenset({ST.SELECT, ST.EXPLAIN})

ALLOWED_READ = "SELECT, WITH, FROM, VALUES, SHOW, DESCRIBE, SUMMARIZE, PIVOT, EXPLAIN, BEGIN/COMMIT"
ALLOWED_WRITE = "INSERT, UPDATE, DELETE, MERGE, CREATE, ALTER, DROP on the lake's tables"
ATTACHED = "the archive is already attached as the default database (read-only unless --write)"
FILES = ("it reads or writes files; newsarchive sql reaches no file outside the archive's tables "
         "(save a result with --format csv|json > FILE, or a snapshot with `newsarchive export`)")
SETTINGS = "the connection's settings are fixed (UTC time zone, the archive as the default database)"
MAINTENANCE = "maintenance runs through `newsarchive compact` (merge files, expire snapshots)"

# Why each leading keyword is refused (the parts after "X is not allowed in newsarchive sql; ").
REFUSED_VERBS = {
    "attach": ATTACHED,
    "detach": "the archive stays attached as the default database",
    "use": "the archive is the default database; name other tables as lake.<table>",
    "install": "extensions are not installed or loaded from SQL; ducklake and sqlite are already loaded",
    "load": "extensions are not installed or loaded from SQL; ducklake and sqlite are already loaded",
    "force": "extensions and checkpoints are not managed from SQL; " + MAINTENANCE,
    "update extensions": "extensions are not installed or loaded from SQL; ducklake and sqlite are already loaded",
    "set": SETTINGS, "reset": SETTINGS,
    "pragma": SETTINGS + "; to look at tables use DESCRIBE, SHOW TABLES or SELECT * FROM pragma_table_info('t')",
    "copy": FILES, "export": FILES, "import": FILES,
    "call": "call table functions in SELECT * FROM f(...); " + MAINTENANCE,
    "checkpoint": MAINTENANCE, "vacuum": MAINTENANCE, "analyze": MAINTENANCE,
    "prepare": "write the statement itself (parameters are not supported)",
    "execute": "write the statement itself (parameters are not supported)",
    "deallocate": "write the statement itself (parameters are not supported)",
}

# Functions that write, delete or expire archive files, attach databases, or run SQL held in a
# string (which this check could not read). Refused wherever they are called.
# DuckLake's functions that change the lake's files, snapshots or settings, callable as
# ducklake_<name>('lake', ...) and as lake.<name>(...).
LAKE_MAINTENANCE = ("add_data_files", "cleanup_old_files", "delete_orphaned_files", "expire_snapshots",
                    "flush_inlined_data", "merge_adjacent_files", "rewrite_data_files", "set_commit_message",
                    "set_option", "commit")
REFUSED_FUNCTIONS = {
    **{f"{prefix}{name}": "it changes or deletes the lake's files, snapshots or settings; " + MAINTENANCE
       for name in LAKE_MAINTENANCE for prefix in ("ducklake_", "")},
    # The sqlite extension opens files through SQLite itself, past DuckDB's file-access checks.
    "sqlite_attach": ATTACHED,
    "sqlite_query": "it runs SQL on any SQLite file; query the lake's tables",
    "sqlite_scan": "it opens any SQLite file; the catalog's tables are readable as __ducklake_metadata_lake.<table>",
    "query": "it runs SQL held in a string, which cannot be checked; write the statement itself",
    "json_execute_serialized_sql": "it runs SQL held in a string, which cannot be checked; write the statement itself",
    "checkpoint": MAINTENANCE, "force_checkpoint": MAINTENANCE,
    "enable_logging": SETTINGS, "disable_logging": SETTINGS, "truncate_duckdb_logs": SETTINGS,
    "enable_profiling": SETTINGS, "disable_profiling": SETTINGS,
}

# The postgres extension's functions reach the Postgres server itself: postgres_query runs any
# SQL there (lo_import('/etc/passwd') or pg_advisory_lock included, whatever READ_ONLY says), and
# postgres_scan/attach connect to any server, past enable_external_access. Refused everywhere.
POSTGRES = ("it reaches the Postgres server itself (any SQL, any database); query the lake's tables, "
            "and its history with lake.snapshots()")
REFUSED_FUNCTIONS.update({name: POSTGRES for name in (
    "postgres_query", "postgres_execute", "postgres_scan", "postgres_scan_pushdown", "postgres_attach",
    "postgres_configure_pool", "pg_clear_cache")})
REFUSED_FUNCTIONS["query_table"] = "it reads tables named in a string, which cannot be checked; name the table itself"
# DuckLake's internal scan, called by hand, dereferences a null pointer (an INTERNAL error that
# invalidates the connection).
REFUSED_FUNCTIONS["ducklake_scan"] = "it is DuckLake's internal scan; query the lake's tables"

# DuckLake's own catalog, attached beside the lake: writing it directly loses data.
METADATA_PREFIX = "__ducklake_metadata"

# A shared archive (catalog in Postgres, data in S3) needs more: DuckDB confines s3:// paths to the
# allowed s3://BUCKET/PREFIX/data/ by prefix only, so 's3://BUCKET/PREFIX/data/../warc/x' passes
# and reads any object the credentials reach (other archives' too); its catalog database on the
# Postgres server shows every archive's schema there; its secret's key id shows in duckdb_secrets().
# So its SQL reads the lake's tables only: no file functions, no object-store paths, no catalog
# database, no secrets, no connection string.
SHARED_ONLY = "newsarchive sql on a shared archive reads the lake's tables only"
SHARED_FILES = (f"it reads files or objects by path, which DuckDB does not confine to the archive's data/ "
                f"prefix; {SHARED_ONLY}")
SHARED_REFUSED_FUNCTIONS = {
    **{name: SHARED_FILES for name in ("glob", "sniff_csv", "parquet_scan", "read_duckdb", "read_postgres_binary")},
    "duckdb_secrets": f"it shows the S3 secret; {SHARED_ONLY}",
    "which_secret": f"it shows the S3 secret; {SHARED_ONLY}",
    "duckdb_databases": f"it shows the catalog's connection string; {SHARED_ONLY}",
}
SHARED_FILE_PREFIXES = ("read_", "parquet_")   # read_text, read_parquet, parquet_metadata, ... and any new one
OBJECT_STORE_PATH = re.compile(r"^\s*(s3|s3a|s3n|r2|gcs|gs|az|azure|abfss|hf)://", re.I)


@dataclass(frozen=True)
class Token:
    kind: str    # duckdb.token_type name: identifier, keyword, operator, string_const, ...
    text: str    # identifiers unquoted and lower-cased; operators their first character


def _token_text(sql: str, start: int, kind: str) -> str:
    if kind == "identifier" and sql.startswith('"', start):
        m = re.match(r'"((?:[^"]|"")*)"', sql[start:])
        return (m.group(1).replace('""', '"') if m else sql[start + 1:]).lower()
    if kind in ("identifier", "keyword"):
        m = re.match(r"[\w$]+|\S+", sql[start:])
        return m.group(0).lower() if m else ""
    if kind == "string_const":
        return "'" + _string_content(sql[start:])
    return sql[start:start + 1]


def _string_content(text: str) -> str:
    """The value of the string constant ``text`` starts with: '...', E'...' (escapes decoded), $tag$...$tag$."""
    m = re.match(r"\$(\w*)\$", text)
    if m:
        end = text.find(m.group(0), m.end())
        return text[m.end():end if end >= 0 else None]
    escaped = text[:1] in "eE"
    m = re.match(r"[eExX]?'((?:[^']|'')*)'?", text)
    value = m.group(1).replace("''", "'") if m else text
    if escaped:
        import codecs
        value = codecs.decode(value.encode("latin-1", "backslashreplace"), "unicode_escape", errors="replace")
    return value


def split_tokens(sql: str) -> list[list[Token]]:
    """The SQL's tokens, one list per statement (split at top-level ';'), empty ones dropped."""
    try:
        raw = duckdb.tokenize(sql)
    except Exception as e:   # the tokenizer raises plain RuntimeError on unterminated strings
        raise QueryError(f"cannot read the SQL: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    statements: list[list[Token]] = [[]]
    for start, kind in raw:
        token = Token(kind.name, _token_text(sql, start, kind.name))
        if token.kind == "operator" and token.text == ";":
            statements.append([])
        else:
            statements[-1].append(token)
    return [s for s in statements if s]


def _leading_verb(tokens: list[Token]) -> str:
    """The statement's verb; for EXPLAIN [ANALYZE] [(options)] the verb of the explained statement."""
    i = 0
    if tokens and tokens[0].text == "explain":
        i = 1
        if i < len(tokens) and tokens[i].text in ("analyze", "analyse"):
            i += 1
        if i < len(tokens) and tokens[i].text == "(":
            depth = 0
            while i < len(tokens):   # skip EXPLAIN's parenthesised options
                depth += {"(": 1, ")": -1}.get(tokens[i].text, 0)
                i += 1
                if depth == 0:
                    break
    if i >= len(tokens):
        return ""
    if tokens[i].text == "update" and i + 1 < len(tokens) and tokens[i + 1].text == "extensions":
        return "update extensions"
    return tokens[i].text


def _refuse(what: str, why: str) -> QueryError:
    return QueryError(f"refused: {what} is not allowed in newsarchive sql; {why}")


def check_shared_tokens(tokens: list[Token]) -> None:
    """What a shared archive's SQL may not do beyond a local archive's (see SHARED_REFUSED_FUNCTIONS)."""
    for token, following in zip(tokens, tokens[1:] + [Token("", "")]):
        if token.kind in ("identifier", "keyword") and following.text == "(":
            if token.text in SHARED_REFUSED_FUNCTIONS:
                raise _refuse(f"{token.text}()", SHARED_REFUSED_FUNCTIONS[token.text])
            if token.text.startswith(SHARED_FILE_PREFIXES):
                raise _refuse(f"{token.text}()", SHARED_FILES)
        if token.kind == "identifier" and token.text.startswith(METADATA_PREFIX):
            raise _refuse(f"{token.text} (the catalog database)",
                          f"it is the Postgres database that holds every archive's catalog; {SHARED_ONLY} "
                          f"(history: lake.snapshots(), ducklake_table_info('lake'))")
        # A path as a table name ('s3://...' or "s3://...") is read by DuckDB's replacement scan.
        value = token.text[1:] if token.kind == "string_const" else token.text
        if token.kind in ("string_const", "identifier") and OBJECT_STORE_PATH.match(value):
            raise _refuse("an object-store path", SHARED_FILES)


def check_tokens(tokens: list[Token], *, write: bool) -> None:
    verb = _leading_verb(tokens)
    shown = verb.upper() or "an empty statement"
    if verb in REFUSED_VERBS:
        raise _refuse(shown, REFUSED_VERBS[verb])
    if verb in WRITE_VERBS and not write:
        raise QueryError(f"refused: {shown} is not allowed read-only; add --write to change the lake "
                         f"(without it: {ALLOWED_READ})")
    if verb not in READ_VERBS | TRANSACTION_VERBS | WRITE_VERBS:
        allowed = ALLOWED_READ + (f"; with --write also {ALLOWED_WRITE}" if write else "")
        raise UnknownStatement(str(_refuse(shown, f"allowed: {allowed}")))
    words = [t.text for t in tokens if t.kind in ("keyword", "identifier")]
    if verb in ("create", "drop") and "secret" in words[:5]:
        raise _refuse(f"{shown} SECRET", "secrets reach outside the archive; newsarchive sql reads only the lake")
    for token, following in zip(tokens, tokens[1:]):
        if token.kind in ("identifier", "keyword") and following.text == "(" and token.text in REFUSED_FUNCTIONS:
            raise _refuse(f"{token.text}()", REFUSED_FUNCTIONS[token.text])
    if verb in WRITE_VERBS and any(w.startswith(METADATA_PREFIX) for w in words):
        raise _refuse(f"{shown} on DuckLake's catalog ({METADATA_PREFIX}_lake)",
                      f"writing it directly loses data; change the lake's tables instead ({ALLOWED_WRITE})")


def check_statement(statement: duckdb.Statement, *, write: bool) -> None:
    allowed = WRITE_TYPES if write else READ_TYPES
    kind = statement.type.name
    if statement.type not in allowed:
        if statement.type == ST.CREATE and not statement.query.strip():   # PIVOT's hidden enum type
            raise QueryError("refused: PIVOT ... ON <column> without IN (...) creates a type, which is not "
                             "allowed read-only; name the values: PIVOT t ON c IN ('a', 'b') USING count(*)")
        if statement.type in WRITE_TYPES:
            raise QueryError(f"refused: {kind} is not allowed read-only; add --write to change the lake "
                             f"(without it: {ALLOWED_READ})")
        raise _refuse(kind, f"allowed: {ALLOWED_READ}" + (f"; with --write also {ALLOWED_WRITE}" if write else ""))
    # (Read-only, DuckLake attaches its catalog read-only too; EXPLAIN's verb was checked on the tokens.)
    if write and statement.type not in READ_TYPES and METADATA_PREFIX in statement.query.lower():
        raise _refuse(f"{kind} on DuckLake's catalog ({METADATA_PREFIX}_lake)",
                      f"writing it directly loses data; change the lake's tables instead ({ALLOWED_WRITE})")


def is_shared_connection(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the attached lake's catalog is in Postgres (a shared archive)."""
    return con.execute("SELECT count(*) FROM duckdb_databases() WHERE database_name = 'lake' "
                       "AND path LIKE 'postgres:%'").fetchone()[0] > 0


def checked_statements(con: duckdb.DuckDBPyConnection, sql: str, *, write: bool) -> list[duckdb.Statement]:
    """Every statement of ``sql``, after both checks passed for all of them (nothing runs otherwise)."""
    token_lists = split_tokens(sql)
    if not token_lists:
        raise QueryError("nothing to run: the SQL is empty (e.g. newsarchive sql \"SELECT count(*) FROM articles\")")
    shared = is_shared_connection(con)
    unknown: UnknownStatement | None = None
    for tokens in token_lists:
        try:
            check_tokens(tokens, write=write)
            if shared:
                check_shared_tokens(tokens)
        except UnknownStatement as e:
            unknown = unknown or e
    # Safe to parse now: no statement starts with a verb the parser would execute (PRAGMA, IMPORT).
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as e:   # a syntax error says more than "SELEC is not allowed"
        raise QueryError(f"{type(e).__name__}: {str(e).strip().splitlines()[0]}") from None
    if unknown:
        raise unknown
    for statement in statements:
        check_statement(statement, write=write)
    return statements

def query_error(e: duckdb.Error, statement: str) -> QueryError:
    text = str(e).strip()
    message = text.splitlines()[0] if text else ""
    hint = ""
    if "read-only" in text:
        hint = " (the archive is opened read-only; add --write to modify it)"
    elif isinstance(e, duckdb.PermissionException):
        hint = " (newsarchive sql reads no file outside the archive: query its tables)"
    where = f" in: {' '.join(statement.split())[:80]}" if statement else ""
    return QueryError(f"{type(e).__name__}: {message}{hint}{where}")


def execute(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[tuple]]:
    """Run the project's own SQL on one of its connections (no checks); DuckDB errors as QueryError."""
    try:
        cur = con.execute(sql)
    except duckdb.Error as e:
        raise query_error(e, "") from None
    if cur.description is None:
        return [], []
    return [d[0] for d in cur.description], cur.fetchall()
