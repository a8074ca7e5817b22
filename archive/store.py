"""Where a crawl's files end up. One `Store` protocol; backends chosen by the scheme of STORE_URI.

A file enters the store only when complete: written elsewhere (the spool), then renamed into place, so a
reader never sees half a file under its final name; the file is fsynced before the rename and its directory
after, so a power cut cannot leave an empty or missing file behind a name the manifest already lists.
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


class StoreAccessError(StoreError):
    """A StoreError that keeps the name of what caused it (S3UploadFailedError, EndpointConnectionError,
    ReadTimeoutError...), so `store/upload_failed/<Error>` counts the real failure, not "StoreError"."""

    def __init__(self, message: str, cause: BaseException | str) -> None:
        super().__init__(message)
        self.cause_name = cause if isinstance(cause, str) else type(cause).__name__


def failure_name(exc: BaseException) -> str:
    """The name a failure is counted under: a StoreAccessError's cause, else the exception's own class."""
    return exc.cause_name if isinstance(exc, StoreAccessError) else type(exc).__name__


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

    def get_range(self, key: str, start: int, length: int) -> bytes:
        """`length` bytes of `key` from `start` (fewer at the end of the object): one WARC record, one
        chunk of a streamed copy, without reading the whole object."""
        ...

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Keys under `prefix`, sorted (by code point, which is S3's UTF-8 byte order), produced lazily."""
        ...

    def children(self, prefix: str) -> Iterator[str]:
        """Names of the "directories" one level below `prefix`, sorted (the crawl ids under `crawls`)."""
        ...

    def listing(self, prefix: str) -> Iterator[tuple[str, int]]:
        """(key, size) of every object under `prefix`, sorted as `keys`: sizes come free with an S3 listing,
        and a size that is not the manifest's finds a truncated file without reading it."""
        ...


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_file(path: Path) -> None:
    """Flush a file's bytes to the disk, so a rename after it never points at data still in the page cache."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in `path` durable (POSIX: only the directory's fsync does that)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: Path, fsync: bool = True) -> None:
    """mkdir -p, fsyncing the parent of every directory created, so the new directories survive a crash too."""
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        try:
            directory.mkdir()
        except FileExistsError:  # another worker made it first, and fsyncs its parent itself
            continue
        if fsync:
            fsync_dir(directory.parent)


class FileStore:
    """The default store: a local directory (`file://./data/store`). `fsync=False` (STORE_FSYNC) skips the
    flushes, for throwaway stores and for measuring what they cost."""

    def __init__(self, root: Path, uri: str | None = None, fsync: bool = True) -> None:
        self.root = root
        self.uri = uri or f"file://{root}"
        self.fsync = fsync

    def _fsync_file(self, path: Path) -> None:
        if self.fsync:
            fsync_file(path)

    def _fsync_dir(self, path: Path) -> None:
        if self.fsync:
            fsync_dir(path)

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise StoreError(f"invalid store key {key!r}")
        return self.root / key

    def put_file(self, key: str, path: Path) -> StoredObject:
        dest = self._path(key)
        try:
            make_dirs(dest.parent, self.fsync)
            size, sha = path.stat().st_size, sha256_file(path)
            self._fsync_file(path)
            try:
                os.replace(path, dest)  # same filesystem: one atomic rename
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                self._copy_into(path, dest)
            self._fsync_dir(dest.parent)  # one rename: this also makes the file's removal from the spool durable
        except OSError as exc:
            raise StoreAccessError(f"cannot move {path} to {dest}: {exc}", exc) from exc
        return StoredObject(key, size, sha)

    def _copy_into(self, path: Path, dest: Path) -> None:
        """Across filesystems: copy to a temporary name, fsync, rename; the spool copy goes last."""
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.copyfile(path, tmp)
        self._fsync_file(tmp)
        os.replace(tmp, dest)
        self._fsync_dir(dest.parent)
        path.unlink()

    def put_bytes(self, key: str, data: bytes) -> StoredObject:
        dest = self._path(key)
        tmp = dest.with_name(f".{dest.name}.tmp")
        try:
            make_dirs(dest.parent, self.fsync)
            with tmp.open("wb") as fh:
                fh.write(data)
                if self.fsync:
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp, dest)
            self._fsync_dir(dest.parent)
        except OSError as exc:
            raise StoreAccessError(f"cannot write {key} to {self.uri}: {exc}", exc) from exc
        return StoredObject(key, len(data), hashlib.sha256(data).hexdigest())

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except OSError as exc:
            raise StoreAccessError(f"cannot read {key} from {self.uri}: {exc}", exc) from exc

    def get_range(self, key: str, start: int, length: int) -> bytes:
        try:
            with self._path(key).open("rb") as fh:
                fh.seek(start)
                return fh.read(length)
        except OSError as exc:
            raise StoreAccessError(f"cannot read {key} from {self.uri}: {exc}", exc) from exc

    def keys(self, prefix: str = "") -> Iterator[str]:
        base = self._path(prefix) if prefix else self.root
        if not base.exists():
            return iter(())
        found = (p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file())
        return iter(sorted(k for k in found if not k.rsplit("/", 1)[-1].startswith(".")))

    def listing(self, prefix: str) -> Iterator[tuple[str, int]]:
        for key in self.keys(prefix):
            try:
                yield key, self._path(key).stat().st_size
            except FileNotFoundError:
                continue  # removed between the listing and the stat: not there any more

    def children(self, prefix: str) -> Iterator[str]:
        base = self._path(prefix.strip("/"))
        try:
            names = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
        except FileNotFoundError:
            names = []
        except OSError as exc:
            raise StoreAccessError(f"cannot list {prefix} in {self.uri}: {exc}", exc) from exc
        return iter(names)


READ_ATTEMPTS = 4  # botocore attempts of an S3 call that no retry loop of ours wraps (reads, manifests)


def open_store(uri: str, s3: dict[str, Any] | None = None, fsync: bool = True) -> Store:
    """The backend for `uri`'s scheme; `s3` holds S3Store options (endpoint_url, region, addressing,
    multipart_threshold, connect_timeout, timeout), each optional; `fsync` is FileStore's."""
    if uri.startswith("file://"):
        return FileStore(Path(uri[len("file://"):]), uri, fsync)
    if uri.startswith("s3://"):
        from archive.s3store import S3Store, make_client  # noqa: PLC0415 (boto3 loads only for S3 stores)

        options = s3 or {}
        # "timeout" is the read timeout; an "attempts" option (botocore retries) is ignored on purpose: the
        # Uploader is the one retry policy of put_file (see make_client); other calls retry in botocore.
        def client(attempts: int) -> Any:
            return make_client(options.get("endpoint_url"), options.get("region"), options.get("addressing", "auto"),
                               connect_timeout=options.get("connect_timeout", 10.0),
                               read_timeout=options.get("timeout", 60.0), attempts=attempts)

        return S3Store(uri, client(1), options.get("multipart_threshold", 64 * 1024 * 1024),
                       read_client=client(READ_ATTEMPTS))
    scheme = uri.split(":", 1)[0]
    raise ConfigError(f"setting STORE_URI: no store backend for scheme {scheme!r} in {uri!r} "
                      "(expected file:// or s3://)")
