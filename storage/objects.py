"""Objects of a shared archive in S3-compatible storage (boto3), and DuckDB's S3 secret.

boto3 because it is the reference S3 client: the standard credential chain and
``AWS_ENDPOINT_URL`` (MinIO, Ceph, moto, R2), retries with backoff, range GETs and
multipart uploads, all without project code. Each call's fault becomes one ArchiveError
line naming the object and the likely fix; credentials never appear in it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

from newsarchive.errors import NewsarchiveError


class ObjectStoreError(NewsarchiveError, RuntimeError):
    pass


def _region(env) -> str:
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"


def _fault(action: str, url: str, e: BaseException) -> ObjectStoreError:
    code = getattr(e, "response", {}).get("Error", {}).get("Code", "") if hasattr(e, "response") else ""
    hint = {
        "NoSuchBucket": "create the bucket first, or fix the bucket name in --archive",
        "AccessDenied": "the credentials in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY may not use this bucket",
        "InvalidAccessKeyId": "check AWS_ACCESS_KEY_ID",
        "SignatureDoesNotMatch": "check AWS_SECRET_ACCESS_KEY",
    }.get(code)
    kind = type(e).__name__
    if kind in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError"):
        hint = f"is the S3 endpoint up? (AWS_ENDPOINT_URL={os.environ.get('AWS_ENDPOINT_URL', 'AWS default')})"
    if kind == "NoCredentialsError":
        hint = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for a non-AWS server)"
    first = str(e).strip().splitlines()[0] if str(e).strip() else kind
    return ObjectStoreError(f"cannot {action} {url}: {first}" + (f"; {hint}" if hint else ""))


@dataclass
class S3Store:
    """One bucket; keys are full keys (SharedLocation.key builds them)."""
    bucket: str

    def __post_init__(self) -> None:
        import boto3
        from botocore.config import Config
        env = os.environ
        style = "path" if env.get("AWS_ENDPOINT_URL") else "auto"
        self._client = boto3.session.Session().client(
            "s3", region_name=_region(env),
            config=Config(retries={"max_attempts": 5, "mode": "standard"}, max_pool_connections=16,
                          s3={"addressing_style": style}, connect_timeout=10, read_timeout=60))

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _call(self, action: str, key: str, fn, **kw):
        from botocore.exceptions import BotoCoreError, ClientError
        try:
            return fn(Bucket=self.bucket, **kw)
        except (BotoCoreError, ClientError) as e:
            raise _fault(action, self.url(key), e) from None

    def put_bytes(self, key: str, data: bytes) -> None:
        self._call("write", key, self._client.put_object, Key=key, Body=data)

    def put_file(self, key: str, path: str | os.PathLike) -> None:
        """Upload a file (multipart above 8 MB); the object appears whole or not at all."""
        from boto3.s3.transfer import TransferConfig
        from botocore.exceptions import BotoCoreError, ClientError
        try:
            self._client.upload_file(str(path), self.bucket, key,
                                     Config=TransferConfig(multipart_threshold=64 << 20, use_threads=False))
        except (BotoCoreError, ClientError) as e:
            raise _fault("upload to", self.url(key), e) from None

    def get_bytes(self, key: str) -> bytes:
        return self._call("read", key, self._client.get_object, Key=key)["Body"].read()

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset`` (one ranged GET: a WARC record out of its file)."""
        body = self._call("read", key, self._client.get_object, Key=key,
                          Range=f"bytes={offset}-{offset + length - 1}")["Body"]
        return body.read()

    def download(self, key: str, path: str | os.PathLike) -> None:
        from botocore.exceptions import BotoCoreError, ClientError
        tmp = Path(f"{path}.part")
        try:
            self._client.download_file(self.bucket, key, str(tmp))
            os.replace(tmp, path)
        except (BotoCoreError, ClientError) as e:
            tmp.unlink(missing_ok=True)
            raise _fault("download", self.url(key), e) from None

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError
        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
            return True
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise _fault("read", self.url(key), e) from None

    def stat(self, key: str) -> tuple[int, str] | None:
        """(size, ETag without quotes) of an object, None if there is none (archive copy verifies with it)."""
        from botocore.exceptions import ClientError
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise _fault("read", self.url(key), e) from None
        return head["ContentLength"], head.get("ETag", "").strip('"')

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        """(key, size) of every object under ``prefix``, in key order."""
        from botocore.exceptions import BotoCoreError, ClientError
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    yield obj["Key"], obj["Size"]
        except (BotoCoreError, ClientError) as e:
            raise _fault("list", self.url(prefix), e) from None

    def list_etags(self, prefix: str) -> Iterator[tuple[str, int, str]]:
        """(key, size, ETag without quotes) of every object under ``prefix``: a mirror compares
        the ETag with its copy's MD5 (single-part uploads) to skip unchanged objects."""
        from botocore.exceptions import BotoCoreError, ClientError
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    yield obj["Key"], obj["Size"], obj.get("ETag", "").strip('"')
        except (BotoCoreError, ClientError) as e:
            raise _fault("list", self.url(prefix), e) from None

    def delete(self, keys: list[str]) -> None:
        for i in range(0, len(keys), 1000):
            chunk = keys[i:i + 1000]
            if chunk:
                self._call("delete", chunk[0], self._client.delete_objects,
                           Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True})

    def probe(self, prefix: str) -> None:
        """Write and delete an object: fails early, naming the fix, if the archive is not writable."""
        key = f"{prefix.rstrip('/')}/.write-probe-{os.getpid()}"
        self.put_bytes(key, b"")
        self.delete([key])


def duckdb_secret_sql(name: str = "newsarchive_s3") -> str:
    """A temporary DuckDB S3 secret from the AWS variables (never persisted, never printed)."""
    env = os.environ
    key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        raise ObjectStoreError("a shared archive needs S3 credentials: set AWS_ACCESS_KEY_ID and "
                               "AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for a non-AWS server)")

    def lit(v: str) -> str:
        return "'" + v.replace("'", "''") + "'"
    opts = [f"KEY_ID {lit(key)}", f"SECRET {lit(secret)}", f"REGION {lit(_region(env))}"]
    if env.get("AWS_SESSION_TOKEN"):
        opts.append(f"SESSION_TOKEN {lit(env['AWS_SESSION_TOKEN'])}")
    endpoint = env.get("AWS_ENDPOINT_URL")
    if endpoint:
        parts = urlsplit(endpoint)
        opts += [f"ENDPOINT {lit(parts.netloc + parts.path.rstrip('/'))}", "URL_STYLE 'path'",
                 f"USE_SSL {'true' if parts.scheme == 'https' else 'false'}"]
    return f"CREATE OR REPLACE TEMPORARY SECRET {name} (TYPE s3, {', '.join(opts)})"
