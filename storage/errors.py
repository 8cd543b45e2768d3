"""The storage layer's error (one module, so storage modules below storage.lake can raise it)."""
from __future__ import annotations

from newsarchive.errors import NewsarchiveError


class ArchiveError(NewsarchiveError, RuntimeError):
    """The archive cannot be opened, written or read: one line naming the file or setting and the fix."""
