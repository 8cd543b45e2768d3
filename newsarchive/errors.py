"""Every error newsarchive raises on purpose, in one place.

All of them derive from :class:`NewsarchiveError`. Its message is one line that names the
site, URL, file or setting at fault and the fix; the CLI catches this root once, prints the
message and exits with :data:`EXIT_ERROR`. Anything else reaching the CLI is a bug and keeps
its traceback.

Hierarchy (each subclass lives beside the code that raises it, and is re-exported here)::

    NewsarchiveError
     ├── ConfigError         crawl.config     a site config file or setting is invalid
     ├── DiscoveryError      crawl.sitemaps   a sitemap/feed cannot be used
     ├── BackfillError       crawl.backfill   a backfill range or chunking is invalid
     ├── RegistryError       extractors       no such extractor / site
     ├── ArchiveError        storage.lake     the archive cannot be opened, read or written
     │    ├── CompactError   storage.compact
     │    └── SearchError    storage.search
     ├── QueryError          storage.sql      a SQL statement is refused or fails
     └── ExportError         storage.export
"""
from __future__ import annotations

#: Exit code of every command that ends in a NewsarchiveError (click's own usage errors also use 2).
EXIT_ERROR = 2


class NewsarchiveError(Exception):
    """Root of the project's errors: ``str(e)`` is one line with what failed and the fix."""
