"""What an interrupted crawl left in the spool, made whole and handed back to the uploader.

The spool mirrors the store layout (`SPOOL/CRAWL_ID/log/part-00000.jsonl.gz`, `.../warc/NAME.warc.gz` with
its `NAME.cdxj` beside it), so every finished file has one deterministic key and uploading it again is
harmless. Files still `.open` when the process died are salvaged: a WARC keeps every complete gzip member
(records are flushed one exchange at a time) and gets its CDXJ rebuilt; a JSON-lines part keeps every
complete line. A finished WARC whose CDXJ is missing or cut gets it rebuilt.

A crawl directory is only touched under its spool lock (archive/spoollock.py): a crawl still running, even
one started at the same time as ours, is skipped. Everything streams: a WARC is read once, in chunks, to
find its complete records and index them, so salvaging 1 GB takes seconds and a few MB whatever its number
of records (benchmarks/recovery.py). A WARC is cut in place after its last complete record and renamed;
everything else is written under a temporary name, fsynced and renamed; so a crash during recovery loses
nothing and the next recovery finishes the job. A file that cannot be salvaged is reported (`failed`) and
left where it is.
"""

from __future__ import annotations

import gzip
import heapq
import io
import json
import logging
import os
import re
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.recordloader import ArcWarcRecordLoader
from warcio.statusandheaders import StatusAndHeadersParserException

from archive.cdxj import INDEXED_TYPES, cdxj_line, media_type
from archive.spoollock import SpoolLock, SpoolLockedError
from archive.store import Store, fsync_dir
from archive.warc import Written
from crawler.errors import PalimpsestError, StoreError

logger = logging.getLogger(__name__)
CACHES = ("digests.sqlite",)  # with its SQLite sidecars (-wal, -shm, -journal): never uploaded
CHUNK = 1 << 20  # read size
FEED, FIRST_FEED = 1 << 16, 1 << 9  # bytes handed to zlib at a time (see members)
OUT_LIMIT = 1 << 20  # decompressed bytes per zlib call: a gzip bomb costs time, never memory
HEAD = 1 << 16  # decompressed bytes of each member kept for the index: its WARC and HTTP headers
SORT_MEMORY = 16 << 20  # index lines kept in memory before a sorted run is spilled to disk
GZIP_WBITS = zlib.MAX_WBITS + 16
TEMP = ".salvage"  # our temporary names (parts); a CDXJ is written as `NAME.cdxj.open`, as the writer does
_CDXJ_LINE = re.compile(rb"(.+?) (\d{14}) (\{.*\})\r?\n")
_WARC_FIELD = re.compile(rb"\r\n(WARC-Type|Content-Length):[ \t]*([^\r\n]*)", re.IGNORECASE)
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")

Submit = Callable[[str, Path], None]
Failed = Callable[[Path, str], None]


class SalvageError(PalimpsestError):
    """A spool file that cannot be made whole; it is left where it is."""


def store_key(crawl_id: str, relative: Path) -> str:
    """Where a spooled file belongs in the store. A worker's spool of a distributed crawl is
    `CRAWL_ID@WORKER` (`@` is never in a crawl id)."""
    crawl_id = crawl_id.split("@", 1)[0]
    if relative.suffix == ".cdxj":
        return f"crawls/{crawl_id}/cdxj/{relative.name}"
    return f"crawls/{crawl_id}/{relative.as_posix()}"


def _fsync(fh: IO[Any]) -> None:
    fh.flush()
    os.fsync(fh.fileno())


# --- WARC ------------------------------------------------------------------------------------------------
@dataclass
class Member:
    """One complete gzip member: where it is in the file, its decompressed size, and its first HEAD bytes
    (a record's WARC and HTTP headers, for the index)."""

    offset: int
    length: int
    size: int
    head: bytes


