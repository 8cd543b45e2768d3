"""Where an archive lives: a local directory (the embedded default) or shared storage.

``--archive`` / ``$NEWSARCHIVE_ARCHIVE`` names the archive:

* a path (``./archive``): catalog.sqlite + data/ + warc/ + indexes in that directory; no
  server. Several workers need one shared POSIX filesystem with working ``flock`` (not NFS:
  SQLite's WAL mode does not work over it).
* ``s3://BUCKET/PREFIX``: a shared archive. Parquet data, WARC files, staged batches and the
  derived indexes are objects under the prefix; the DuckLake catalog and every lock live in
  Postgres (``$NEWSARCHIVE_CATALOG``, one schema per archive). Workers on different hosts
  share nothing else; what a worker keeps locally (``$NEWSARCHIVE_WORKDIR``) is a cache.

Credentials never come from the command line (where ``ps`` and shell history would show
them) and are never printed: S3 uses the standard AWS variables (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``, ``AWS_REGION``), Postgres the libpq ones
(``PGPASSWORD`` or ``~/.pgpass``). In a Prefect deployment they are job-variable env values,
which may come from Prefect Secret blocks (docs/DEPLOY.md).
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from newsarchive.errors import NewsarchiveError

ENV_ARCHIVE = "NEWSARCHIVE_ARCHIVE"
ENV_CATALOG = "NEWSARCHIVE_CATALOG"
ENV_WORKDIR = "NEWSARCHIVE_WORKDIR"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9._/-]+$")


class LocationError(NewsarchiveError, ValueError):
    pass


def redact(dsn: str) -> str:
    """A connection string fit for a log line: any password replaced by ``***``."""
    dsn = re.sub(r"(://[^:/@\s]+):[^@\s]*@", r"\1:***@", dsn)
    return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", dsn, flags=re.I)


@dataclass(frozen=True)
class SharedLocation:
    """A shared archive: objects under ``s3://bucket/prefix/``, catalog and locks in Postgres."""
    bucket: str
    prefix: str            # no leading or trailing slash
    catalog_dsn: str       # libpq connection string or postgresql:// URL (password from the env)
    workdir: Path          # this worker's local cache (nothing there must survive)

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def schema(self) -> str:
        """The archive's Postgres schema: readable, unique per bucket/prefix, <= 63 bytes."""
        name = re.sub(r"[^a-z0-9]+", "_", f"{self.bucket}_{self.prefix}".lower()).strip("_")[:40]
        digest = hashlib.blake2b(self.url.encode(), digest_size=4).hexdigest()
        return f"newsarchive_{name}_{digest}"

    def key(self, *parts: str) -> str:
        """Object key under the archive's prefix."""
        return "/".join([self.prefix, *(p.strip("/") for p in parts if p)])

    def s3_url(self, *parts: str) -> str:
        return f"s3://{self.bucket}/{self.key(*parts)}"

    def __str__(self) -> str:
        return f"{self.url} (catalog {redact(self.catalog_dsn)})"


def parse_shared(url: str, environ: dict[str, str] | None = None) -> SharedLocation:
    """``s3://bucket/prefix`` plus ``$NEWSARCHIVE_CATALOG``; one clear line for each mistake."""
    env = os.environ if environ is None else environ
    parts = urlsplit(url)
    if parts.username or parts.password or "@" in parts.netloc:
        raise LocationError(f"--archive {redact(url)}: credentials do not belong in the archive URL (they would "
                            f"show in `ps` and logs); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead")
    bucket, prefix = parts.netloc, parts.path.strip("/")
    if parts.query or parts.fragment:
        raise LocationError(f"--archive {url}: no query or fragment allowed; use s3://BUCKET/PREFIX")
    if not _BUCKET.match(bucket):
        raise LocationError(f"--archive {url}: {bucket!r} is not a valid S3 bucket name "
                            f"(3-63 lowercase letters, digits, dots, hyphens); use s3://BUCKET/PREFIX")
    if not prefix or not _PREFIX.match(prefix) or ".." in prefix.split("/"):
        raise LocationError(f"--archive {url}: give the archive its own prefix of letters, digits, '._-/' "
                            f"(s3://{bucket}/team-archive), so several archives can share the bucket")
    dsn = env.get(ENV_CATALOG, "").strip()
    if not dsn:
        raise LocationError(f"--archive {url} is a shared archive, whose catalog lives in Postgres: set "
                            f"${ENV_CATALOG} to a connection string such as "
                            f"postgresql://newsarchive@db.example:5432/newsarchive (password in PGPASSWORD)")
    workdir = env.get(ENV_WORKDIR) or str(Path("~/.cache/newsarchive").expanduser())
    cache = Path(workdir).expanduser().resolve() / re.sub(r"[^A-Za-z0-9._-]+", "_", f"{bucket}/{prefix}")
    return SharedLocation(bucket, prefix, dsn, cache)


def is_shared(spec: str | os.PathLike | None) -> bool:
    return isinstance(spec, str) and spec.startswith("s3://")


def check_local(spec: str) -> None:
    """A local path that looks like a URL was meant as one: say so, instead of making ./s3:/..."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", spec):
        scheme = spec.split("://", 1)[0]
        raise LocationError(f"--archive {redact(spec)}: {scheme}:// archives are not supported; use a local "
                            f"directory or s3://BUCKET/PREFIX (S3-compatible storage with a Postgres catalog)")
