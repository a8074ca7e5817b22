"""Rotating WARC files: IIPC names, a warcinfo record first, `.open` while written, one sorted CDXJ each.

A file is written as `NAME.warc.gz.open` and renamed when closed, so after a crash every closed file is
complete and the open one holds whole gzip members up to the last flush (each record is flushed as
written). Rotation happens between exchanges, never between a response and its request record.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from archive.cdxj import INDEXED_TYPES, cdxj_line
from archive.warc import GZIP_LEVEL, Record, Written, gzip_member, new_record_id, warcinfo_record

logger = logging.getLogger(__name__)


def iipc_name(prefix: str, moment: datetime, serial: int, host: str) -> str:
    """PREFIX-YYYYMMDDHHMMSSmmm-SERIAL-HOST.warc.gz (the IIPC / Heritrix convention)."""
    stamp = moment.strftime("%Y%m%d%H%M%S") + f"{moment.microsecond // 1000:03d}"
    return f"{prefix}-{stamp}-{serial:05d}-{host}.warc.gz"


class WarcFileWriter:
    """Appends records to the current WARC file; `on_closed(warc, cdxj)` receives each finished pair."""

    def __init__(self, directory: Path, prefix: str, max_size: int, info: dict[str, str],
                 on_closed: Callable[[Path, Path], None], algorithm: str = "sha1") -> None:
        self.directory, self.prefix, self.max_size, self.info = directory, prefix, max_size, info
        self.algorithm = algorithm
        self.on_closed = on_closed
        self.host = socket.gethostname().split(".")[0] or "localhost"
        self.serial = 0
        self.name = ""
        self._fh: IO[bytes] | None = None
        self._index: list[tuple[Written, dict[str, Any]]] = []
        self._extra: dict[str, dict[str, Any]] = {}

    def _open(self) -> IO[bytes]:
        self.directory.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC)
        self.name = iipc_name(self.prefix, now, self.serial, self.host)
        fh = (self.directory / f"{self.name}.open").open("wb")
        self._fh = fh
        self._index, self._extra = [], {}
        info = {**self.info, "format": "WARC File Format 1.1",
                "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/"}
        fh.write(gzip_member(warcinfo_record(self.name, info, now, new_record_id()).to_bytes(self.algorithm)))
        return fh

    def write(self, records: list[tuple[Record, Written]]) -> list[Written]:
        """Write records that belong together (request, response, metadata); fill in where they landed."""
        fh = self._fh or self._open()
        for record, written in records:
            data = gzip_member(record.to_bytes(self.algorithm), GZIP_LEVEL if record.compressible else 0)
            written.filename, written.offset, written.length = self.name, fh.tell(), len(data)
            fh.write(data)
            if written.record_type in INDEXED_TYPES:
                self._index.append((written, {}))
        fh.flush()
        if fh.tell() >= self.max_size:
            self.close()
        return [w for _, w in records]

    def annotate(self, record_id: str, fields: dict[str, Any]) -> None:
        """Add our own fields (verdict, reasons) to a record's CDXJ line, if its file is still open."""
        self._extra.setdefault(record_id, {}).update(fields)

    def close(self) -> None:
        if self._fh is None:
            return
        self._fh.close()
        self._fh = None
        warc = self.directory / self.name
        os.replace(self.directory / f"{self.name}.open", warc)
        cdxj = self.directory / (self.name.removesuffix(".warc.gz") + ".cdxj")
        lines = sorted(cdxj_line(w, self._extra.get(w.record_id)) for w, _ in self._index)
        cdxj.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        self.serial += 1
        logger.info("closed %s (%d captures indexed)", warc.name, len(lines))
        self.on_closed(warc, cdxj)