def members(fh: IO[bytes]) -> Iterator[Member]:
    """The leading run of complete gzip members of `fh`, in one streaming pass; stops at the first member
    that is cut or is not gzip.

    One decompressor per member, fed from a memoryview in pieces that start small at each member and
    double while it goes on (up to FEED): zlib copies what is left of a piece after a member's end, so that
    copy stays within about twice the member's length. Every byte goes through zlib about once: linear in
    the file, whatever the number of members; memory bounded by CHUNK, OUT_LIMIT and HEAD."""
    offset = 0  # file offset of chunk[0]
    start = 0  # file offset of the current member
    decompressor = zlib.decompressobj(GZIP_WBITS)
    feed = FIRST_FEED
    head: list[bytes] = []
    kept = size = 0
    while chunk := fh.read(CHUNK):
        view = memoryview(chunk)
        pos = 0
        while pos < len(view):
            piece = view[pos:pos + feed]
            try:
                out = decompressor.decompress(piece, OUT_LIMIT)
                while True:
                    size += len(out)
                    if kept < HEAD:
                        head.append(out[:HEAD - kept])
                        kept += len(head[-1])
                    if decompressor.eof or not (decompressor.unconsumed_tail or len(out) == OUT_LIMIT):
                        break
                    out = decompressor.decompress(decompressor.unconsumed_tail, OUT_LIMIT)  # output was capped
            except zlib.error:
                return
            if decompressor.eof:
                pos += len(piece) - len(decompressor.unused_data)
                yield Member(start, offset + pos - start, size, b"".join(head))
                start = offset + pos
                head, kept, size = [], 0, 0
                decompressor = zlib.decompressobj(GZIP_WBITS)
                feed = FIRST_FEED
            else:
                pos += len(piece)
                feed = min(feed * 2, FEED)
        offset += len(chunk)


def complete_prefix(fh: IO[bytes]) -> int:
    """Length of the leading run of complete gzip members in `fh`."""
    end = 0
    for member in members(fh):
        end = member.offset + member.length
    return end


class _Prefix:
    """The first `limit` bytes of a file, for warcio: the index never sees the half-written tail."""

    def __init__(self, fh: IO[bytes], limit: int) -> None:
        self.fh, self.left, self.offset = fh, limit, 0

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        data = self.fh.read(size)
        self.left -= len(data)
        self.offset += len(data)
        return data

    def tell(self) -> int:
        return self.offset


