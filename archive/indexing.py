"""Filling the capture index: the crawls of a store (from their CDXJ) and loose WARC, ARC or WACZ files.

A store crawl is indexed again only when the listing of its `cdxj/`, `warc/` and `crawl.json` changes, so a
replay server refreshing every minute reads nothing for finished crawls. A loose WARC or ARC has no index of
its own: it is read once, record by record, with warcio (offsets and lengths as cdxj-indexer gives them);
a WACZ brings its own `indexes/`. A broken file costs its unreadable part, noted in the source's problems.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import logging
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from archive.captureindex import CaptureIndex, CaptureRow, SourceRow, pad_ts, row_from_cdxj, store_signature
from archive.cdxj import INDEXED_TYPES, media_type, url_key
from archive.reader import wacz_member_offset
from archive.store import Store
from crawler.errors import StoreError

logger = logging.getLogger(__name__)

WARC_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")


@dataclass
class IndexUpdate:
    """What one update did: sources read again, left as they were, forgotten; problems met."""

    indexed: list[str] = field(default_factory=list)
    unchanged: int = 0
    dropped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def update_from_store(index: CaptureIndex, store: Store) -> IndexUpdate:
    """Index every crawl of `store` whose files changed since the last update; forget deleted crawls."""
    update = IndexUpdate()
    seen: set[str] = set()
    for crawl_id in store.children("crawls"):
        seen.add(crawl_id)
        try:
            listing = [(k, s) for k, s in store.listing(f"crawls/{crawl_id}/")
                       if k.split("/")[2:3] in (["cdxj"], ["warc"]) or k.endswith("/crawl.json")]
        except StoreError as exc:
            update.problems.append(f"crawls/{crawl_id}: cannot list: {exc}")
            continue
        signature = store_signature(listing)
        if index.signature(crawl_id) == signature:
            update.unchanged += 1
            continue
        source, rows = _crawl_rows(store, crawl_id, listing)
        index.replace_source(source, signature, rows)
        update.indexed.append(crawl_id)
        update.problems.extend(source.problems)
    update.dropped = index.drop_sources(seen, "crawl")
    return update


def _crawl_rows(store: Store, crawl_id: str, listing: list[tuple[str, int]]) -> tuple[SourceRow, list[CaptureRow]]:
    manifest: dict[str, Any] = {}
    problems: list[str] = []
    if any(k.endswith("/crawl.json") for k, _ in listing):
        try:
            manifest = json.loads(store.get_bytes(f"crawls/{crawl_id}/crawl.json"))
        except (StoreError, ValueError) as exc:
            problems.append(f"crawls/{crawl_id}/crawl.json: unreadable ({exc})")
    warcs = {k.rsplit("/", 1)[-1]: size for k, size in listing if k.split("/")[2] == "warc"}
    rows: list[CaptureRow] = []
    for key, _ in listing:
        if key.split("/")[2] != "cdxj" or not key.endswith(".cdxj"):
            continue
        try:
            data = store.get_bytes(key)
        except StoreError as exc:
            problems.append(f"{key}: cannot read: {exc}")
            continue
        rows.extend(_cdxj_rows(key, data, crawl_id, warcs, problems))
    source = SourceRow(crawl_id, "crawl", manifest.get("site") or crawl_id.rsplit("-", 1)[0],
                       manifest.get("started_at"), manifest.get("finished_at"),
                       manifest.get("complete") if manifest else None, len(rows), problems)
    return source, rows


def _cdxj_rows(key: str, data: bytes, source: str, warcs: dict[str, int], problems: list[str],
               prefix: str = "") -> Iterator[CaptureRow]:
    """The lines of one CDXJ. A line that points outside its WARC (or at a WARC the store lacks) is indexed
    all the same, and reported: the capture was archived, and a replay of it must say its record cannot be
    read (a 502 naming file and offset), not that the URL was never archived."""
    bad = outside = 0
    for line in data.splitlines():
        if not line.strip() or line.startswith(b"!"):
            continue
        row = row_from_cdxj(line, source, prefix)
        if row is None:
            bad += 1
            continue
        size = warcs.get(row.filename.removeprefix(prefix))
        if size is None or row.offset + row.length > size:
            outside += 1
        yield row
    if bad:
        problems.append(f"{key}: {bad} lines are not CDXJ; skipped")
    if outside:
        problems.append(f"{key}: {outside} lines point outside their WARC (or at a WARC not there); their "
                        "captures cannot be read")


def index_files(index: CaptureIndex, paths: list[Path]) -> IndexUpdate:
    """Index loose WARC / ARC / WACZ files (each its own source, named by its absolute path)."""
    update = IndexUpdate()
    for given in paths:
        path = given.resolve()
        try:
            stat = path.stat()
        except OSError as exc:
            update.problems.append(f"{path}: {exc}")
            continue
        signature = f"{stat.st_size}:{stat.st_mtime_ns}"
        if index.signature(str(path)) == signature:
            update.unchanged += 1
            continue
        problems: list[str] = []
        if path.name.endswith(".wacz"):
            rows = list(_wacz_rows(path, problems))
            kind = "wacz"
        else:
            rows = list(warc_rows(path, str(path), problems))
            kind = "warc"
        source = SourceRow(str(path), kind, None, min((r.ts for r in rows), default=None),
                           max((r.ts for r in rows), default=None), True, len(rows), problems)
        index.replace_source(source, signature, rows)
        update.indexed.append(str(path))
        update.problems.extend(problems)
    return update


def warc_rows(path: Path, source: str, problems: list[str]) -> Iterator[CaptureRow]:
    """Index a WARC or ARC file by reading it: one row per capture record, as cdxj-indexer would."""
    try:
        fh = path.open("rb")
    except OSError as exc:
        problems.append(f"{path.name}: cannot open: {exc}")
        return
    with fh:
        yield from _stream_rows(fh, source, path.name, problems)


def _stream_rows(fh: Any, source: str, filename: str, problems: list[str], base: int = 0) -> Iterator[CaptureRow]:
    iterator = ArchiveIterator(fh, arc2warc=True)
    records = iter(iterator)
    good = 0  # where the last readable record began
    while True:
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                record = next(records)
                iterator.read_to_end(record)
                offset, length = iterator.get_record_offset(), iterator.get_record_length()
        except StopIteration:
            return
        except (ArchiveLoadFailed, ValueError, OSError, EOFError, zlib.error) as exc:
            why = " ".join(str(exc).split())[:200]
            problems.append(f"{filename}: unreadable after offset {good} ({type(exc).__name__}: {why})")
            return
        good = offset
        if record.rec_type not in INDEXED_TYPES:
            continue
        row = _record_row(record, source, filename, base + offset, length)
        if row is not None:
            yield row


def _record_row(record: Any, source: str, filename: str, offset: int, length: int) -> CaptureRow | None:
    headers = record.rec_headers
    url = str(headers.get_header("WARC-Target-URI") or "").strip("<>")
    ts = warc_ts(headers.get_header("WARC-Date") or "")
    if not url or ts is None:
        return None
    http = record.http_headers if record.rec_type in ("response", "revisit") else None
    code = http.get_statuscode() if http is not None else ""
    if record.rec_type == "revisit":
        mime: str | None = "warc/revisit"
    else:
        content_type = http.get_header("Content-Type") if http is not None else headers.get_header("Content-Type")
        mime = media_type(content_type)
    return CaptureRow(url_key(url), ts, url, int(code) if code and code.isdigit() else None, mime,
                      headers.get_header("WARC-Payload-Digest"), source, filename, offset, length)


def warc_ts(value: str) -> str | None:
    """A WARC-Date (ISO 8601, any precision; some writers cut it short) -> 14 digits, or None."""
    digits = "".join(ch for ch in value.split(".", 1)[0] if ch.isdigit())
    if len(digits) < 4:
        return None
    return pad_ts(digits)


def wacz_members(path: Path) -> dict[str, tuple[int, int]]:
    """name -> (data offset in the zip file, size) of each stored member under archive/."""
    with zipfile.ZipFile(path) as zf:
        names = [i.filename for i in zf.infolist()
                 if i.filename.startswith("archive/") and i.compress_type == zipfile.ZIP_STORED]
    return {name: wacz_member_offset(path, name) for name in names}


def _wacz_rows(path: Path, problems: list[str]) -> Iterator[CaptureRow]:
    """A WACZ's own CDXJ (plain or compressed), its `filename`s made `archive/NAME` members of the zip."""
    try:
        members = wacz_members(path)
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            plain = [n for n in names if n.startswith("indexes/") and n.endswith((".cdx", ".cdxj"))]
            packed = [n for n in names if n.startswith("indexes/") and n.endswith(".cdx.gz")]
            blobs = [zf.read(n) for n in plain] + [gzip.decompress(zf.read(n)) for n in packed]
    except (OSError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
        problems.append(f"{path.name}: not a readable WACZ ({exc})")
        return
    sizes = {name.removeprefix("archive/"): size for name, (_, size) in members.items()}
    for blob in blobs:
        yield from _cdxj_rows(path.name, blob, str(path), sizes, problems, prefix="archive/")
