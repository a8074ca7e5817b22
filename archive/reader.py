"""Reading captures back from WARC and ARC files (ours and other tools'), for replay, re-processing, audit.

`ArchiveReader(paths).captures()` yields every capture (response, resource, conversion, revisit resolved to the payload
it points to) and records each problem it meets (file, offset, what is wrong) in `problems`, then goes on
with the next file: a broken file costs its own unreadable part, never the whole read. A `.wacz` path stands
for the WARCs in its `archive/`, each named `x.wacz#archive/NAME.warc.gz`.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import brotli
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeaders

from archive.cdxj import media_type

CAPTURE_TYPES = ("response", "resource", "conversion", "revisit")


@dataclass(frozen=True)
class Problem:
    """Something wrong in an archive file, where it is."""

    filename: str
    offset: int | None
    message: str

    def __str__(self) -> str:
        where = f" at offset {self.offset}" if self.offset is not None else ""
        return f"{self.filename}{where}: {self.message}"


@dataclass
class Capture:
    """One archived fetch; `payload` is the body as received (still content-encoded)."""

    url: str
    date: str
    record_type: str
    status: int | None
    http_headers: StatusAndHeaders | None
    payload: bytes
    filename: str
    offset: int
    record_id: str | None
    digest: str | None
    truncated: str | None = None
    resolved_from: tuple[str, int] | None = None  # a revisit: where its payload was read from
    warc_headers: dict[str, str] = field(default_factory=dict)

    @property
    def mime(self) -> str | None:
        value = self.http_headers.get_header("Content-Type") if self.http_headers else None
        found = media_type(value or self.warc_headers.get("Content-Type"))
        return found.lower() if found else None

    def content(self) -> bytes:
        """The payload with its Content-Encoding undone (gzip, deflate, br); as is when it cannot be."""
        encoding = (self.http_headers.get_header("Content-Encoding") or "") if self.http_headers else ""
        return decode_content(self.payload, encoding)


def decode_content(payload: bytes, encoding: str) -> bytes:
    """Undo HTTP content codings, last applied first. Written here because warcio's own decoder breaks on
    current brotli releases (Decompressor.unused_data is gone)."""
    data = payload
    for coding in reversed([c.strip().lower() for c in encoding.split(",") if c.strip()]):
        try:
            if coding in ("gzip", "x-gzip"):
                data = gzip.decompress(data)
            elif coding == "deflate":
                try:
                    data = zlib.decompress(data)
                except zlib.error:
                    data = zlib.decompress(data, -zlib.MAX_WBITS)  # raw deflate, as some servers send
            elif coding == "br":
                data = brotli.decompress(data)
        except (OSError, EOFError, zlib.error, brotli.error):
            return payload
    return data


def wacz_member_offset(path: Path, member: str) -> tuple[int, int]:
    """(offset of `member`'s data in the zip file at `path`, its size): where a WARC record at offset O of a
    stored member starts in the WACZ (data offset + O), for range reads. Read from the member's local header,
    whose extra field may differ in length from the central directory's. ValueError for a deflated member
    (its bytes are not the WARC's), KeyError for a missing one, zipfile.BadZipFile for a broken zip."""
    with zipfile.ZipFile(path) as zf, Path(path).open("rb") as fh:
        info = zf.getinfo(member)
        if info.compress_type != zipfile.ZIP_STORED:
            raise ValueError(f"{Path(path).name}: member {member} is compressed, its records cannot be read by range")
        fh.seek(info.header_offset)
        header = fh.read(30)
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile(f"{Path(path).name}: no local header for {member} at {info.header_offset}")
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        return info.header_offset + 30 + name_length + extra_length, info.file_size


@dataclass(frozen=True)
class _Source:
    """One WARC or ARC to read: a file, or a member of a WACZ."""

    path: Path
    member: str | None = None

    @property
    def name(self) -> str:
        return f"{self.path.name}#{self.member}" if self.member else self.path.name

    @contextlib.contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        if self.member is None:
            with self.path.open("rb") as fh:
                yield fh
            return
        with zipfile.ZipFile(self.path) as zf, zf.open(self.member) as fh:
            yield fh


def _is_wacz(path: Path) -> bool:
    return path.suffix.lower() == ".wacz"


class ArchiveReader:
    """Iterates captures across files; revisits are resolved against the files given."""

    def __init__(self, paths: Iterable[Path]) -> None:
        self.paths = [Path(p) for p in paths]
        self.problems: list[Problem] = []
        self.records: dict[str, int] = {}  # records read per file name, captures or not
        self._originals: dict[tuple[str, str], tuple[_Source, int]] = {}
        self._indexed = False

    def captures(self) -> Iterator[Capture]:
        for path in self.paths:
            for source in self._sources(path, report=True):
                yield from self._file_captures(source)

    def _sources(self, path: Path, report: bool) -> list[_Source]:
        """The file itself, or for a WACZ its `archive/` members (a zip that cannot be read is a problem)."""
        if not _is_wacz(path):
            return [_Source(path)]
        try:
            with zipfile.ZipFile(path) as zf:
                names = [n for n in zf.namelist() if n.startswith("archive/") and not n.endswith("/")]
        except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
            if report:
                self.problems.append(Problem(path.name, None, f"not a readable WACZ ({type(exc).__name__}: {exc})"))
            return []
        if report and not names:
            self.problems.append(Problem(path.name, None, "WACZ without WARCs (nothing under archive/)"))
        return [_Source(path, name) for name in names]

    def _file_captures(self, source: _Source) -> Iterator[Capture]:
        for offset, record, payload in self._records(source, report=True):
            if record.rec_type not in CAPTURE_TYPES:
                continue
            capture = capture_of(source.path, offset, record, payload, name=source.name)
            if capture.digest and record.rec_type != "revisit":
                self._originals.setdefault((capture.url, capture.digest), (source, offset))
            if record.rec_type == "revisit":
                self._resolve(capture, record)
            yield capture

    def _records(self, source: _Source, report: bool) -> Iterator[tuple[int, Any, bytes]]:
        """(offset, record, payload) for each readable record; problems are noted when `report`."""
        def note(offset: int | None, message: str) -> None:
            if report:
                self.problems.append(Problem(source.name, offset, message))

        with contextlib.ExitStack() as stack:
            try:
                fh = stack.enter_context(source.open())
            except (OSError, KeyError, zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError) as exc:
                note(None, f"cannot open: {exc}")
                return
            iterator = ArchiveIterator(fh, arc2warc=True)
            records = iter(iterator)
            previous: int | None = None
            while True:
                errors = iterator.err_count
                try:
                    with contextlib.redirect_stderr(io.StringIO()):  # warcio prints its warnings; we collect
                        record = next(records)
                        payload = record.raw_stream.read()
                        offset = iterator.get_record_offset()  # reads on to the end of the record
                except StopIteration:
                    return
                except (ArchiveLoadFailed, ValueError, OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
                    note(previous if previous is not None else 0,
                         f"unreadable after this point ({type(exc).__name__}: {' '.join(str(exc).split())})")
                    return
                if iterator.err_count > errors:
                    note(offset, "record does not end where its Content-Length says (truncated or wrong length)")
                declared = record.rec_headers.get_header("Content-Length")
                if declared is not None and not declared.strip().isdigit():
                    note(offset, f"invalid record length {declared!r}")
                previous = offset
                if report:
                    self.records[source.name] = self.records.get(source.name, 0) + 1
                yield offset, record, payload

    def _resolve(self, capture: Capture, record: Any) -> None:
        """Give a revisit the payload of the capture it refers to (same digest, its target URI)."""
        refers = record.rec_headers.get_header("WARC-Refers-To-Target-URI") or capture.url
        key = (refers, capture.digest or "")
        if key not in self._originals and not self._indexed:
            self._index_all()
        found = self._originals.get(key)
        if found is None:
            self.problems.append(Problem(capture.filename, capture.offset,
                                         f"revisit of {refers} ({capture.digest}): original not in these files"))
            return
        source, offset = found
        for _, original, payload in self._records(source, report=False):
            if original.rec_headers.get_header("WARC-Payload-Digest") == capture.digest and \
                    _target(original) == refers:
                capture.payload, capture.resolved_from = payload, (source.name, offset)
                return

    def _index_all(self) -> None:
        """Index every original in the files given, for revisits that point ahead or across files."""
        self._indexed = True
        for path in self.paths:
            for source in self._sources(path, report=False):
                for offset, record, _ in self._records(source, report=False):
                    digest = record.rec_headers.get_header("WARC-Payload-Digest")
                    if record.rec_type in ("response", "resource", "conversion") and digest:
                        self._originals.setdefault((_target(record), digest), (source, offset))


def _target(record: Any) -> str:
    return str(record.rec_headers.get_header("WARC-Target-URI") or "")


def capture_of(path: Path, offset: int, record: Any, payload: bytes, name: str | None = None) -> Capture:
    """The Capture of one record; `name` (e.g. `x.wacz#archive/y.warc.gz`) is its file's name, else the path's."""
    headers = record.rec_headers
    http = record.http_headers if record.rec_type in ("response", "revisit") else None
    status = int(http.get_statuscode()) if http is not None and http.get_statuscode().isdigit() else None
    return Capture(
        url=_target(record), date=headers.get_header("WARC-Date") or "", record_type=record.rec_type,
        status=status, http_headers=http, payload=payload, filename=name or path.name, offset=offset,
        record_id=headers.get_header("WARC-Record-ID"), digest=headers.get_header("WARC-Payload-Digest"),
        truncated=headers.get_header("WARC-Truncated"), warc_headers=dict(headers.headers),
    )
