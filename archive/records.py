"""Reading one archived record back, by the index's pointer: from a store crawl, a loose file or a WACZ.

A record is fetched by range (one S3 GET, one seek), never by reading its WARC. A revisit gets the payload of
the capture it refers to (same URL and digest, looked up in the index) and keeps its own status and headers,
as pywb replays them. What cannot be read raises `RecordError` naming the file and offset, so replay can
answer that one capture with a 502 and go on.
"""

from __future__ import annotations

import contextlib
import io
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from archive.captureindex import CaptureIndex, CaptureRow
from archive.indexing import wacz_members, warc_ts
from archive.reader import Capture, capture_of
from archive.store import Store
from crawler.errors import StoreError

MAX_RECORD = 1 << 30  # a CDXJ length past this is a broken line, not a record to read into memory


class RecordError(Exception):
    """A capture that cannot be read: which file, where, why."""

    def __init__(self, filename: str, offset: int, message: str) -> None:
        super().__init__(f"{filename} at offset {offset}: {message}")
        self.filename = filename
        self.offset = offset
        self.message = message


@dataclass(frozen=True)
class ReadCapture:
    """A capture as read: the parsed record and the row that led to it (the original's, for a revisit)."""

    row: CaptureRow
    capture: Capture
    original: CaptureRow | None = None


class RecordReader:
    """Reads records of every source the index knows; the store is needed for store crawls only."""

    def __init__(self, index: CaptureIndex, store: Store | None = None) -> None:
        self.index = index
        self.store = store
        self._kinds: dict[str, str] = {}
        self._members: dict[str, dict[str, tuple[int, int]]] = {}

    def _kind(self, source: str) -> str:
        if source not in self._kinds:
            self._kinds = {s.source: s.kind for s in self.index.sources()}
        return self._kinds.get(source, "crawl")

    def raw(self, row: CaptureRow) -> bytes:
        """The record's bytes as stored (one gzip member, or plain)."""
        if not 0 < row.length <= MAX_RECORD or row.offset < 0:
            raise RecordError(row.filename, row.offset, f"the index gives an impossible length {row.length}")
        kind = self._kind(row.source)
        try:
            if kind == "crawl":
                if self.store is None:
                    raise RecordError(row.filename, row.offset, "no store to read crawl records from")
                data = self.store.get_range(f"crawls/{row.source}/warc/{row.filename}", row.offset, row.length)
            elif kind == "wacz":
                data = self._wacz_range(row)
            else:
                with Path(row.source).open("rb") as fh:
                    fh.seek(row.offset)
                    data = fh.read(row.length)
        except (OSError, StoreError) as exc:
            raise RecordError(row.filename, row.offset, f"cannot read: {exc}") from exc
        if len(data) < row.length:
            raise RecordError(row.filename, row.offset,
                              f"the file ends {row.length - len(data)} bytes before the record does (truncated)")
        return data

    def _wacz_range(self, row: CaptureRow) -> bytes:
        if row.source not in self._members:
            self._members[row.source] = wacz_members(Path(row.source))
        found = self._members[row.source].get(row.filename)
        if found is None:
            raise RecordError(row.filename, row.offset, f"{Path(row.source).name} has no stored member {row.filename}")
        start, size = found
        if row.offset + row.length > size:
            raise RecordError(row.filename, row.offset, "the record reaches past the end of its WARC")
        with Path(row.source).open("rb") as fh:
            fh.seek(start + row.offset)
            return fh.read(row.length)

    def read(self, row: CaptureRow) -> ReadCapture:
        """The capture at `row`, a revisit resolved to its original's payload."""
        capture = parse_record(self.raw(row), row.filename, row.offset)
        if capture.record_type != "revisit":
            return ReadCapture(row, capture)
        refers = capture.warc_headers.get("WARC-Refers-To-Target-URI") or capture.url
        date = warc_ts(capture.warc_headers.get("WARC-Refers-To-Date") or "")
        original = self.index.original(refers, capture.digest or "", date) if capture.digest else None
        if original is None:
            raise RecordError(row.filename, row.offset,
                              f"revisit of {refers} ({capture.digest}): its original is not in the archive")
        source = parse_record(self.raw(original), original.filename, original.offset)
        capture.payload = source.payload
        capture.resolved_from = (original.filename, original.offset)
        if capture.http_headers is None or not capture.http_headers.headers:
            capture.http_headers, capture.status = source.http_headers, source.status
        return ReadCapture(row, capture, original)


def parse_record(data: bytes, filename: str, offset: int) -> Capture:
    """One record's bytes -> Capture (WARC or ARC, gzipped or not)."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # warcio prints its warnings
            iterator = ArchiveIterator(io.BytesIO(data), arc2warc=True)
            record: Any = next(iter(iterator), None)
            if record is None:
                raise RecordError(filename, offset, "no record there (the index points at the wrong offset)")
            payload = record.raw_stream.read()
    except (ArchiveLoadFailed, ValueError, OSError, EOFError, zlib.error) as exc:
        raise RecordError(filename, offset, f"unreadable record ({type(exc).__name__}: {exc})") from exc
    return capture_of(Path(filename), offset, record, payload)
