"""Query latency on a large generated archive (issue 5: goal under 1 s each on 2 cores).

Builds an archive of N synthetic articles (default 1,000,000) directly through
DuckDB into the lake: 2 sites, publication dates over 7 years, ~3 KB bodies
drawn from a Zipf-like vocabulary, 1-3 tags each; committed in batches, one
snapshot per batch like scrape runs. Then times (median of 5; "new connection" opens a
read-only connection each time as the CLI does, "open" reuses one):

- opening a connection (Archive.connect: extensions, catalog attach)
- count of articles by site and day
- top tags of one month
- a full-text search (storage.search, after building the index; the build and
  an incremental refresh after a 1,000-article run are timed too)

Usage:
    python bench/bench_queries.py [--articles 1000000] [--archive /tmp/bench-archive] [--keep]

With --keep an existing archive is migrated and given the current view definitions first,
so the views measured are this checkout's.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storage.lake import Archive  # noqa: E402
from storage.schema import ARTICLE_COLUMNS, MIGRATIONS  # noqa: E402
from storage.search import refresh_index, search  # noqa: E402

VOCAB = 30_000
WORDS_PER_BODY = 450
TAGS = ["politics", "ukraine", "russia", "markets", "oil", "energy", "economy", "middle-east", "gaza",
        "lebanon", "iran", "china", "elections", "climate", "technology", "sports", "health", "science",
        "culture", "opinion"]
# Words planted at fixed rates so the full-text query has a known selectivity.
NAMES = ["lavrov", "kuleba", "erdogan", "nasrallah", "blinken"]


def synthetic_rows(start: int, n: int) -> str:
    """SQL producing article_versions rows start..start+n-1 (column order of the table)."""
    tags = "[" + ", ".join(f"'{t}'" for t in TAGS) + "]"
    names = "[" + ", ".join(f"'{t}'" for t in NAMES) + "]"
    body_word = f"ws[1 + floor(pow({VOCAB}, (hash(i * 1000 + j) % 1000000) / 1000000.0))::INT]"
    # One in ~200 articles mentions one of the names, a few times.
    body = (f"array_to_string(list_transform(range({WORDS_PER_BODY}), j -> "
            f"CASE WHEN i % 200 = 0 AND j % 97 = 5 THEN {names}[1 + ((i // 200) % {len(NAMES)})::BIGINT] "
            f"WHEN i % 200 = 1 AND j % 97 = 5 THEN {names}[1 + ((i // 200 + 1) % {len(NAMES)})::BIGINT] "
            f"ELSE {body_word} END), ' ')")
    exprs = {
        "url": "'https://' || site || '.example/world/article-' || i",
        "site": "site",
        "version": "1",
        "content_hash": "md5(i::VARCHAR)",
        "title": f"array_to_string(list_transform(range(8), j -> {body_word}), ' ')",
        "summary": "NULL",
        "authors": "['Staff Writer']",
        "source": "NULL",
        "published_at": "TIMESTAMPTZ '2019-01-01 00:00:00+00' + to_seconds((hash(i) % (7 * 365 * 86400))::BIGINT)",
        "modified_at": "NULL",
        "section": "'world'",
        "tags": f"list_distinct([{tags}[1 + (hash(i, 1) % {len(TAGS)})::BIGINT], {tags}[1 + (hash(i, 2) % {len(TAGS)})::BIGINT]])",
        "language": "'en'",
        "dateline": "NULL",
        "body": body,
        "images": "[]",
        "credits": "NULL",
        "related": "[]",
        "ticker": "[]",
        "extractor": "'bench'",
        "extractor_version": "'1'",
        "quality": "[]",
        "fetched_url": "'https://' || site || '.example/world/article-' || i",
        "seen_at": "now()",
        "run_id": f"'bench-{start}'",
        "warc_file": "NULL",
        "warc_offset": "NULL",
        "warc_length": "NULL",
        "changed": "NULL",
        "duplicate_of": "NULL",
        "story_id": "NULL",
    }
    select = ", ".join(f"({exprs[c]})::{t}" for c, t in ARTICLE_COLUMNS.items())
    return (f"SELECT {select} FROM (SELECT i, CASE WHEN i % 3 = 0 THEN 'almayadeen' ELSE 'reuters' END AS site "
            f"FROM range({start}, {start + n}) t(i)), vocab")


def build(archive: Archive, n: int, batch: int) -> float:
    t = time.perf_counter()
    archive.init()
    con = archive.connect()
    try:
        con.execute(f"""CREATE TEMP TABLE vocab AS SELECT list(w ORDER BY k) AS ws FROM (
            SELECT k, substr(md5(k::VARCHAR), 1, 3 + k % 7) || CASE WHEN k % 5 = 0 THEN 'ing' ELSE '' END AS w
            FROM range({VOCAB}) t(k))""")
        for start in range(0, n, batch):
            size = min(batch, n - start)
            con.execute("BEGIN")
            con.execute(f"INSERT INTO article_versions {synthetic_rows(start, size)}")
            con.execute("CALL lake.set_commit_message('newsarchive', ?)", [f"bench batch {start}"])
            con.execute("COMMIT")
            print(f"  {start + size:>9,} articles  {time.perf_counter() - t:6.1f} s", flush=True)
    finally:
        con.close()
    return time.perf_counter() - t


QUERIES = {
    "count by site and day": """
        SELECT site, published_at::DATE AS day, count(*) AS n FROM articles GROUP BY ALL ORDER BY day, site""",
    "top tags of a month": """
        SELECT tag, count(*) AS n FROM (SELECT unnest(tags) AS tag FROM articles
            WHERE published_at >= TIMESTAMPTZ '2022-03-01 00:00:00+00'
              AND published_at < TIMESTAMPTZ '2022-04-01 00:00:00+00')
        GROUP BY tag ORDER BY n DESC LIMIT 10""",
}


def current_views(archive: Archive) -> None:
    """Re-create the views as this checkout defines them (a kept archive may predate an edit)."""
    archive.init()
    con = archive.connect()
    try:
        for stmt in MIGRATIONS[-1][1]:
            if stmt.lstrip().startswith("CREATE OR REPLACE VIEW"):
                con.execute(stmt)
    finally:
        con.close()


def median_time(fn, repeat: int = 5) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--articles", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=100_000)
    ap.add_argument("--archive", default="/tmp/newsarchive-bench")
    ap.add_argument("--keep", action="store_true", help="Reuse an existing bench archive (skip the build).")
    args = ap.parse_args()
    root = Path(args.archive)
    archive = Archive(root)
    if not (args.keep and archive.exists()):
        shutil.rmtree(root, ignore_errors=True)
        print(f"building {args.articles:,} articles in {root}")
        print(f"archive build: {build(archive, args.articles, args.batch):.1f} s")
    else:
        current_views(archive)
    data_mb = sum(p.stat().st_size for p in archive.data_dir.rglob("*.parquet")) / 1e6
    print(f"data: {data_mb:,.0f} MB parquet")

    def run_sql(sql: str):
        con = archive.connect(read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    results, table = {}, []
    opened, _ = median_time(lambda: archive.connect(read_only=True).close())
    print(f"{'open a connection':<28} {opened * 1000:8.0f} ms")
    table.append(("open a connection (Archive.connect)", opened, None))
    warm = archive.connect(read_only=True)
    for name, sql in QUERIES.items():
        # New connection: what `newsarchive sql` sees (extensions, catalog attach, then the query).
        results[name], rows = median_time(lambda: run_sql(sql))
        hot, _ = median_time(lambda: warm.execute(sql).fetchall())
        print(f"{name:<28} {results[name] * 1000:8.0f} ms new connection, {hot * 1000:6.0f} ms on an open "
              f"connection ({len(rows)} rows)")
        table.append((name, results[name], hot))
    warm.close()

    t = time.perf_counter()
    report = refresh_index(archive, full=not args.keep)
    print(f"search index ({report.mode}): {time.perf_counter() - t:.1f} s, {report.indexed:,} articles, "
          f"{(root / 'search.duckdb').stat().st_size / 1e6:,.0f} MB")
    for q in ("lavrov kuleba", "erdogan"):
        results[f"search {q!r}"], hits = median_time(lambda: search(archive, q, limit=20))
        print(f"{'search ' + repr(q):<28} {results['search ' + repr(q)] * 1000:8.0f} ms  ({len(hits)} hits)")
        table.append((f"search {q!r} (opens the index)", results[f"search {q!r}"], None))

    # One scrape-sized run: 1,000 articles more, then the incremental refresh.
    con = archive.connect()
    try:
        con.execute(f"""CREATE TEMP TABLE vocab AS SELECT list(w ORDER BY k) AS ws FROM (
            SELECT k, substr(md5(k::VARCHAR), 1, 3 + k % 7) AS w FROM range({VOCAB}) t(k))""")
        n0 = 10_000_000 + int(time.time()) % 1_000_000 * 1000
        con.execute(f"INSERT INTO article_versions {synthetic_rows(n0, 1000)}")
    finally:
        con.close()
    t = time.perf_counter()
    report = refresh_index(archive)
    print(f"incremental refresh after a 1,000-article run ({report.mode}): {time.perf_counter() - t:.2f} s")
    results["search after incremental"], hits = median_time(lambda: search(archive, "lavrov kuleba"))
    print(f"{'search after incremental':<28} {results['search after incremental'] * 1000:8.0f} ms ({report.segments} segments)")
    table.append((f"search after incremental ({report.segments} segments)", results["search after incremental"], None))
    print("\n| query | new connection | open connection |\n|---|---|---|")
    for name, new, hot in table:
        print(f"| {name} | {new * 1000:,.0f} ms | {'–' if hot is None else f'{hot * 1000:,.0f} ms'} |")
    slow = [k for k, v in results.items() if v >= 1.0]
    print("all under 1 s" if not slow else f"over 1 s: {', '.join(slow)}")


if __name__ == "__main__":
    main()
