"""S3 (and S3-compatible: MinIO, Ceph, R2...) backend of the Store protocol, through boto3.

Endpoint, region and credentials come from settings or boto3's standard chain (AWS_ENDPOINT_URL /
AWS_ENDPOINT_URL_S3, AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID... as for the AWS CLI); nothing secret is
logged. Files above the multipart threshold go up in parts; every upload asks S3 to verify a SHA-256
checksum (per part for multipart uploads), and our own whole-file SHA-256 travels as object metadata and
is checked on a HEAD after the upload. Keys are deterministic, so uploading a file again is harmless.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from archive.store import StoredObject, sha256_file
from crawler.errors import StoreError

CONTENT_TYPES = {".gz": "application/gzip", ".cdxj": "text/plain; charset=utf-8", ".json": "application/json"}


def content_type(key: str) -> str:
    for suffix, kind in CONTENT_TYPES.items():
        if key.endswith(suffix):
            return kind
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def make_client(endpoint_url: str | None, region: str | None, addressing: str, timeout: float = 60,
                attempts: int = 5) -> Any:
    """A boto3 S3 client; None values fall back to boto3's own chain (environment, config files)."""
    config = Config(s3={"addressing_style": addressing}, retries={"max_attempts": attempts, "mode": "standard"},
                    request_checksum_calculation="when_supported", connect_timeout=timeout, read_timeout=timeout)
    return boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region or None, config=config)


class S3Store:
    """`s3://bucket/prefix`; the client is injected so tests and callers can configure their own."""

    def __init__(self, uri: str, client: Any, multipart_threshold: int = 64 * 1024 * 1024) -> None:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise StoreError(f"no bucket in store URI {uri!r} (expected s3://bucket/prefix)")
        self.uri, self.bucket, self.prefix, self.client = uri.rstrip("/"), bucket, prefix.strip("/"), client
        self.transfer = TransferConfig(multipart_threshold=multipart_threshold,
                                       multipart_chunksize=max(8 * 1024 * 1024, multipart_threshold // 8))

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put_file(self, key: str, path: Path) -> StoredObject:
        size, sha = path.stat().st_size, sha256_file(path)
        extra = {"ContentType": content_type(key), "ChecksumAlgorithm": "SHA256", "Metadata": {"sha256": sha}}
        try:
            self.client.upload_file(str(path), self.bucket, self._key(key), ExtraArgs=extra, Config=self.transfer)
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError) as exc:
            raise StoreError(f"upload of {key} to {self.uri} failed: {type(exc).__name__}: {exc}") from exc
        if head["ContentLength"] != size or head.get("Metadata", {}).get("sha256") != sha:
            raise StoreError(f"{self.uri}/{key}: stored object does not match the local file")
        path.unlink()
        return StoredObject(key, size, sha)

    def put_bytes(self, key: str, data: bytes) -> StoredObject:
        digest = hashlib.sha256(data)
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type(key),
                                   ChecksumSHA256=base64.b64encode(digest.digest()).decode(),
                                   Metadata={"sha256": digest.hexdigest()})
        except (BotoCoreError, ClientError) as exc:
            raise StoreError(f"upload of {key} to {self.uri} failed: {type(exc).__name__}: {exc}") from exc
        return StoredObject(key, len(data), digest.hexdigest())

    def get_bytes(self, key: str) -> bytes:
        try:
            body: bytes = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            raise StoreError(f"cannot read {key} from {self.uri}: {exc}") from exc
        return body

    def keys(self, prefix: str = "") -> Iterator[str]:
        full = self._key(prefix)
        strip = len(self.prefix) + 1 if self.prefix else 0
        found: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
            found += [obj["Key"][strip:] for obj in page.get("Contents", [])]
        return iter(sorted(found))