class _SortedLines:
    """Index lines, sorted. Kept in memory up to SORT_MEMORY (a 1 GB WARC of news pages has ~20k captures,
    ~6 MB of lines); beyond that, sorted runs go to anonymous temporary files beside the WARC and are merged
    when written, so a file of many tiny records (1 GB of 2 KB 404 pages: ~250k lines) stays bounded too."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.lines: list[str] = []
        self.size = 0
        self.count = 0
        self.runs: list[IO[str]] = []

    def add(self, line: str) -> None:
        self.lines.append(line)
        self.count += 1
        self.size += len(line) + 64  # str overhead and the list's slot
        if self.size >= SORT_MEMORY:
            self._spill()

    def _spill(self) -> None:
        run = tempfile.TemporaryFile("w+", encoding="utf-8", newline="\n", dir=self.directory)  # noqa: SIM115
        run.writelines(line + "\n" for line in sorted(self.lines))
        run.seek(0)
        self.runs.append(run)
        self.lines, self.size = [], 0

    def discard(self) -> None:
        for run in self.runs:
            run.close()
        self.runs, self.lines = [], []

    def write(self, out: IO[str]) -> None:
        self.lines.sort()
        if not self.runs:
            out.writelines(line + "\n" for line in self.lines)
            return
        try:
            # Keyed without the newline, to sort exactly as the in-memory case does.
            merged = heapq.merge(*self.runs, (line + "\n" for line in self.lines), key=lambda s: s[:-1])
            out.writelines(merged)
        finally:
            for run in self.runs:
                run.close()


def _written(record: Any, offset: int, length: int, filename: str) -> Written:
    headers = record.rec_headers
    http = record.http_headers
    mime = http.get_header("Content-Type") if http is not None else headers.get_header("Content-Type")
    status = http.get_statuscode() if http is not None else None
    # To the second, as the CDXJ keeps it; fromisoformat: strptime was a tenth of the time of an index.
    date = datetime.fromisoformat(headers.get_header("WARC-Date")[:19]).replace(tzinfo=UTC)
    return Written(headers.get_header("WARC-Record-ID"), record.rec_type, headers.get_header("WARC-Target-URI"),
                   filename, offset, length, date, headers.get_header("WARC-Payload-Digest"), media_type(mime),
                   int(status) if status and status.isdigit() else None)


class _Indexer:
    """CDXJ lines from the members `members()` walks, so one pass over the file both finds the complete
    prefix and indexes it. Our writer puts each record in its own gzip member, so a member's first bytes
    hold its headers: warcio's record loader parses them from there (requests and metadata, not indexed,
    are not parsed at all), instead of an ArchiveIterator decompressing the whole file a second time and
    parsing every record (that pass was two thirds of a 1 GB salvage). A member that is not exactly one
    WARC record clears `one_per_member`; the caller then indexes the file with ArchiveIterator."""

    def __init__(self, path: Path, filename: str) -> None:
        self.path, self.filename = path, filename
        self.lines = _SortedLines(path.parent)
        self.loader = ArcWarcRecordLoader(verify_http=False, arc2warc=False)  # ArchiveIterator's own settings
        self.one_per_member = True
        self.skipped = 0

    def add(self, member: Member) -> None:
        head = member.head
        warc_end = head.find(b"\r\n\r\n")
        if not head.startswith(b"WARC/") or warc_end < 0:
            self.one_per_member = False
            return
        fields = {name.lower(): value.strip() for name, value in _WARC_FIELD.findall(head, 0, warc_end + 2)}
        length = fields.get(b"content-length", b"")
        if not length.isdigit() or warc_end + 4 + int(length) + 4 != member.size:
            self.one_per_member = False  # several records in one member, or one record over several
            return
        if fields.get(b"warc-type", b"").decode("latin-1") not in INDEXED_TYPES:
            return
        try:
            record = self._record(member, warc_end)
        except (ArchiveLoadFailed, StatusAndHeadersParserException, ValueError, EOFError):
            self.one_per_member = False
            return
        try:
            self.lines.add(cdxj_line(_written(record, member.offset, member.length, self.filename)))
        except (TypeError, ValueError) as exc:  # a missing or malformed WARC-Date or URI
            self.skipped += 1
            logger.warning("%s: record at %s not indexed: %s", self.path, member.offset, exc)

    def _record(self, member: Member, warc_end: int) -> Any:
        """The record's headers, parsed by warcio from the member's head (or, when its HTTP headers are
        longer than HEAD, from the file)."""
        head = member.head
        if member.size <= len(head) or _BLANK_LINE.search(head, warc_end + 4):
            return self.loader.parse_record_stream(io.BytesIO(head))
        with self.path.open("rb") as fh:
            fh.seek(member.offset)
            return next(iter(ArchiveIterator(_Prefix(fh, member.length))))

    def finish(self) -> _SortedLines:
        if self.skipped:
            logger.warning("%s: %d records could not be indexed", self.path, self.skipped)
        return self.lines


def index_warc(path: Path, limit: int, filename: str) -> _SortedLines:
    """CDXJ lines of the captures in the first `limit` bytes of `path`, with warcio's ArchiveIterator, record
    by record (it skips a record's block in small reads: memory bounded by one record's headers). For a WARC
    not laid out one record per gzip member. A record that cannot be indexed is logged and left out; a
    file that is not a WARC raises SalvageError."""
    lines = _SortedLines(path.parent)
    try:
        _index_records(path, limit, filename, lines)
    except SalvageError:
        lines.discard()
        raise
    return lines


def _index_records(path: Path, limit: int, filename: str, lines: _SortedLines) -> None:
    skipped = 0
    with path.open("rb") as fh:
        iterator = ArchiveIterator(_Prefix(fh, limit))
        try:
            for record in iterator:
                if record.format != "warc":  # warcio reads ARC too, and takes some text for ARC headers
                    raise SalvageError(f"{path}: not a WARC (a {record.format} record at "
                                       f"{iterator.get_record_offset()})")
                if record.rec_type not in INDEXED_TYPES:
                    continue
                try:
                    offset, length = iterator.get_record_offset(), iterator.get_record_length()
                    lines.add(cdxj_line(_written(record, offset, length, filename)))
                except (TypeError, ValueError) as exc:  # a missing or malformed WARC-Date or URI
                    skipped += 1
                    logger.warning("%s: record at %s not indexed: %s", path, iterator.get_record_offset(), exc)
        except (ArchiveLoadFailed, StatusAndHeadersParserException, ValueError, EOFError) as exc:
            raise SalvageError(f"{path}: not a readable WARC ({str(exc).strip()[:200]})") from exc
    if skipped:
        logger.warning("%s: %d records could not be indexed", path, skipped)


def write_cdxj(cdxj: Path, lines: _SortedLines) -> None:
    """Through `NAME.cdxj.open`, fsynced, renamed: a CDXJ under its name is always whole."""
    tmp = cdxj.with_name(cdxj.name + ".open")
    with tmp.open("w", encoding="utf-8", newline="\n") as out:
        lines.write(out)
        _fsync(out)
    os.replace(tmp, cdxj)
    fsync_dir(cdxj.parent)


def cdxj_problem(cdxj: Path, warc_name: str, warc_size: int | None) -> str | None:
    """What is wrong with a CDXJ (missing, empty, cut, a line that does not parse or points outside its
    WARC), or None when it is whole. Streams the file line by line."""
    try:
        fh = cdxj.open("rb")
    except FileNotFoundError:
        return "missing"
    count = 0
    with fh:
        for count, raw in enumerate(fh, 1):
            if not raw.endswith(b"\n"):
                return f"cut (line {count} has no newline)"
            found = _CDXJ_LINE.fullmatch(raw)
            try:
                fields = json.loads(found.group(3)) if found else None
                if not isinstance(fields, dict):
                    return f"line {count} does not parse"
                offset, length = int(fields["offset"]), int(fields["length"])
            except (ValueError, KeyError, TypeError):
                return f"line {count} does not parse"
            if fields.get("filename") != warc_name or (warc_size is not None and offset + length > warc_size):
                return f"line {count} points outside {warc_name}"
    return None if count else "empty"


def _cdxj_of(warc: Path) -> Path:
    return warc.with_name(warc.name.removesuffix(".warc.gz") + ".cdxj")


def scan_warc(path: Path, filename: str, index: bool = True) -> tuple[int, _SortedLines | None]:
    """The length of `path`'s complete records and (when `index`) their CDXJ lines, in one pass."""
    indexer = _Indexer(path, filename) if index else None
    end = 0
    with path.open("rb") as fh:
        for member in members(fh):
            end = member.offset + member.length
            if indexer is not None and indexer.one_per_member:
                indexer.add(member)
    if end == 0:
        size = path.stat().st_size
        raise SalvageError(f"{path}: no complete gzip member in its {size} bytes" if size else f"{path}: empty")
    if indexer is None:
        return end, None
    if not indexer.one_per_member:
        indexer.lines.discard()
        logger.info("%s is not one record per gzip member: indexing it with warcio's ArchiveIterator", path)
        return end, index_warc(path, end, filename)
    return end, indexer.finish()


