"""Rolling gzip JSON-lines parts (`PREFIX/part-NNNNN.jsonl.gz`) for the crawl log and items.

Records are appended to a part in the spool; a part is closed and moved into the store when it reaches its
record or byte bound, and at the end of the crawl, so the store only ever holds complete parts. Each record
is flushed through to the file as written, so after a kill the spool's open part still holds every record
but the one being written (archive/recovery.py salvages it).
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def dumps(record: dict[str, Any]) -> bytes:
    """One JSON line: UTF-8, no ASCII escaping (Chinese stays readable), compact."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str).encode() + b"\n"


class PartWriter:
    """Writes records into numbered parts under `prefix`; each finished part is handed to `submit(key, path)`
    (the uploader), which moves it into the store."""

    def __init__(self, submit: Callable[[str, Path], None], prefix: str, spool: Path, max_records: int,
                 max_bytes: int, serial: int = 0, fsync: bool = True, suffix: str = "") -> None:
        self.submit, self.prefix, self.spool = submit, prefix.rstrip("/"), spool
        self.suffix = suffix  # `-WORKER` in a distributed crawl: part-NNNNN-WORKER.jsonl.gz
        self.max_records, self.max_bytes = max_records, max_bytes
        self.fsync = fsync
        self.serial = serial  # a reused crawl id goes on numbering after the parts its earlier runs stored
        self.records = 0
        self.total_records = 0
        self._bytes = 0
        self._path: Path | None = None
        self._fh: gzip.GzipFile | None = None

    def write(self, record: dict[str, Any]) -> None:
        if self._fh is None:
            self._open()
        assert self._fh is not None
        line = dumps(record)
        self._fh.write(line)
        self._fh.flush()  # a sync flush per record: a killed process loses at most the record being written
        self.records += 1
        self.total_records += 1
        self._bytes += len(line)
        if self.records >= self.max_records or self._bytes >= self.max_bytes:
            self.close()

    def _open(self) -> None:
        self.spool.mkdir(parents=True, exist_ok=True)
        self._path = self.spool / f"part-{self.serial:05d}{self.suffix}.jsonl.gz.open"
        self._fh = gzip.open(self._path, "wb", compresslevel=6)  # noqa: SIM115 (kept open across writes)
        self.records = self._bytes = 0

    def close(self) -> None:
        """Close the current part (if any) and move it into the store."""
        if self._fh is None or self._path is None:
            return
        self._fh.close()
        if self.fsync:
            with self._path.open("rb") as fh:
                os.fsync(fh.fileno())
        name = f"part-{self.serial:05d}{self.suffix}.jsonl.gz"
        finished = self._path.with_name(name)
        self._path.rename(finished)  # complete: a later run may store it if this one cannot
        self.submit(f"{self.prefix}/{name}", finished)
        self.serial += 1
        self._fh = self._path = None
