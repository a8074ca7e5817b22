"""Rotating WARC files: IIPC names, a warcinfo record first, `.open` while written, one sorted CDXJ each.

A file is written as `NAME.warc.gz.open` and renamed when closed, so after a crash every closed file is
complete and the open one holds whole gzip members up to the last flush (each record is flushed as
written). Rotation happens between exchanges, never between a response and its request record.

Closing is ordered for crashes: the WARC is fsynced; its CDXJ is written as `NAME.cdxj.open`, fsynced and
renamed; only then is the WARC renamed and the directory fsynced. A crash at any point leaves either an
`.open` WARC (salvaged, its CDXJ rebuilt) or a closed WARC with its complete CDXJ beside it.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from archive.cdxj import INDEXED_TYPES, cdxj_line
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


class WarcFileWriter:
    """Appends records to the current WARC file; `on_closed(warc, cdxj)` receives each finished pair."""

    def __init__(self, directory: Path, prefix: str, max_size: int, info: dict[str, str],
                 on_closed: Callable[[Path, Path], None], algorithm: str = "sha1", serial: int = 0,
                 fsync: bool = True) -> None:
        self.directory, self.prefix, self.max_size, self.info = directory, prefix, max_size, info
        self.algorithm = algorithm
        self.on_closed = on_closed
        self.fsync = fsync
        self.host = socket.gethostname().split(".")[0] or "localhost"
        self.serial = serial  # a reused crawl id goes on from the serials its earlier runs stored
        self.name = ""
        self._fh: IO[bytes] | None = None
        self._index: list[tuple[Written, dict[str, Any]]] = []
        self._extra: dict[str, dict[str, Any]] = {}

    def _open(self) -> IO[bytes]:
        self.directory.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC)
        self.name = iipc_name(self.prefix, now, self.serial, self.host)
        fh = (self.directory / f"{self.name}.open").open("wb", buffering=0)  # one write per record: no buffer
        self._fh = fh
        self._index, self._extra = [], {}
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
                    self._index.append((written, {}))
            data = b"".join(members)  # one write per exchange: records that belong together land together
            if fh.write(data) != len(data):  # unbuffered: a short write is a full disk
                raise OSError(errno.ENOSPC, f"short write to {self.name}")
        except OSError:
            # Disk full mid-record: cut the file back to its last whole exchange, so what follows is readable.
            del self._index[indexed:]
            fh.seek(start)
            fh.truncate(start)
            raise
        if fh.tell() >= self.max_size:
            self.close()
        return [w for _, w in records]

    def annotate(self, record_id: str, fields: dict[str, Any]) -> None:
        """Add our own fields (verdict, reasons) to a record's CDXJ line, if its file is still open."""
        self._extra.setdefault(record_id, {}).update(fields)

    def close(self) -> None:
        if self._fh is None:
            return
        fh, self._fh = self._fh, None
        fh.flush()
        if self.fsync:
            os.fsync(fh.fileno())
        fh.close()
        warc = self.directory / self.name
        cdxj = self.directory / (self.name.removesuffix(".warc.gz") + ".cdxj")
        # In memory until the file closes: bounded by ARCHIVE_MAX_FILE_SIZE (a 1 GB file of small records
        # is ~100k lines, ~30 MB), and sorting needs them all anyway.
        lines = sorted(cdxj_line(w, self._extra.get(w.record_id)) for w, _ in self._index)
        self._index, self._extra = [], {}
        write_durably(cdxj, "".join(line + "\n" for line in lines).encode("utf-8"), self.fsync)
        os.replace(self.directory / f"{self.name}.open", warc)
        if self.fsync:
            fsync_dir(self.directory)
        self.serial += 1
        logger.info("closed %s (%d captures indexed)", warc.name, len(lines))
        self.on_closed(warc, cdxj)
