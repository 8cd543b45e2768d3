"""Archive schema: tables, views and their versioned migrations.

Column names and types of the views are a public API (README, "Querying").
Each migration runs once, in order, inside one transaction; the applied
version is kept in ``schema_info`` so an older archive opens and is upgraded.
"""
from __future__ import annotations

SCHEMA_VERSION = 1

ARTICLE_COLUMNS: dict[str, str] = {
    "url": "VARCHAR",                 # canonical URL
    "site": "VARCHAR",
    "version": "INTEGER",             # 1, 2, ... per url; articles shows the highest
    "content_hash": "VARCHAR",        # over the normalised extracted record (dedup.content_hash)
    "title": "VARCHAR",
    "summary": "VARCHAR",
    "authors": "VARCHAR[]",
    "source": "VARCHAR",
    "published_at": "TIMESTAMPTZ",
    "modified_at": "TIMESTAMPTZ",
    "section": "VARCHAR",
    "tags": "VARCHAR[]",
    "language": "VARCHAR",
    "dateline": "VARCHAR",
    "body": "VARCHAR",
    "images": "STRUCT(url VARCHAR, caption VARCHAR)[]",
    "credits": "VARCHAR",
    "related": "VARCHAR[]",
    "ticker": "VARCHAR[]",
    "extractor": "VARCHAR",
    "extractor_version": "VARCHAR",
    "quality": "VARCHAR[]",
    "fetched_url": "VARCHAR",         # the URL actually fetched (may differ from the canonical)
    "seen_at": "TIMESTAMPTZ",         # when this version was fetched
    "run_id": "VARCHAR",
    "warc_file": "VARCHAR",           # raw response: WARC file under <archive>/warc/ ...
    "warc_offset": "BIGINT",          # ... and the record's byte offset in it
    "warc_length": "BIGINT",
}

FETCH_COLUMNS: dict[str, str] = {
    "run_id": "VARCHAR",
    "site": "VARCHAR",
    "kind": "VARCHAR",                # robots | sitemap | feed | page | article
    "url": "VARCHAR",
    "final_url": "VARCHAR",
    "outcome": "VARCHAR",             # fetched | not_modified | failed | skipped
    "status": "INTEGER",
    "error_kind": "VARCHAR",
    "error": "VARCHAR",
    "etag": "VARCHAR",
    "last_modified": "VARCHAR",
    "content_hash": "VARCHAR",        # of the extracted record, for article fetches
    "fetched_at": "TIMESTAMPTZ",
    "elapsed_ms": "DOUBLE",
    "bytes": "BIGINT",
    "attempts": "INTEGER",
    "warc_file": "VARCHAR",
    "warc_offset": "BIGINT",
    "warc_length": "BIGINT",
}

RUN_COLUMNS: dict[str, str] = {
    "run_id": "VARCHAR",
    "flow_run_id": "VARCHAR",
    "flow_name": "VARCHAR",
    "sites": "VARCHAR[]",
    "started_at": "TIMESTAMPTZ",
    "finished_at": "TIMESTAMPTZ",
    "status": "VARCHAR",              # completed | completed_with_errors | recovered
    "newsarchive_version": "VARCHAR",
}

RUN_STAT_COLUMNS: dict[str, str] = {
    "run_id": "VARCHAR",
    "site": "VARCHAR",
    "counter": "VARCHAR",             # fetched, not_modified, failed:timeout, extracted, ...
    "value": "BIGINT",
}

TABLES: dict[str, dict[str, str]] = {
    "article_versions": ARTICLE_COLUMNS,
    "fetch_log": FETCH_COLUMNS,
    "runs": RUN_COLUMNS,
    "run_stats": RUN_STAT_COLUMNS,
}


def _create(table: str) -> str:
    cols = ", ".join(f"{name} {typ}" for name, typ in TABLES[table].items())
    return f"CREATE TABLE IF NOT EXISTS {table} ({cols})"


# Each entry: (version, statements). Never edit a released migration: append one.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (1, [
        *(_create(t) for t in TABLES),
        # The latest version of each canonical article.
        """CREATE OR REPLACE VIEW articles AS
           SELECT * FROM article_versions
           QUALIFY row_number() OVER (PARTITION BY url ORDER BY version DESC) = 1""",
    ]),
]