def close_open_warc(path: Path) -> tuple[Path, Path]:
    """Keep the complete records of `NAME.warc.gz.open`, write its CDXJ, rename it NAME.warc.gz.

    In place: the file is cut after its last complete gzip member (only the half-written record goes) and
    renamed, so a 1 GB file is never copied. The CDXJ is written (through a temporary name) before the
    rename, as the writer does it: a crash at any step leaves an `.open` WARC that the next recovery
    salvages again, or a finished WARC with its whole CDXJ. A CDXJ the writer finished before the kill is
    kept (it has our annotations) when the WARC is complete and the CDXJ is whole and fits it."""
    warc = path.with_name(path.name.removesuffix(".open"))
    cdxj = _cdxj_of(warc)
    size = path.stat().st_size
    keep = cdxj_problem(cdxj, warc.name, size) is None
    end, lines = scan_warc(path, warc.name, index=not keep)
    if keep and end < size:  # the CDXJ may point into what goes: index what stays (a second pass, rare)
        lines = index_warc(path, end, warc.name)
    if end < size:
        logger.warning("%s: dropping the last %d bytes (a record cut when its writer died)", path, size - end)
        os.truncate(path, end)
    with path.open("rb") as fh:
        os.fsync(fh.fileno())
    if lines is not None:
        write_cdxj(cdxj, lines)
    os.replace(path, warc)
    fsync_dir(warc.parent)
    captures = lines.count if lines is not None else "its own"
    logger.warning("salvaged %s: %d bytes of complete records, %s captures indexed", warc.name, end, captures)
    return warc, cdxj


def rebuild_cdxj(warc: Path) -> Path:
    """A finished WARC's CDXJ, rebuilt from the WARC. A finished WARC that is not whole after all (a writer
    that did not fsync, then a power cut) is left alone: cutting it could drop good records after a bad one;
    renamed `.open`, the next recovery keeps what comes before the damage."""
    size = warc.stat().st_size
    end, lines = scan_warc(warc, warc.name)
    assert lines is not None
    if end < size:
        raise SalvageError(f"{warc}: finished but damaged from byte {end} of {size}; rename it {warc.name}.open "
                           "to keep its first complete records")
    cdxj = _cdxj_of(warc)
    write_cdxj(cdxj, lines)
    logger.warning("rebuilt %s from %s: %d captures indexed", cdxj.name, warc.name, lines.count)
    return cdxj


