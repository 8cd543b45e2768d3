"""Every error newsarchive raises on purpose, in one place.

All of them derive from :class:`NewsarchiveError`. Its message is one line that names the
site, URL, file or setting at fault and the fix; the CLI catches this root once, prints the
message as ``Error: <message>`` (one line, stderr) and exits with :data:`EXIT_ERROR`
(flows.cli.NewsarchiveGroup). Anything else reaching the CLI is a bug and keeps its traceback:
faults of the archive's files (OSError, duckdb.Error, sqlite3.Error) are turned into
ArchiveError where storage opens them (storage.lake), not caught wholesale in the CLI.

Hierarchy (each subclass lives beside the code that raises it, and is re-exported here)::

    NewsarchiveError
     ├── ConfigError         crawl.config     a site config file or setting is invalid
     ├── DiscoveryError      crawl.sitemaps   a sitemap/feed cannot be used
     ├── BackfillError       crawl.backfill   a backfill range or chunking is invalid
     ├── RegistryError       extractors       no such extractor / site
     ├── ArchiveError        storage.lake     the archive cannot be opened, read or written
     │    │                                   (missing/empty/damaged catalog, read-only directory)
     │    ├── CompactError   storage.compact
     │    └── SearchError    storage.search
     ├── QueryError          storage.sql_guard a user's SQL statement is refused or fails
     │                                        (re-exported by storage.sql)
     ├── ExportError         storage.export
     └── CommandError        flows.cli_archive a command's arguments cannot be used
"""
from __future__ import annotations

#: Exit code of every command that ends in a NewsarchiveError (click's own usage errors also use 2).
EXIT_ERROR = 2


class NewsarchiveError(Exception):
    """Root of the project's errors: ``str(e)`` is one line with what failed and the fix."""
