"""What an interrupted crawl left in the spool, made whole and handed back to the uploader.

The spool mirrors the store layout (`SPOOL/CRAWL_ID/log/part-00000.jsonl.gz`, `.../warc/NAME.warc.gz` with
its `NAME.cdxj` beside it), so every finished file has one deterministic key and uploading it again is
harmless. Files still `.open` when the process died are salvaged: a WARC keeps every complete gzip member
(records are flushed one exchange at a time) and gets its CDXJ rebuilt; a JSON-lines part keeps every
complete line.
"""

from __future__ import annotations

import gzip
import json
import logging
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from archive.cdxj import INDEXED_TYPES, cdxj_line, media_type
from archive.warc import Written

logger = logging.getLogger(__name__)
CACHES = ("digests.sqlite",)


def store_key(crawl_id: str, relative: Path) -> str:
    """Where a spooled file belongs in the store."""
    if relative.suffix == ".cdxj":
        return f"crawls/{crawl_id}/cdxj/{relative.name}"
    return f"crawls/{crawl_id}/{relative.as_posix()}"


def complete_members(data: bytes) -> int:
    """Length of the prefix of `data` made of complete gzip members."""
    end = 0
    while end < len(data):
        decompressor = zlib.decompressobj(zlib.MAX_WBITS + 16)
        try:
            decompressor.decompress(data[end:])
        except zlib.error:
            break
        if not decompressor.eof:
            break
        end = len(data) - len(decompressor.unused_data)
    return end


def close_open_warc(path: Path) -> tuple[Path, Path]:
    """Keep the complete records of `NAME.warc.gz.open`, write NAME.warc.gz and its CDXJ."""
    data = path.read_bytes()
    keep = complete_members(data)
    warc = path.with_name(path.name.removesuffix(".open"))
    warc.write_bytes(data[:keep])
    path.unlink()
    lines = []
    with warc.open("rb") as fh:
        iterator = ArchiveIterator(fh)
        for record in iterator:
            record.raw_stream.read()
            if record.rec_type not in INDEXED_TYPES:
                continue
            headers = record.rec_headers
            http = record.http_headers
            mime = http.get_header("Content-Type") if http is not None else headers.get_header("Content-Type")
            status = http.get_statuscode() if http is not None else None
            date = datetime.strptime(headers.get_header("WARC-Date")[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
            written = Written(headers.get_header("WARC-Record-ID"), record.rec_type,
                              headers.get_header("WARC-Target-URI"), warc.name, iterator.get_record_offset(),
                              iterator.get_record_length(), date, headers.get_header("WARC-Payload-Digest"),
                              media_type(mime),
                              int(status) if status and status.isdigit() else None)
            lines.append(cdxj_line(written))
    cdxj = warc.with_name(warc.name.removesuffix(".warc.gz") + ".cdxj")
    cdxj.write_text("".join(line + "\n" for line in sorted(lines)), encoding="utf-8")
    logger.warning("salvaged %s: %d bytes of complete records, %d captures indexed", warc.name, keep, len(lines))
    return warc, cdxj


def close_open_part(path: Path) -> Path:
    """Keep the complete JSON lines of `part-N.jsonl.gz.open` as part-N.jsonl.gz."""
    lines: list[bytes] = []
    with gzip.open(path, "rb") as fh:
        try:
            for line in fh:
                lines.append(line)
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
            logger.info("%s ends where its writer died (%s); keeping what was complete", path.name, exc)
    good = []
    for line in lines:
        if line.endswith(b"\n"):
            try:
                json.loads(line)
            except ValueError:
                continue
            good.append(line)
    part = path.with_name(path.name.removesuffix(".open"))
    with gzip.open(part, "wb") as out:
        out.writelines(good)
    path.unlink()
    logger.warning("salvaged %s: %d complete records", part.name, len(good))
    return part


def recover(spool_root: Path, submit: Callable[[str, Path], None], skip: str | None = None) -> int:
    """Submit every leftover file under `spool_root` (all crawls but `skip`); returns how many."""
    if not spool_root.is_dir():
        return 0
    count = 0
    for crawl_dir in sorted(p for p in spool_root.iterdir() if p.is_dir() and p.name != skip):
        for path in sorted(p for p in crawl_dir.rglob("*") if p.is_file()):
            if path.name in CACHES:
                path.unlink()
                continue
            if path.name.endswith(".warc.gz.open"):
                found = list(close_open_warc(path))
            elif path.name.endswith(".jsonl.gz.open"):
                found = [close_open_part(path)]
            elif path.name.endswith(".open"):
                continue
            else:
                found = [path]
            for finished in found:
                submit(store_key(crawl_dir.name, finished.relative_to(crawl_dir)), finished)
                count += 1
    return count
