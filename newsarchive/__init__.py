"""Package-wide facts: the installed version and the one exception root (``newsarchive.errors``)."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("newsarchive")
except PackageNotFoundError:   # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
