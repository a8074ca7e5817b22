"""Rotating WARC files: IIPC names, a warcinfo record first, `.open` while written, one sorted CDXJ each.

A file is written as `NAME.warc.gz.open` and renamed when closed, so after a crash every closed file is
complete and the open one holds whole gzip members up to the last flush (each record is flushed as
written). Rotation happens between exchanges, never between a response and its request record.

Closing is ordered for crashes: the WARC is fsynced; its CDXJ is written as `NAME.cdxj.open`, fsynced and
renamed; only then is the WARC renamed and the directory fsynced. A crash at any point leaves either an
`.open` WARC (salvaged, its CDXJ rebuilt) or a closed WARC with its complete CDXJ beside it. A closed file
is handed on for upload a grace period later: its last pages' verdicts, which follow their records, are
still written into its CDXJ.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from archive.cdxj import INDEXED_TYPES, cdxj_parts, joined
from archive.store import fsync_dir
from archive.warc import GZIP_LEVEL, Record, Written, gzip_member, new_record_id, warcinfo_record

logger = logging.getLogger(__name__)


def write_durably(path: Path, data: bytes, fsync: bool = True) -> None:
    """Write `path` through `PATH.open`, fsynced before the rename: never half a file under its name."""
    tmp = path.with_name(path.name + ".open")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        if fsync:
            os.fsync(fh.fileno())
    os.replace(tmp, path)


def iipc_name(prefix: str, moment: datetime, serial: int, host: str) -> str:
    """PREFIX-YYYYMMDDHHMMSSmmm-SERIAL-HOST.warc.gz (the IIPC / Heritrix convention)."""
    stamp = moment.strftime("%Y%m%d%H%M%S") + f"{moment.microsecond // 1000:03d}"
    return f"{prefix}-{stamp}-{serial:05d}-{host}.warc.gz"


ANNOTATION_GRACE = 10.0  # seconds: well past the time a page takes to be read (its verdict follows its record)


@dataclass
class _Finishing:
    """A full file, closed and indexed, whose CDXJ may still learn the verdicts of its last pages."""

    name: str
    index: list[Written]
    lines: dict[str, str]  # record id -> its CDXJ line as written at rotation
    since: float
    annotated: set[str] = field(default_factory=set)  # record ids whose line changed since


class WarcFileWriter:
    """Appends records to the current WARC file; `on_closed(warc, cdxj)` receives each finished pair.

    A page's verdict reaches its CDXJ line (`annotate`) after its response was written, once the page has
    been read. A file that fills up in between is closed at once as usual (fsynced, its CDXJ written, renamed:
    a crash after that point finds a whole file and its index), but handed on for upload only `grace`
    seconds later (at a later write, or when the writer closes); verdicts that arrive meanwhile rewrite its
    CDXJ first, so they are not lost to the rotation."""

    def __init__(self, directory: Path, prefix: str, max_size: int, info: dict[str, str],
                 on_closed: Callable[[Path, Path], None], algorithm: str = "sha1", serial: int = 0,
                 fsync: bool = True, grace: float = ANNOTATION_GRACE, host: str | None = None) -> None:
        self.directory, self.prefix, self.max_size, self.info = directory, prefix, max_size, info
        self.algorithm = algorithm
        self.on_closed = on_closed
        self.fsync = fsync
        self.grace = grace
        # IIPC's last field: the host, or a distributed crawl's worker (HOST-PID by default): two workers'
        # files never share a name.
        self.host = host or socket.gethostname().split(".")[0] or "localhost"
        self.serial = serial  # a reused crawl id goes on from the serials its earlier runs stored
        self.name = ""
        self._fh: IO[bytes] | None = None
        self._index: list[Written] = []
        self._indexed: set[str] = set()  # record ids of the open and the finishing files' CDXJ lines
        self._parts: dict[str, tuple[str, dict[str, Any]]] = {}  # record id -> its CDXJ line's parts
        self._extra: dict[str, dict[str, Any]] = {}  # record id -> our CDXJ fields, for those lines
        self.late_annotations = 0  # verdicts that came after their file's CDXJ was written (kept in the log)
        self._finishing: list[_Finishing] = []

    def _open(self) -> IO[bytes]:
        self.directory.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC)
        self.name = iipc_name(self.prefix, now, self.serial, self.host)
        self.serial += 1
        fh = (self.directory / f"{self.name}.open").open("wb", buffering=0)  # one write per record: no buffer
        self._fh = fh
        self._index = []
        info = {**self.info, "format": "WARC File Format 1.1",
                "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/"}
        fh.write(gzip_member(warcinfo_record(self.name, info, now, new_record_id()).to_bytes(self.algorithm)))
        return fh

    def write(self, records: list[tuple[Record, Written]]) -> list[Written]:
        """Write records that belong together (request, response, metadata); fill in where they landed."""
        fh = self._fh or self._open()
        start, indexed = fh.tell(), len(self._index)
        try:
            members, offset = [], start
            for record, written in records:
                data = gzip_member(record.to_bytes(self.algorithm), GZIP_LEVEL if record.compressible else 0)
                written.filename, written.offset, written.length = self.name, offset, len(data)
                members.append(data)
                offset += len(data)
                if written.record_type in INDEXED_TYPES:
                    self._index.append(written)
                    self._indexed.add(written.record_id)
                    self._parts[written.record_id] = cdxj_parts(written)
            data = b"".join(members)  # one write per exchange: records that belong together land together
            if fh.write(data) != len(data):  # unbuffered: a short write is a full disk
                raise OSError(errno.ENOSPC, f"short write to {self.name}")
        except OSError:
            # Disk full mid-record: cut the file back to its last whole exchange, so what follows is readable.
            for written in self._index[indexed:]:
                self._indexed.discard(written.record_id)
                self._parts.pop(written.record_id, None)
            del self._index[indexed:]
            fh.seek(start)
            fh.truncate(start)
            raise
        if fh.tell() >= self.max_size:
            self._rotate()
        self._finish_due()
        return [w for _, w in records]

    def annotate(self, record_id: str, fields: dict[str, Any]) -> None:
        """Add our own fields (verdict, reasons) to a record's CDXJ line, until its file is handed on."""
        if record_id not in self._indexed:
            self.late_annotations += 1
            return
        self._extra.setdefault(record_id, {}).update(fields)
        for done in self._finishing:
            if record_id in done.lines:
                done.annotated.add(record_id)
                break

    def _rotate(self) -> None:
        """Close the current file (WARC fsynced, CDXJ written, renamed); hand it on after the grace period."""
        fh, self._fh = self._fh, None
        if fh is None:
            return
        try:
            fh.flush()
            if self.fsync:
                os.fsync(fh.fileno())
        finally:
            fh.close()
        lines = {w.record_id: self._line(w) for w in self._index}
        self._write_cdxj(self.name, lines)
        os.replace(self.directory / f"{self.name}.open", self.directory / self.name)
        if self.fsync:
            fsync_dir(self.directory)
        self._finishing.append(_Finishing(self.name, self._index, lines, time.monotonic()))
        self._index = []

    def _line(self, written: Written) -> str:
        parts = self._parts.get(written.record_id) or cdxj_parts(written)
        return joined(*parts, self._extra.get(written.record_id))

    def _cdxj_path(self, name: str) -> Path:
        return self.directory / (name.removesuffix(".warc.gz") + ".cdxj")

    def _write_cdxj(self, name: str, lines: dict[str, str]) -> None:
        # In memory until the file is handed on: bounded by ARCHIVE_MAX_FILE_SIZE (a 1 GB file of small
        # records is ~100k lines, ~30 MB), and sorting needs them all anyway.
        data = "".join(line + "\n" for line in sorted(lines.values())).encode("utf-8")
        write_durably(self._cdxj_path(name), data, self.fsync)

    def _finish_due(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        while self._finishing and (now - self._finishing[0].since >= self.grace):
            self._finish(self._finishing.pop(0))

    def close(self) -> None:
        """Finish every file: the one being written and those waiting out their grace period."""
        self._rotate()
        while self._finishing:
            self._finish(self._finishing.pop(0))

    def _finish(self, done: _Finishing) -> None:
        """Verdicts that came during the grace period into the CDXJ, then the pair to `on_closed`."""
        if done.annotated:
            for written in done.index:
                if written.record_id in done.annotated:
                    done.lines[written.record_id] = self._line(written)
            self._write_cdxj(done.name, done.lines)
        for written in done.index:
            self._extra.pop(written.record_id, None)
            self._parts.pop(written.record_id, None)
        self._indexed.difference_update(w.record_id for w in done.index)
        warc = self.directory / done.name
        logger.info("closed %s (%d captures indexed)", warc.name, len(done.lines))
        self.on_closed(warc, self._cdxj_path(done.name))
