"""Archive commands of the `newsarchive` CLI: snapshots, export, compact, search, archive copy.

Standalone click commands registered on the main group in flows/cli.py
(``cli.add_command(...)``); they take the archive from the group's context
object (``Ctx.archive``). Errors are project errors (NewsarchiveError), one line
naming the setting and the fix; the group in flows/cli.py prints them and exits 2.
"""
from __future__ import annotations

from datetime import timedelta

import click

from newsarchive.errors import NewsarchiveError
from storage.compact import DEFAULT_GRACE, DEFAULT_KEEP_DAYS, DEFAULT_KEEP_LAST, compact
from storage.export import FORMATS as EXPORT_FORMATS
from storage.export import export_snapshot
from storage.search import refresh_index, search
from storage.snapshots import list_snapshots
from storage.sql import FORMATS, format_result


class CommandError(NewsarchiveError, ValueError):
    """A command's arguments cannot be used (unknown site, option out of range, missing query)."""


def _archive():
    return click.get_current_context().obj.archive


@click.command()
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--last", type=int, default=None, metavar="N", help="Only the N most recent snapshots.")
def snapshots(fmt: str, last: int | None) -> None:
    """List the archive's snapshots: one per run (id, time, run, sites, rows added per table).

    Pin a query to one of them with `newsarchive sql --at ID "..."` or, in
    plain DuckDB SQL, `SELECT ... FROM article_versions AT (VERSION => ID)`.

    \b
    Example:
      newsarchive snapshots --last 5
      newsarchive sql --at 3 "SELECT count(*) FROM articles"
    """
    snaps = list_snapshots(_archive())
    if last is not None:
        snaps = snaps[-last:] if last > 0 else []
    cols = ["snapshot", "time", "run_id", "flow_run_id", "sites", "message", "rows_added"]
    rows = [(s.snapshot_id, s.time.replace(microsecond=0), s.run_id, s.flow_run_id, ", ".join(s.sites),
             s.message, ", ".join(f"{t} {n}" for t, n in s.rows_added.items()) if fmt == "table"
             else s.rows_added) for s in snaps]
    click.echo(format_result(cols, rows, fmt, max_width=80))


@click.command("export")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--at", "at", type=int, default=None, metavar="ID", help="Snapshot to export (default: the latest).")
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="parquet", show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an earlier export in DIRECTORY.")
def export(directory: str, at: int | None, fmt: str, overwrite: bool) -> None:
    """Write one snapshot as standalone files readable without DuckLake, plus manifest.json.

    Article tables are partitioned by site and publication month
    (site=.../month=YYYY-MM/), parquet files are zstd-compressed, jsonl files gzip.

    \b
    Example:
      newsarchive export --at 3 --format parquet snapshot-3/
      duckdb -c "SELECT site, count(*) FROM read_parquet('snapshot-3/articles/**/*.parquet', hive_partitioning = true) GROUP BY site"
    """
    manifest = export_snapshot(_archive(), directory, at=at, fmt=fmt, overwrite=overwrite)
    click.echo(f"snapshot {manifest.snapshot_id} (schema {manifest.schema_version}) exported to {directory} "
               f"as {fmt}:")
    click.echo(format_result(["table", "rows", "files", "partitioning"],
                             [(t, e.rows, e.files, "/".join(e.partitioning) or "-")
                              for t, e in manifest.tables.items()]))
    click.echo(f"read it with: {manifest.read_with}")


@click.command("compact")
@click.option("--keep-days", type=int, default=DEFAULT_KEEP_DAYS, show_default=True,
              help="Keep snapshots (time travel) younger than this many days.")
@click.option("--keep-last", type=int, default=DEFAULT_KEEP_LAST, show_default=True,
              help="Always keep at least the last N snapshots.")
@click.option("--grace-minutes", type=float, default=DEFAULT_GRACE.total_seconds() / 60, show_default=True,
              help="Delete replaced files only when scheduled for deletion longer ago than this "
                   "(queries running meanwhile keep their files).")
def compact_cmd(keep_days: int, keep_last: int, grace_minutes: float) -> None:
    """Merge small data files, expire old snapshots, delete files nothing refers to.

    The latest snapshot is never changed: every article version stays, and
    `newsarchive sql` keeps answering during and after compaction. Only time
    travel to expired snapshots goes away.

    \b
    Example:
      newsarchive compact                           # keep 90 days and at least the last 10 snapshots
      newsarchive compact --keep-days 30 --keep-last 5
    """
    if keep_days < 0:
        raise CommandError(f"--keep-days {keep_days}: must be 0 or more")
    if keep_last < 1:
        raise CommandError(f"--keep-last {keep_last}: must be 1 or more (the latest snapshot is always kept)")
    r = compact(_archive(), keep_days=keep_days, keep_last=keep_last,
                grace=timedelta(minutes=max(0.0, grace_minutes)))
    click.echo(f"compacted to snapshot {r.snapshot_id}: data files {r.files_before} -> {r.files_after} "
               f"({r.files_merged} merged into {r.files_created}, {r.files_deleted} old files deleted); "
               f"expired {len(r.expired)} snapshot(s), kept {r.snapshots_kept}")
    click.echo("rows (unchanged): " + ", ".join(f"{t} {n}" for t, n in r.rows.items()))