# --- JSON-lines parts --------------------------------------------------------------------------------------
def close_open_part(path: Path) -> Path | None:
    """Keep the complete JSON lines of `part-N.jsonl.gz.open` as part-N.jsonl.gz, streaming.

    Written as `part-N.jsonl.gz.salvage` and fsynced; the `.open` is removed before the rename, so a
    `.salvage` without its `.open` is complete (`_finish_temp`). None when there was nothing to keep (a part
    opened but never written): the `.open` is removed."""
    part = path.with_name(path.name.removesuffix(".open"))
    tmp = part.with_name(part.name + TEMP)
    kept = bad = 0
    error: Exception | None = None
    with gzip.open(path, "rb") as src, tmp.open("wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6) as out:
            lines = iter(src)
            while True:
                try:
                    line = next(lines)
                except StopIteration:
                    break
                except (EOFError, gzip.BadGzipFile, zlib.error) as exc:  # where the writer died
                    error = exc
                    break
                if not line.endswith(b"\n"):
                    break  # the record being written
                try:
                    json.loads(line)
                except ValueError:
                    bad += 1
                    continue
                out.write(line)
                kept += 1
        _fsync(raw)
    if not kept:
        tmp.unlink()
        if bad or (error is not None and not isinstance(error, EOFError)):
            raise SalvageError(f"{path}: no complete JSON line ({error or f'{bad} lines do not parse'})")
        logger.info("%s: no complete record (opened, never written); removed", path)
        path.unlink()
        return None
    if error is not None:
        logger.info("%s ends where its writer died (%s); keeping what was complete", path.name, error)
    if bad:
        logger.warning("%s: %d lines that do not parse left out", path, bad)
    path.unlink()
    fsync_dir(path.parent)
    os.replace(tmp, part)
    fsync_dir(part.parent)
    logger.warning("salvaged %s: %d complete records", part.name, kept)
    return part


def _finish_temp(path: Path) -> None:
    """A temporary file a crash left behind: a part's `.salvage` whose `.open` is gone is complete (see
    close_open_part) and takes its name; one whose `.open` is still there is redone; a CDXJ's is dropped
    (the CDXJ is rebuilt from its WARC)."""
    if path.name.endswith(".cdxj.open"):
        path.unlink()
        return
    final = path.with_name(path.name.removesuffix(TEMP))
    if final.with_name(final.name + ".open").exists():
        path.unlink()
    else:
        os.replace(path, final)
        fsync_dir(path.parent)
        logger.info("%s: finished the salvage a crash interrupted", final)


# --- one crawl directory, all of them ------------------------------------------------------------------
def _is_cache(name: str) -> bool:
    """A crawl's working files that mean nothing once it is dead: its digest index, the static pages it kept
    for the browser (crawler/staticpage.py)."""
    return any(name == cache or name.startswith(cache + "-") for cache in CACHES) or \
        (name.startswith(".") and name.endswith(".body"))


def _files(crawl_dir: Path) -> list[Path]:
    """Spool files, without ours (the lock, other dot files) and caches."""
    return sorted(p for p in crawl_dir.rglob("*")
                  if p.is_file() and not p.name.startswith(".") and not _is_cache(p.name))


def _report(failed: Failed | None, path: Path, why: str) -> None:
    logger.error("cannot salvage %s, left in the spool: %s", path, why)
    if failed is not None:
        failed(path, why)


def _salvage(crawl_dir: Path, failed: Failed | None) -> None:
    """Make every half-written file of `crawl_dir` whole (or report it and leave it)."""
    for path in _files(crawl_dir):
        try:
            if path.name.endswith((TEMP, ".cdxj.open")):
                _finish_temp(path)
        except OSError as exc:
            _report(failed, path, str(exc))
    for path in _files(crawl_dir):
        try:
            if path.name.endswith(".warc.gz.open") and path.stat().st_size == 0:
                # Created, and killed before its warcinfo was written: not a byte to keep. (A file with bytes
                # that are no WARC is reported and left, as it is.)
                path.unlink()
                logger.info("%s: an empty WARC (its writer died as it opened it) removed", path)
            elif path.name.endswith(".warc.gz.open"):
                close_open_warc(path)
            elif path.name.endswith(".jsonl.gz.open"):
                close_open_part(path)
        except (SalvageError, OSError) as exc:
            _report(failed, path, str(exc))


def _locked_recover(crawl_dir: Path, submit: Submit, failed: Failed | None) -> int:
    _salvage(crawl_dir, failed)
    count = 0
    for path in _files(crawl_dir):
        name = path.name
        if name.endswith((".open", TEMP)):
            continue  # reported by _salvage, or not ours to salvage
        found = [path]
        try:
            if name.endswith(".warc.gz"):
                cdxj = _cdxj_of(path)
                problem = cdxj_problem(cdxj, path.name, path.stat().st_size)
                if problem is not None:
                    logger.warning("%s: its CDXJ is %s; rebuilding it", path, problem)
                    rebuild_cdxj(path)
                found.append(cdxj)  # the WARC first: a CDXJ in the store always has its WARC
            elif name.endswith(".cdxj"):
                warc_name = name.removesuffix(".cdxj") + ".warc.gz"
                if (path.parent / warc_name).exists() or (path.parent / f"{warc_name}.open").exists():
                    continue  # goes with its WARC (one that could not be salvaged keeps it)
                problem = cdxj_problem(path, warc_name, None)
                if problem is not None:  # its WARC went to the store already: nothing to rebuild it from
                    raise SalvageError(f"{path}: {problem}, and its WARC is no longer in the spool")
        except (SalvageError, OSError) as exc:
            _report(failed, path, str(exc))
            continue
        for finished in found:
            submit(store_key(crawl_dir.name, finished.relative_to(crawl_dir)), finished)
            count += 1
    return count


def recover_crawl(crawl_dir: Path, submit: Submit, failed: Failed | None = None) -> int:
    """Salvage and submit what one crawl directory holds; returns how many files were submitted.

    For a directory whose SpoolLock the caller holds (a crawl continuing its own reused CRAWL_ID); when
    nobody holds it, it is taken for the time of the call. `failed(path, why)` hears of every file that
    cannot be salvaged (left where it is). Caches (digests.sqlite) are left alone."""
    probe = SpoolLock(crawl_dir)
    if probe.acquire():
        try:
            return _locked_recover(crawl_dir, submit, failed)
        finally:
            probe.release()
    if probe.holder() != os.getpid():
        raise SpoolLockedError(crawl_dir, probe.holder())
    return _locked_recover(crawl_dir, submit, failed)


def recover(spool_root: Path, submit: Submit, skip: str | None = None, failed: Failed | None = None,
            hold: list[SpoolLock] | None = None, only: Callable[[str], bool] = lambda name: True) -> int:
    """Submit every leftover file under `spool_root` (all crawls but `skip`, and but those whose spool is
    locked by a running process, and those `only` refuses by name); returns how many. A dead crawl's caches
    are deleted. With `hold`, the
    locks of the directories recovered are kept there (the caller releases them once its uploads are done),
    so no other process submits the same files while they are on their way to the store."""
    if not spool_root.is_dir():
        return 0
    count = 0
    for crawl_dir in sorted(p for p in spool_root.iterdir() if p.is_dir() and p.name != skip and only(p.name)):
        lock = SpoolLock(crawl_dir)
        try:
            if not lock.acquire():
                logger.info("skipping %s: in use by process %s", crawl_dir, lock.holder())
                continue
            count += _locked_recover(crawl_dir, submit, failed)
            for cache in (p for p in crawl_dir.rglob("*") if p.is_file() and _is_cache(p.name)):
                cache.unlink()
        except OSError as exc:  # an unreadable directory costs that directory, not the others
            _report(failed, crawl_dir, str(exc))
        if hold is not None and lock.held:
            hold.append(lock)
        else:
            lock.release()
    return count



def store_spooled_manifest(store: Store, key: str, path: Path, waiting: set[str]) -> bool:
    """Store a crawl's manifest that waited in the spool, saying which of its waiting files still wait.

    Call it after the files it lists were submitted and their uploads are over: a manifest must never reach
    the store ahead of its files. A listed file is no longer waiting once it left the spool (stored now, or
    by an earlier run)."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        logger.error("cannot read the spooled manifest %s: %s", path, exc)
        return False
    still = [k for k in manifest.get("waiting", []) if k != key and k in waiting]
    manifest.update(complete=not still, waiting=still)
    try:
        store.put_bytes(key, json.dumps(manifest, ensure_ascii=False, indent=2).encode())
    except StoreError as exc:
        logger.error("cannot store %s: %s", key, exc)
        return False
    path.unlink()
    return True
