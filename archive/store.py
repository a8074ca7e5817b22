"""Where a crawl's files end up. One `Store` protocol; backends chosen by the scheme of STORE_URI.

A file enters the store only when complete: written elsewhere (the spool), then renamed into place, so a
reader never sees half a file under its final name.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from crawler.errors import ConfigError, StoreError


@dataclass(frozen=True)
class StoredObject:
    """A complete object in the store, as listed in the crawl manifest."""

    key: str
    size: int
    sha256: str


class Store(Protocol):
    """What every backend offers; keys are relative, `/`-separated paths under the store root."""

    uri: str

    def put_file(self, key: str, path: Path) -> StoredObject:
        """Move a complete local file into the store under `key` (the local file is consumed)."""
        ...

    def put_bytes(self, key: str, data: bytes) -> StoredObject:
        """Store `data` under `key`, atomically."""
        ...

    def get_bytes(self, key: str) -> bytes: ...

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Keys under `prefix`, sorted."""
        ...


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class FileStore:
    """The default store: a local directory (`file://./data/store`)."""

    def __init__(self, root: Path, uri: str | None = None) -> None:
        self.root = root
        self.uri = uri or f"file://{root}"

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise StoreError(f"invalid store key {key!r}")
        return self.root / key

    def put_file(self, key: str, path: Path) -> StoredObject:
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        size, sha = path.stat().st_size, sha256_file(path)
        try:
            os.replace(path, dest)  # same filesystem: one atomic rename
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise StoreError(f"cannot move {path} to {dest}: {exc}") from exc
            tmp = dest.with_name(f".{dest.name}.tmp")
            shutil.copyfile(path, tmp)
            os.replace(tmp, dest)
            path.unlink()
        return StoredObject(key, size, sha)

    def put_bytes(self, key: str, data: bytes) -> StoredObject:
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, dest)
        return StoredObject(key, len(data), hashlib.sha256(data).hexdigest())

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except OSError as exc:
            raise StoreError(f"cannot read {key} from {self.uri}: {exc}") from exc

    def keys(self, prefix: str = "") -> Iterator[str]:
        base = self._path(prefix) if prefix else self.root
        if not base.exists():
            return iter(())
        found = (p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file())
        return iter(sorted(k for k in found if not k.rsplit("/", 1)[-1].startswith(".")))


def open_store(uri: str, s3: dict[str, Any] | None = None) -> Store:
    """The backend for `uri`'s scheme; `s3` holds S3Store options (endpoint_url, region, addressing,
    multipart_threshold), each optional."""
    if uri.startswith("file://"):
        return FileStore(Path(uri[len("file://"):]), uri)
    if uri.startswith("s3://"):
        from archive.s3store import S3Store, make_client  # noqa: PLC0415 (boto3 loads only for S3 stores)

        options = s3 or {}
        client = make_client(options.get("endpoint_url"), options.get("region"), options.get("addressing", "auto"),
                             options.get("timeout", 60), options.get("attempts", 5))
        return S3Store(uri, client, options.get("multipart_threshold", 64 * 1024 * 1024))
    scheme = uri.split(":", 1)[0]
    raise ConfigError(f"setting STORE_URI: no store backend for scheme {scheme!r} in {uri!r} "
                      "(expected file:// or s3://)")
