"""S3 (and S3-compatible: MinIO, Ceph, R2...) backend of the Store protocol, through boto3.

Endpoint, region and credentials come from settings or boto3's standard chain (AWS_ENDPOINT_URL /
AWS_ENDPOINT_URL_S3, AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID... as for the AWS CLI); nothing secret is
logged. Files above the multipart threshold go up in parts; every upload asks S3 to verify a SHA-256
checksum (per part for multipart uploads), and our own whole-file SHA-256 travels as object metadata and
is checked on a HEAD after the upload. Keys are deterministic, so uploading a file again is harmless.

Every failure of a call leaves as a `StoreAccessError` naming its cause (S3UploadFailedError,
EndpointConnectionError, ReadTimeoutError...): boto3's transfer raises more than botocore's two families.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
from collections.abc import Iterator
from concurrent.futures import CancelledError
from pathlib import Path
from typing import Any

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from s3transfer.exceptions import (  # type: ignore[import-untyped]  # no stubs; boto3.* has an override
    RetriesExceededError,
    S3UploadFailedError,
    TransferNotDoneError,
)

from archive.store import StoreAccessError, StoredObject, sha256_file
from crawler.errors import StoreError

CONTENT_TYPES = {".gz": "application/gzip", ".cdxj": "text/plain; charset=utf-8", ".json": "application/json"}

# Everything a call through boto3 (client or transfer manager) raises when the store or the network fails:
# boto3's own errors (S3UploadFailedError wraps every ClientError of upload_file: 403, 500, 503...),
# botocore's (connection, timeouts, checksums) and HTTP errors, s3transfer's (raised as they are when the
# transfer manager is used directly; FatalError is a CancelledError), and reading the local file.
S3_FAILURES: tuple[type[BaseException], ...] = (
    Boto3Error, BotoCoreError, ClientError, OSError,
    RetriesExceededError, S3UploadFailedError, TransferNotDoneError, CancelledError,
)


def content_type(key: str) -> str:
    for suffix, kind in CONTENT_TYPES.items():
        if key.endswith(suffix):
            return kind
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def make_client(endpoint_url: str | None, region: str | None, addressing: str, connect_timeout: float = 10.0,
                read_timeout: float = 60.0, max_pool_connections: int = 64, attempts: int = 1) -> Any:
    """A boto3 S3 client; None values fall back to boto3's own chain (environment, config files).

    For uploads botocore does not retry (`attempts` 1): the Uploader is the only retry policy. Two
    multiplied policies (5 botocore attempts x 5 of ours x 60 s) held one file for ~25 minutes; ours alone
    spans a whole outage with capped backoff and gives up at a deadline it can see (STORE_S3_GIVE_UP).
    Everything else (reads, listings, the manifest) has no retry loop of its own and takes botocore's
    `standard` retries (`attempts` > 1: exponential backoff with jitter on throttling and 5xx).
    The connect timeout is short (a dead endpoint answers nothing), the read timeout is the setting: one
    part of a multipart upload must fit in it. Checksums are calculated when the operation supports them
    (SHA-256 as we ask for it, per part for multipart), which AWS and MinIO both verify.
    """
    config = Config(s3={"addressing_style": addressing},
                    retries={"total_max_attempts": attempts, "mode": "standard"},
                    request_checksum_calculation="when_supported", response_checksum_validation="when_supported",
                    connect_timeout=connect_timeout, read_timeout=read_timeout,
                    max_pool_connections=max_pool_connections)  # >= uploader workers (4) x transfer threads (10)
    return boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region or None, config=config)


def _error_code(exc: BaseException) -> str:
    return str(exc.response.get("Error", {}).get("Code", "")) if isinstance(exc, ClientError) else ""


def _failure(action: str, exc: BaseException) -> StoreAccessError:
    return StoreAccessError(f"{action} failed: {type(exc).__name__}: {exc}", exc)


class S3Store:
    """`s3://bucket/prefix`; clients are injected so tests and callers can configure their own: `client`
    for `put_file` (the Uploader's, one attempt), `read_client` (retrying) for every other call; without
    it, `client` serves all."""

    def __init__(self, uri: str, client: Any, multipart_threshold: int = 64 * 1024 * 1024,
                 page_size: int = 1000, read_client: Any = None) -> None:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise StoreError(f"no bucket in store URI {uri!r} (expected s3://bucket/prefix)")
        self.uri, self.bucket, self.prefix, self.client = uri.rstrip("/"), bucket, prefix.strip("/"), client
        self.retrying = read_client or client
        self.page_size = page_size  # keys per listing request (S3's most, 1000, unless a test wants pages)
        self.transfer = TransferConfig(multipart_threshold=multipart_threshold,
                                       multipart_chunksize=max(8 * 1024 * 1024, multipart_threshold // 8))

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put_file(self, key: str, path: Path) -> StoredObject:
        """Upload, then HEAD the object: its size and our sha256 metadata must match before the local file
        goes (a proxy or a buggy server that accepts and drops a body is caught here)."""
        try:
            size, sha = path.stat().st_size, sha256_file(path)
            extra = {"ContentType": content_type(key), "ChecksumAlgorithm": "SHA256", "Metadata": {"sha256": sha}}
            self.client.upload_file(str(path), self.bucket, self._key(key), ExtraArgs=extra, Config=self.transfer)
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except S3_FAILURES as exc:
            raise _failure(f"upload of {key} to {self.uri}", exc) from exc
        if head["ContentLength"] != size or head.get("Metadata", {}).get("sha256") != sha:
            raise StoreAccessError(f"{self.uri}/{key}: stored object does not match the local file", "ObjectMismatch")
        path.unlink()
        return StoredObject(key, size, sha)

    def put_bytes(self, key: str, data: bytes) -> StoredObject:
        digest = hashlib.sha256(data)
        try:
            self.retrying.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type(key),
                                   ChecksumSHA256=base64.b64encode(digest.digest()).decode(),
                                   Metadata={"sha256": digest.hexdigest()})
        except S3_FAILURES as exc:
            raise _failure(f"upload of {key} to {self.uri}", exc) from exc
        return StoredObject(key, len(data), digest.hexdigest())

    def get_bytes(self, key: str) -> bytes:
        try:
            body: bytes = self.retrying.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except S3_FAILURES as exc:
            raise _failure(f"reading {key} from {self.uri}", exc) from exc
        return body

    def get_range(self, key: str, start: int, length: int) -> bytes:
        if length <= 0:
            return b""
        try:
            answer = self.retrying.get_object(Bucket=self.bucket, Key=self._key(key),
                                            Range=f"bytes={start}-{start + length - 1}")
            body: bytes = answer["Body"].read()
        except S3_FAILURES as exc:
            if _error_code(exc) == "InvalidRange":  # starts at or past the end: nothing there, as a file gives
                return b""
            raise _failure(f"reading {key} from {self.uri}", exc) from exc
        return body

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Keys under `prefix`, one listing page (`page_size` keys) at a time.

        Not sorted here: ListObjectsV2 returns keys in ascending UTF-8 byte order, which is Python's code
        point order, so the stream is already sorted, and millions of keys never sit in one list. Errors
        (raised while iterating, as this is a generator) are StoreAccessErrors like every other call's.
        """
        for key, _ in self.listing(prefix):
            yield key

    def children(self, prefix: str) -> Iterator[str]:
        """Names one level below `prefix/` (S3's common prefixes, with a delimiter): the crawl ids under
        `crawls`, without listing every WARC of every crawl."""
        full = self._key(prefix.strip("/")) + "/"
        try:
            pages = self.retrying.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full, Delimiter="/", PaginationConfig={"PageSize": self.page_size})
            for page in pages:
                for common in page.get("CommonPrefixes", []):
                    yield common["Prefix"][len(full):].rstrip("/")
        except S3_FAILURES as exc:
            raise _failure(f"listing {prefix} in {self.uri}", exc) from exc

    def listing(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        """(key, size) of the objects under `prefix`, as `keys` (the sizes come with the listing)."""
        full = self._key(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")
        strip = len(self.prefix) + 1 if self.prefix else 0
        try:
            pages = self.retrying.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full, PaginationConfig={"PageSize": self.page_size})
            for page in pages:
                for obj in page.get("Contents", []):
                    yield obj["Key"][strip:], int(obj["Size"])
        except S3_FAILURES as exc:
            raise _failure(f"listing {prefix or '/'} in {self.uri}", exc) from exc