@click.command("search")
@click.argument("query", required=False)
@click.option("--site", default=None, help="Only this site.")
@click.option("--from", "date_from", default=None, metavar="DATE", help="Published on or after (YYYY-MM-DD, UTC).")
@click.option("--to", "date_to", default=None, metavar="DATE", help="Published on or before (YYYY-MM-DD, UTC).")
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--refresh", is_flag=True, help="Bring the search index up to the latest snapshot first "
                                              "(a scrape run does this too).")
def search_cmd(query: str | None, site: str | None, date_from: str | None, date_to: str | None,
               limit: int, fmt: str, refresh: bool) -> None:
    """Full-text search (BM25) over article titles and bodies.

    Results: site, date, title, URL and a snippet around the first match. The
    index is <archive>/search.duckdb, refreshed after each run.

    \b
    Example:
      newsarchive search "lavrov kuleba"
      newsarchive search sanctions --site reuters --from 2022-03-01 --to 2022-03-31 --limit 5
      newsarchive search --refresh              # (re)build the index only
    """
    archive = _archive()
    if refresh:
        r = refresh_index(archive)
        click.echo(f"search index {r.mode} at snapshot {r.snapshot_id}: {r.indexed} article(s) indexed, "
                   f"{r.segments} segment(s), {r.seconds:.1f} s", err=True)
    if query is None:
        if not refresh:
            raise CommandError('no query; e.g. newsarchive search "lavrov kuleba" '
                               '(or --refresh to build the index)')
        return
    hits = search(archive, query, site=site, date_from=date_from, date_to=date_to, limit=limit)
    cols = ["site", "date", "title", "url", "snippet"]
    if fmt == "table":
        rows = [(h.site, h.published_at.date() if h.published_at else None, h.title, h.url, h.snippet)
                for h in hits]
        click.echo(format_result(cols, rows, fmt, max_width=70))
    else:
        rows = [(h.site, h.published_at, h.title, h.url, h.snippet, round(h.score, 4)) for h in hits]
        click.echo(format_result(cols + ["score"], rows, fmt))


@click.group("archive")
def archive_group() -> None:
    """Whole-archive operations: copy an archive between a local directory and shared storage.

    \b
    Example:
      newsarchive archive copy ./archive s3://team-bucket/news
    """


@archive_group.command("copy")
@click.argument("source")
@click.argument("dest")
def copy_cmd(source: str, dest: str) -> None:
    """Copy the archive SOURCE to the new location DEST, every snapshot included.

    SOURCE and DEST are each a directory or s3://BUCKET/PREFIX (a shared archive:
    catalog in Postgres at $NEWSARCHIVE_CATALOG, S3 credentials in AWS_*). The copy
    has the same snapshots (time travel with --at answers the same), WARC files and
    dedup indexes; every file is checked by size and hash after copying, and rows and
    snapshots are counted on both sides. DEST must not hold an archive. The catalog is
    written last: an interrupted copy is no archive, and the same command finishes it.
    Stop workers and `compact` on SOURCE meanwhile; the search index is rebuilt with
    `newsarchive search --refresh`.

    \b
    Example:
      export NEWSARCHIVE_CATALOG=postgresql://newsarchive@db.example:5432/newsarchive
      newsarchive archive copy ./archive s3://team-bucket/news       # to shared storage
      newsarchive archive copy s3://team-bucket/news ./archive-copy  # and back
    """
    from storage.archive_copy import copy_archive
    from storage.lake import Archive
    r = copy_archive(Archive(source), Archive(dest), progress=lambda line: click.echo(line, err=True))
    click.echo(f"copied {r.source} -> {r.dest}: {r.snapshots} snapshots (latest {r.snapshot_id}), "
               f"{sum(r.catalog_rows.values())} catalog rows; {r.files_copied} files copied "
               f"({r.bytes_copied / 1e6:.1f} MB), {r.files_present} already there, all verified by size and "
               f"hash; {r.seconds:.1f} s")
    click.echo("rows (same on both): " + ", ".join(f"{t} {n}" for t, n in r.rows.items()))


COMMANDS = [snapshots, export, compact_cmd, search_cmd, archive_group]
