"""Full-text search (BM25 over title and body) with DuckDB's fts extension.

The fts extension indexes native DuckDB tables only, not DuckLake ones, so the
index is a derived DuckDB file, ``<archive>/search.duckdb``, rebuilt from the
lake's ``articles`` view and safe to delete (the next refresh rebuilds it).

An fts index cannot be updated in place, and rebuilding it over a large archive
takes minutes, so the file holds *segments* (as Lucene does): each refresh puts
the articles changed since the indexed snapshot into a new small segment table
with its own fts index and deletes their old rows from older segments (a
deleted row no longer joins, so it drops out of results). When there are too
many segments they are merged into one. BM25 statistics are per segment, which
ranks a little differently from one big index; merging restores them.

Searching scores BM25 in SQL from the fts index tables, as fts's ``match_bm25``
does (same tokenizer, stemmer, statistics and formula, so the same ranking), but
reads only the query terms' postings: each segment's ``terms`` table is stored
sorted by term, so DuckDB's zonemaps skip the rest (``match_bm25`` scans all of
it: 2.3 s at 1M articles). An index on ``url`` fetches the hits' title and body
without decompressing every body.

``index_info`` records the lake snapshot the index reflects.

A shared archive (s3://, Postgres catalog) has one such file per host, under the worker's
cache (``archive.root``): derived, never shared, rebuilt when lost. The refresh reads the lake
through the attached Postgres/S3 connection like any query; since other hosts' workers
commit too, ``search`` first brings this host's file up to the lake (``ensure_current``:
one catalog query when current, an incremental refresh when behind).
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb

from .lake import EXTENSION_CONFIG, LAKE, Archive, ArchiveError, extension_path

INDEX_FILE = "search.duckdb"
SOURCE_VIEW = "articles"            # what is searchable: the latest version of each article
CHANGE_TABLE = "article_versions"   # where article changes are committed (its DuckLake change feed)
COLUMNS = ("url", "site", "published_at", "title", "body")
INDEXED = ("title", "body")         # the fields fts indexes, in its field-id order
MAX_SEGMENTS = 8
# Bump when the tokenizer, stemmer or segment layout changes: older files are rebuilt.
INDEX_FORMAT = "2"   # 2: terms sorted by termid, index on url
FTS_OPTIONS = "stemmer = 'english', stopwords = 'english', strip_accents = 1, lower = 1, overwrite = 1"
LOCK_WAIT_S = 10.0
# Row groups of 2,048 rows (DuckDB's default: 122,880): a segment of a few thousand articles is
# then several row groups, so building its index (_fill_fts_index) uses every core.
ATTACH_OPTIONS = "ROW_GROUP_SIZE 2048"
REFRESH_MEMORY_LIMIT = "256MB"   # DuckDB buffer memory of an index refresh (see _refresh_index)


class SearchError(ArchiveError):
    pass


@dataclass
class Hit:
    site: str
    published_at: datetime | None
    title: str | None
    url: str
    snippet: str
    score: float


@dataclass
class RefreshReport:
    snapshot_id: int
    previous_snapshot: int | None
    mode: str                 # full | incremental | up-to-date
    indexed: int              # articles (re)indexed by this refresh
    segments: int
    seconds: float


def index_path(archive: Archive) -> Path:
    return archive.root / INDEX_FILE


def _load_fts(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"LOAD '{extension_path('fts')}'")


def _segments(con: duckdb.DuckDBPyConnection, db: str = "search") -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main' "
        "AND table_name LIKE 'seg\\_%' ESCAPE '\\' ORDER BY table_name", [db]).fetchall()]


def _info(con: duckdb.DuckDBPyConnection, db: str = "search") -> dict[str, str]:
    exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = 'index_info'",
                         [db]).fetchone()[0]
    return dict(con.execute(f"SELECT key, value FROM {db}.index_info").fetchall()) if exists else {}


def _new_segment(con: duckdb.DuckDBPyConnection, source_sql: str, params: list | None = None) -> tuple[str, int]:
    """Create the next segment table in the current database (``search``) from ``source_sql`` and index it."""
    # Nothing to index (a run that changed no article): no segment. Made and dropped again, fts's
    # tables would fail the commit of an incremental refresh, which is one transaction.
    if con.execute(f"SELECT 1 FROM ({source_sql}) LIMIT 1", params or []).fetchone() is None:
        return "", 0
    existing = _segments(con)
    n = max((int(s.split("_")[1]) for s in existing), default=0) + 1
    name = f"seg_{n:06d}"
    con.execute(f"CREATE TABLE {name} AS SELECT * FROM ({source_sql}) LIMIT 0", params or [])
    # fts on the empty table: its schema, stopwords, tokenize and match_bm25 macros, empty tables;
    # the rows and the index tables are filled below (_fill_fts_index).
    fields = ", ".join(f"'{f}'" for f in INDEXED)
    con.execute(f"PRAGMA create_fts_index('{name}', 'url', {fields}, {FTS_OPTIONS})")
    con.execute(f"INSERT INTO {name} {source_sql}", params or [])
    rows = con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
    if rows == 0:
        _drop_segment(con, name)
        return "", 0
    _fill_fts_index(con, name)
    con.execute(f"CREATE INDEX {name}_url ON {name} (url)")
    return name, rows


def _fill_fts_index(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """The index tables fts's ``create_fts_index`` would write for ``name``'s rows, written faster.

    Same tokenizer (fts's own ``tokenize`` macro), stopwords, stemmer, document ids (rowid),
    lengths, document frequencies and statistics (tests/test_archive_search.py compares the
    tables with fts's own). Where it differs: fts computes lengths, term ids and document
    frequencies with correlated UPDATEs, this with one grouped pass; term ids follow the
    terms' order instead of fts's arbitrary one; and ``terms`` is written sorted by term id,
    so a query reads only its own postings (zonemaps) without a re-sort. With the index's
    2,048-row row groups (``ATTACH_OPTIONS``) the tokenizing scan runs on every core, and each
    distinct word is stemmed once: 6,000 articles take ~0.8 s instead of fts's ~1.4 s plus 0.2 s
    of sorting.
    """
    fts, tokens = f"fts_main_{name}", f"fts_tokens_{name}"
    con.execute(f"INSERT INTO {fts}.docs (docid, name) SELECT rowid, url FROM {name}")
    tokenized = " UNION ALL ".join(
        f"SELECT unnest({fts}.tokenize(s.{field})) AS w, s.rowid AS docid, "
        f"(SELECT fieldid FROM {fts}.fields WHERE field = '{field}') AS fieldid FROM {name} AS s"
        for field in INDEXED)
    # Each distinct word is stemmed once (stemming every token was ~40 % of the tokenizing step:
    # 6,000 articles hold ~800,000 tokens but ~20,000 distinct words); the stems are the same.
    con.execute(f"""CREATE TEMP TABLE {tokens} AS
        WITH words AS MATERIALIZED (
            SELECT w, docid, fieldid FROM ({tokenized})
            WHERE w NOT NULL AND len(w) > 0 AND w NOT IN (SELECT sw FROM {fts}.stopwords)),
        stems AS (SELECT w, stem(w, 'english') AS term FROM (SELECT DISTINCT w FROM words))
        SELECT stems.term, words.docid, words.fieldid FROM words JOIN stems USING (w)""")
    try:
        con.execute(f"""INSERT INTO {fts}.dict (termid, term, df)
            SELECT row_number() OVER (ORDER BY term) - 1, term, count(DISTINCT docid)
            FROM temp.{tokens} GROUP BY term""")
        con.execute(f"""INSERT INTO {fts}.terms (docid, fieldid, termid)
            SELECT t.docid, t.fieldid, d.termid FROM temp.{tokens} AS t JOIN {fts}.dict AS d USING (term)
            ORDER BY d.termid, t.docid""")
        con.execute(f"""UPDATE {fts}.docs AS d SET len = coalesce(c.n, 0)
            FROM (SELECT docs.docid, count(t.docid) AS n FROM {fts}.docs AS docs
                  LEFT JOIN temp.{tokens} AS t USING (docid) GROUP BY docs.docid) AS c
            WHERE d.docid = c.docid""")
        con.execute(f"DELETE FROM {fts}.stats")
        con.execute(f"INSERT INTO {fts}.stats SELECT count(docid), sum(len) / count(len) FROM {fts}.docs")
    finally:
        con.execute(f"DROP TABLE IF EXISTS temp.{tokens}")


def _drop_segment(con: duckdb.DuckDBPyConnection, name: str) -> None:
    con.execute(f"PRAGMA drop_fts_index('{name}')")
    con.execute(f"DROP TABLE {name}")


def _write_info(con: duckdb.DuckDBPyConnection, snapshot_id: int) -> None:
    con.execute("CREATE TABLE IF NOT EXISTS index_info (key VARCHAR PRIMARY KEY, value VARCHAR)")
    for key, value in {"snapshot_id": str(snapshot_id), "format": INDEX_FORMAT,
                       "refreshed_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}.items():
        con.execute("INSERT OR REPLACE INTO index_info VALUES (?, ?)", [key, value])


def _source(where: str = "") -> str:
    return f"SELECT {', '.join(COLUMNS)} FROM {LAKE}.main.{SOURCE_VIEW} {where}"


def _full_build(archive: Archive, lake: duckdb.DuckDBPyConnection, snapshot_id: int) -> tuple[int, int]:
    """Build a fresh index file beside the old one and swap it in (searches never see a half index)."""
    target = index_path(archive)
    tmp = target.with_name(target.name + ".building")
    tmp.unlink(missing_ok=True)
    lake.execute(f"ATTACH '{tmp}' AS search ({ATTACH_OPTIONS})")
    try:
        lake.execute("USE search")
        _, rows = _new_segment(lake, _source())
        _write_info(lake, snapshot_id)
        segments = len(_segments(lake))
        lake.execute(f"USE {LAKE}")
        lake.execute("DETACH search")
    except BaseException:
        lake.execute(f"USE {LAKE}")
        lake.execute("DETACH DATABASE IF EXISTS search")
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(target)
    Path(str(tmp) + ".wal").unlink(missing_ok=True)
    return rows, segments


def _attach_index(lake: duckdb.DuckDBPyConnection, path: Path) -> None:
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            lake.execute(f"ATTACH '{path}' AS search ({ATTACH_OPTIONS})")
            return
        except duckdb.IOException as e:
            if "lock" not in str(e).lower() or time.monotonic() > deadline:
                raise SearchError(f"cannot open the search index {path}: {e}") from None
            time.sleep(0.2)


def refresh_index(archive: Archive, *, full: bool = False) -> RefreshReport:
    """Bring ``<archive>/search.duckdb`` up to the lake's latest snapshot (incrementally when possible).

    One refresh at a time per archive (runs on several workers finish side by side): the
    others wait for the lock, then find the index up to date or refresh only what is left."""
    import fcntl
    archive.root.mkdir(parents=True, exist_ok=True)
    with open(archive.root / "search.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _refresh_index(archive, full=full)


def _refresh_index(archive: Archive, *, full: bool = False) -> RefreshReport:
    started = time.monotonic()
    lake = archive.connect(read_only=True)
    try:
        # Building a segment (fts indexing, a merge of all segments) is the one step of a run
        # whose memory grows with the archive: a full build of 100,000 articles peaked at
        # 1,001 MiB unbounded, 548 MiB with this limit (DuckDB spills the rest to disk).
        lake.execute(f"SET memory_limit = '{REFRESH_MEMORY_LIMIT}'")
        spill = archive.root / ".duckdb" / "tmp"
        spill.mkdir(parents=True, exist_ok=True)
        lake.execute(f"SET temp_directory = '{spill}'")
        _load_fts(lake)
        current = lake.execute(f"SELECT id FROM {LAKE}.current_snapshot()").fetchone()[0]
        ids = {r[0] for r in lake.execute(f"SELECT snapshot_id FROM {LAKE}.snapshots()").fetchall()}
        path = index_path(archive)
        previous = None
        if path.exists() and not full:
            _attach_index(lake, path)
            info = _info(lake)
            previous = int(info["snapshot_id"]) if "snapshot_id" in info else None
            # Incremental only from a readable change feed: the snapshot after the
            # indexed one must still exist (compaction may have expired it).
            if info.get("format") == INDEX_FORMAT and previous is not None and (
                    previous == current or previous + 1 in ids):
                try:
                    return _incremental(lake, previous, current, started)
                finally:
                    lake.execute(f"USE {LAKE}")
                    lake.execute("DETACH DATABASE IF EXISTS search")
            lake.execute("DETACH search")
        rows, segments = _full_build(archive, lake, current)
        return RefreshReport(current, previous, "full", rows, segments, time.monotonic() - started)
    except duckdb.Error as e:
        raise SearchError(f"refreshing the search index of {archive.root} failed: {e}") from None
    finally:
        lake.close()


def _incremental(lake: duckdb.DuckDBPyConnection, previous: int, current: int, started: float) -> RefreshReport:
    lake.execute("USE search")
    if previous == current:
        return RefreshReport(current, previous, "up-to-date", 0, len(_segments(lake)), time.monotonic() - started)
    lake.execute("BEGIN")
    try:
        lake.execute(f"""CREATE OR REPLACE TEMP TABLE changed AS SELECT DISTINCT url FROM
            ducklake_table_changes('{LAKE}', 'main', '{CHANGE_TABLE}', {previous + 1}, {current})""")
        for seg in _segments(lake):
            lake.execute(f"DELETE FROM {seg} WHERE url IN (SELECT url FROM temp.changed)")
        _, rows = _new_segment(lake, _source("WHERE url IN (SELECT url FROM temp.changed)"))
        _write_info(lake, current)
        lake.execute("COMMIT")
    except BaseException as e:
        try:
            lake.execute("ROLLBACK")
        except duckdb.Error:  # the failed statement already ended the transaction
            pass
        raise e
    segments = _segments(lake)
    if len(segments) > MAX_SEGMENTS:
        _merge_segments(lake, segments)
    return RefreshReport(current, previous, "incremental", rows, len(_segments(lake)), time.monotonic() - started)


def _merge_segments(con: duckdb.DuckDBPyConnection, segments: list[str]) -> None:
    """One segment from the rows of all; their BM25 statistics become global again.

    Not one transaction: fts cannot drop and create its index tables in the same
    one. Until the old segments are dropped a URL may be in two segments; search
    keeps each URL's best hit only, so results stay right even if this is interrupted.
    """
    union = " UNION ALL ".join(f"SELECT {', '.join(COLUMNS)} FROM {s}" for s in segments)
    _new_segment(con, union)
    for s in segments:
        _drop_segment(con, s)


# --- searching ---------------------------------------------------------------------------------

_WORD = re.compile(r"\w+", re.UNICODE)


def _open_index(archive: Archive) -> duckdb.DuckDBPyConnection:
    path = index_path(archive)
    if not path.exists():
        raise SearchError(f"no search index at {path}; run `newsarchive search --refresh` "
                          f"(or a scrape run, which refreshes it)")
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            con = duckdb.connect(str(path), read_only=True, config=EXTENSION_CONFIG)
            break
        except duckdb.IOException as e:
            if "lock" not in str(e).lower() or time.monotonic() > deadline:
                raise SearchError(f"cannot open the search index {path}: {e}; it is probably being "
                                  f"refreshed, try again in a moment") from None
            time.sleep(0.2)
    _load_fts(con)
    con.execute("SET TimeZone = 'UTC'")
    return con


def snippet(body: str | None, terms: list[str], width: int = 160) -> str:
    """A window of ``body`` around the first occurrence of a query term (or its stem as a prefix)."""
    text = re.sub(r"\s+", " ", body or "").strip()
    if not text:
        return ""
    stems = [t for t in terms if t]
    match = None
    if stems:
        match = re.search(r"\b(" + "|".join(re.escape(s) for s in stems) + r")\w*", text, re.IGNORECASE)
    if match is None:
        return text[:width] + ("…" if len(text) > width else "")
    start = max(0, match.start() - width // 3)
    if start:  # start on a word boundary
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < match.start() else start
    end = min(len(text), start + width)
    return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")


def _bounds(date_from, date_to) -> tuple[datetime | None, datetime | None]:
    """UTC [start, end) for --from/--to; a bare date as --to includes that whole day."""
    def parse(d):
        if isinstance(d, str):
            return datetime.fromisoformat(d) if ("T" in d or " " in d) else date.fromisoformat(d)
        return d

    def as_dt(d: date | datetime) -> datetime:
        if isinstance(d, datetime):
            return d if d.tzinfo else d.replace(tzinfo=timezone.utc)
        return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)

    start = as_dt(parse(date_from)) if date_from is not None else None
    end = None
    if date_to is not None:
        d = parse(date_to)
        end = as_dt(d) + (timedelta(microseconds=1) if isinstance(d, datetime) else timedelta(days=1))
    return start, end


def indexed_snapshot(archive: Archive) -> int | None:
    """The lake snapshot ``search.duckdb`` reflects (None: no index, or one being rebuilt)."""
    path = index_path(archive)
    if not path.exists():
        return None
    try:
        con = duckdb.connect(str(path), read_only=True, config=EXTENSION_CONFIG)
    except duckdb.IOException:      # locked by a refresh in progress
        return None
    try:
        db = con.execute("SELECT current_database()").fetchone()[0]
        info = _info(con, db=db)
        return int(info["snapshot_id"]) if info.get("format") == INDEX_FORMAT and "snapshot_id" in info else None
    finally:
        con.close()


def lake_snapshot(archive: Archive) -> int:
    """The shared lake's latest snapshot, straight from its Postgres catalog (one small query,
    no DuckDB attach)."""
    from .coordination import connect
    conn = connect(archive.shared.catalog_dsn)
    try:
        return conn.execute(f'SELECT max(snapshot_id) FROM "{archive.shared.schema}".ducklake_snapshot').fetchone()[0]
    finally:
        conn.close()


def ensure_current(archive: Archive) -> RefreshReport | None:
    """On a shared archive, bring this host's index up to the lake before a search: other
    workers commit articles whose runs refreshed *their* hosts' indexes, not this one.
    Incremental when the index exists; None when it was already current. A local archive's
    runs refresh its one index after each commit: nothing to do."""
    if not archive.shared:
        return None
    if indexed_snapshot(archive) == lake_snapshot(archive):
        return None
    return refresh_index(archive)


def search(archive: Archive, query: str, *, site: str | None = None, date_from=None, date_to=None,
           limit: int = 20) -> list[Hit]:
    """BM25-ranked articles matching any word of ``query`` (more matching words rank higher).
    On a shared archive the index is refreshed first if the lake moved on (``ensure_current``)."""
    if not _WORD.search(query or ""):
        raise SearchError("empty search query; give one or more words, e.g. \"lavrov kuleba\"")
    if limit < 1:
        raise SearchError(f"--limit {limit}: must be at least 1")
    try:
        start, end = _bounds(date_from, date_to)
    except ValueError as e:
        raise SearchError(f"--from/--to: {e}; use YYYY-MM-DD or an ISO timestamp") from None
    ensure_current(archive)
    con = _open_index(archive)
    try:
        db = con.execute("SELECT current_database()").fetchone()[0]
        filters, params = ["true"], []
        if site:
            filters.append("s.site = ?")
            params.append(site)
        if start:
            filters.append("s.published_at >= ?")
            params.append(start)
        if end:
            filters.append("s.published_at < ?")
            params.append(end)
        parts, all_params = [], []
        for seg in _segments(con, db=db):
            termids = [r[0] for r in con.execute(
                f"SELECT termid FROM fts_main_{seg}.dict WHERE term IN "
                f"(SELECT stem(unnest(fts_main_{seg}.tokenize(?)), 'english'))", [query]).fetchall()]
            if termids:
                parts.append(_segment_hits(seg, termids, " AND ".join(filters)))
                all_params += params
        if not parts:
            return []
        # A URL is in one segment, except briefly during a merge: keep its best hit.
        rows = con.execute(
            "SELECT seg, site, published_at, url, score FROM (" + " UNION ALL ".join(parts) + ") "
            "QUALIFY row_number() OVER (PARTITION BY url ORDER BY score DESC) = 1 "
            "ORDER BY score DESC, published_at DESC NULLS LAST, url LIMIT ?", [*all_params, limit]).fetchall()
        # Title and body of the hits only (through the url index), not of every candidate.
        text = {}
        for seg in {r[0] for r in rows}:
            text.update((u, (t, b)) for u, t, b in con.execute(
                f"SELECT url, title, body FROM {seg} WHERE url = ANY(?::VARCHAR[])",
                [[r[3] for r in rows if r[0] == seg]]).fetchall())
        words = [w.lower() for w in _WORD.findall(query)]
        stems = [r[0] for r in con.execute(
            "SELECT DISTINCT stem(w, 'english') FROM unnest(?::VARCHAR[]) t(w)", [words]).fetchall()]
        terms = sorted(set(words) | set(stems), key=len)
        return [Hit(site=s, published_at=p, title=text[u][0], url=u, snippet=snippet(text[u][1], terms),
                    score=float(sc)) for _, s, p, u, sc in rows]
    except duckdb.Error as e:
        raise SearchError(f"search failed: {e}") from None
    finally:
        con.close()


def _segment_hits(seg: str, termids: list[int], where: str) -> str:
    """SQL for (seg, site, published_at, url, score) of the rows of ``seg`` matching ``termids``.

    BM25 exactly as fts's match_bm25(url, query, fields := 'title,body') computes it
    (k = 1.2, b = 0.75, its log and operand order), over all fields: title and body
    are the only ones. Rows deleted from the segment since it was indexed drop out
    in the join, as with match_bm25; its statistics still count them, as there.
    """
    f = f"fts_main_{seg}"
    ids = ", ".join(str(int(t)) for t in termids)  # integers from the index: literals let zonemaps prune
    return f"""SELECT '{seg}' AS seg, s.site, s.published_at, s.url, sc.score FROM (
        SELECT d.name AS url,
               sum(log((((SELECT num_docs FROM {f}.stats) - q.df) + 0.5) / (q.df + 0.5) + 1)
                   * ((tf.tf * (1.2 + 1)) / (tf.tf + (1.2 * ((1 - 0.75)
                      + (0.75 * (d.len / (SELECT avgdl FROM {f}.stats)))))))) AS score
        FROM (SELECT docid, termid, count(*) AS tf FROM {f}.terms WHERE termid IN ({ids})
              GROUP BY docid, termid) tf
        JOIN (SELECT termid, df FROM {f}.dict WHERE termid IN ({ids})) q USING (termid)
        JOIN {f}.docs d USING (docid)
        GROUP BY d.name) sc
      JOIN {seg} s USING (url) WHERE {where}"""


def drop_index(archive: Archive) -> None:
    """Delete the derived index (the next refresh rebuilds it)."""
    for name in (INDEX_FILE, INDEX_FILE + ".wal", INDEX_FILE + ".building", INDEX_FILE + ".building.wal"):
        (archive.root / name).unlink(missing_ok=True)
