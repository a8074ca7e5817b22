"""Reading one part of a stored crawl (a crawl log, items or a CDXJ part): pure functions of its bytes, run
in the catalog's worker processes, each writing what it read into an SQLite file of its own.

Bounded and isolated: a part cut or corrupt midway gives the lines before the fault; a line that is not
JSON, or holds values SQLite cannot take, is counted and reported with the part's key, never fatal.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from hashlib import sha1
from typing import Any

import orjson

MAX_PART_PROBLEMS = 3  # bad lines reported per part (then counted): one broken part must not flood the report
# A capture row of the catalog, and the item columns merged into it (archive/catalog.py).
CAPTURE_COLUMNS = ("site", "url", "fetched_at", "crawl_id", "seq", "final_url", "kind", "status", "verdict",
                   "reasons", "score", "title", "content_digest", "simhash", "warc_filename", "warc_offset",
                   "warc_length", "record_id", "redirects", "error")
ITEM_COLUMNS = ("i_title", "i_authors", "i_published", "i_modified", "i_section", "i_text", "i_simhash",
                "i_canonical_url", "i_duplicate_of")
# A worker writes what one part gave into an SQLite file of its own (these tables); the catalog copies the
# files into per-crawl staging tables and writes the crawl's rows from them with one INSERT ... SELECT (items
# joined, rows sorted by URL): no row crosses a process boundary or the Python-SQLite boundary in the writer.
PART_TABLES = {
    "log": f"CREATE TABLE log ({', '.join(CAPTURE_COLUMNS)})",
    "items": f"CREATE TABLE items (url TEXT PRIMARY KEY, {', '.join(ITEM_COLUMNS)})",
    "texts": "CREATE TABLE texts (hash TEXT PRIMARY KEY, body BLOB)",
    "cdxj": "CREATE TABLE cdxj (filename TEXT, offset INTEGER, PRIMARY KEY (filename, offset)) WITHOUT ROWID",
}


@dataclass
class PartRows:
    """The rows one part gave, and what was wrong with it."""

    key: str
    captures: list[tuple[Any, ...]] = field(default_factory=list)
    items: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)  # (item URL, ITEM_COLUMNS)
    texts: list[tuple[str, bytes]] = field(default_factory=list)
    pointers: set[tuple[str, int]] = field(default_factory=set)  # CDXJ records, (filename, offset)
    problems: list[str] = field(default_factory=list)


@dataclass
class PartFile:
    """Where a worker wrote what one part gave (None: nothing), and what was wrong with the part."""

    key: str
    path: str | None
    problems: list[str] = field(default_factory=list)
    unread: bool = False  # the store failed to give it (not a fault of the part): worth another try


# --- reading parts: pure functions of the bytes, so they can run in worker processes ----------------------

GUNZIP_CHUNK = 1 << 20  # compressed bytes per step: a fault loses at most the lines of its last step


def gunzip(data: bytes) -> tuple[bytes, str | None]:
    """A gzip file's bytes (every member), and what was wrong with it: cut or corrupt midway, what came before
    the fault is kept. zlib in steps, not GzipFile.readline (a third of a catalog build went to it)."""
    out: list[bytes] = []
    view, pos = memoryview(data), 0
    while pos < len(view) and any(view[pos:pos + 64]):  # zeros after the last member are padding, not a member
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        while pos < len(view) and not inflater.eof:
            step = view[pos:pos + GUNZIP_CHUNK]
            try:
                out.append(inflater.decompress(step))
            except zlib.error as exc:
                return b"".join(out), f"zlib.error: {exc}"
            pos += len(step) - len(inflater.unused_data)  # a member that ends inside the step leaves the rest
        if not inflater.eof:
            out.append(inflater.flush())
            return b"".join(out), "EOFError: the gzip stream ends before its end marker"
    return b"".join(out), None


def _lines(key: str, data: bytes, problems: list[str]) -> Iterator[bytes]:
    """The lines of a gzip part; a part cut or corrupt midway yields the whole lines before the fault."""
    text, fault = gunzip(data)
    lines = text.split(b"\n")
    if fault is not None:
        problems.append(f"{key}: not a whole gzip file ({fault}); the lines before the fault were read")
        lines = lines[:-1]  # the line the fault cut
    yield from (line for line in lines if line)


def loads(line: bytes) -> Any:
    """orjson (a third of json's time, which is most of a catalog build), and json for what orjson refuses
    that json reads (NaN, Infinity)."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _records(key: str, data: bytes, problems: list[str]) -> Iterator[dict[str, Any]]:
    bad = 0
    for number, line in enumerate(_lines(key, data, problems), 1):
        try:
            record = loads(line)
        except ValueError as exc:
            record = None
            message = f"line {number}: not JSON ({exc})"
        else:
            message = f"line {number}: not a JSON object"
        if isinstance(record, dict):
            yield record
            continue
        bad += 1
        if bad <= MAX_PART_PROBLEMS:
            problems.append(f"{key}: {message}; skipped")
    if bad > MAX_PART_PROBLEMS:
        problems.append(f"{key}: {bad - MAX_PART_PROBLEMS} more lines skipped")


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _part_number(key: str) -> int:
    digits = "".join(ch for ch in key.rsplit("/", 1)[-1] if ch.isdigit())
    return int(digits) if digits else 0


def parse_log_part(crawl_id: str, key: str, data: bytes, site: str = "") -> PartRows:
    """Crawl-log entries -> capture rows (CAPTURE_COLUMNS). An entry without a URL or a time is no capture:
    skipped, reported. `seq` (part number, line) keeps two entries of one URL in one second apart."""
    out = PartRows(key)
    dumps = _dumps
    skipped = 0
    base = _part_number(key) << 32
    for n, e in enumerate(_records(key, data, out.problems)):
        url, fetched = e.get("url"), e.get("fetched_at")
        if not isinstance(url, str) or not isinstance(fetched, str):
            skipped += 1
            continue
        warc = e["warc"] if isinstance(e.get("warc"), dict) else {}
        reasons, redirects, final = e.get("reasons"), e.get("redirects"), e.get("final_url")
        codes = "\n".join(map(str, reasons)) if isinstance(reasons, list) and reasons else None
        out.captures.append((
            e.get("site") or site, url, fetched, e.get("crawl_id") or crawl_id, base + n,
            None if final == url else final, e.get("kind"), _int(e.get("status")), e.get("verdict"), codes,
            e.get("score"), e.get("title"), e.get("content_digest"), e.get("simhash"), warc.get("filename"),
            _int(warc.get("offset")), _int(warc.get("length")), warc.get("record_id"),
            dumps(redirects) if redirects else None, e.get("error"),
        ))
    if skipped:
        out.problems.append(f"{key}: {skipped} entries without url or fetched_at skipped")
    return out


def text_key(text: str) -> str:
    """How an item names its text: `content_digest` (sha1 of the text, base32) when it has one."""
    return "sha1:" + sha1(text.encode()).hexdigest()


_SESSION: list[Any] = [None, set()]  # (update session, text keys this process already returned in it)


def parse_item_part(crawl_id: str, key: str, data: bytes, session: str | None = None) -> PartRows:
    """Article items -> item rows, and each distinct text once.

    Most texts repeat crawl after crawl (an unchanged story); within one update `session` a process returns a
    text only the first time it meets it, so it is compressed (zlib: the catalog keeps every version of every
    story) once per worker, not once per crawl."""
    out = PartRows(key)
    dumps = _dumps
    if session is None or _SESSION[0] != session:
        _SESSION[:] = [session, set()]
    seen: set[str] = _SESSION[1]
    for i in _records(key, data, out.problems):
        url = i.get("url")
        if not isinstance(url, str):
            continue
        text = i["text"] if isinstance(i.get("text"), str) else ""
        digest = str(i.get("content_digest") or "") or (text_key(text) if text else None)
        if text and digest and digest not in seen:
            seen.add(digest)
            out.texts.append((digest, zlib.compress(text.encode(), 1)))
        authors, canonical = i.get("authors"), i.get("canonical_url")
        out.items.append((url, (
            i.get("title"), dumps(authors) if authors else None, i.get("published"),
            i.get("modified"), i.get("section"), digest, i.get("simhash"), None if canonical == url else canonical,
            i.get("duplicate_of"),
        )))
    return out


_CDXJ_FIELD = re.compile(rb'"(offset|length|filename)":\s*"?([^",}]*)')


def _cdxj_fields(line: bytes) -> tuple[str, int, int] | None:
    """filename, offset and length of a CDXJ line. Three fields of a JSON object, read by a regex (a third of
    json.loads' time, on a million lines); a line it cannot read is parsed as JSON before it is called bad."""
    fields = dict(_CDXJ_FIELD.findall(line.partition(b" {")[2]))
    try:
        if len(fields) == 3 and b"\\" not in fields[b"filename"]:
            return fields[b"filename"].decode(), int(fields[b"offset"]), int(fields[b"length"])
        parsed = json.loads(b"{" + line.partition(b" {")[2])
        return str(parsed["filename"]), int(parsed["offset"]), int(parsed["length"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


def parse_cdxj(key: str, data: bytes, warc_size: int | None) -> PartRows:
    """A CDXJ -> the records it lists; lines naming another WARC or reaching past its end are reported."""
    out = PartRows(key)
    stem = key.rsplit("/", 1)[-1].removesuffix(".cdxj")
    outside = foreign = bad = 0
    for line in data.splitlines():
        found = _cdxj_fields(line)
        if found is None:
            bad += 1
            continue
        filename, offset, length = found
        if filename.removesuffix(".warc.gz").removesuffix(".warc") != stem:
            foreign += 1
        if warc_size is not None and offset + length > warc_size:
            outside += 1
        out.pointers.add((filename, offset))
    if bad:
        out.problems.append(f"{key}: {bad} lines are not CDXJ; skipped")
    if foreign:
        out.problems.append(f"{key}: {foreign} lines name another WARC than {stem}")
    if outside:
        out.problems.append(f"{key} does not match its WARC: {outside} records reach past the WARC's end "
                            f"({warc_size} bytes)")
    return out


def _parse(kind: str, crawl_id: str, key: str, data: bytes, warc_size: int | None, session: str,
           site: str) -> PartRows:
    if kind == "log":
        return parse_log_part(crawl_id, key, data, site)
    if kind == "items":
        return parse_item_part(crawl_id, key, data, session)
    return parse_cdxj(key, data, warc_size)


_BIND_FAILURES = (sqlite3.Error, OverflowError, UnicodeEncodeError, ValueError, TypeError)


def _bindable(value: Any) -> Any:
    """A value SQLite takes: a number too big, a list where a string was due, a lone surrogate become text."""
    if value is None or isinstance(value, float | bytes) or (isinstance(value, int) and -(2**63) <= value < 2**63):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode()
    return json.dumps(value, ensure_ascii=False, default=str).encode("utf-8", "replace").decode()


def _insert(db: sqlite3.Connection, statement: str, rows: list[tuple[Any, ...]], key: str,
            problems: list[str]) -> None:
    """All rows at once; when one will not bind (a malformed entry from another tool), row by row with the
    bad values made bindable, and the part says how many it had to change."""
    db.execute("SAVEPOINT batch")
    try:
        db.executemany(statement, rows)
        db.execute("RELEASE batch")
        return
    except _BIND_FAILURES:
        db.execute("ROLLBACK TO batch")  # the rows before the bad one went in: out again
        db.execute("RELEASE batch")
    fixed = 0
    for row in rows:
        try:
            db.execute(statement, row)
        except _BIND_FAILURES:
            db.execute(statement, tuple(_bindable(v) for v in row))
            fixed += 1
    problems.append(f"{key}: {fixed} records had values of the wrong type (a list for a title, a number past "
                    "64 bits, a lone surrogate): kept as text")


def parse_to_file(kind: str, crawl_id: str, key: str, data: bytes, warc_size: int | None, session: str, site: str,
                  workdir: str) -> PartFile:
    """Parse one part (in a worker process) into an SQLite file of its own in `workdir`: scratch, no journal."""
    rows = _parse(kind, crawl_id, key, data, warc_size, session, site)
    if not (rows.captures or rows.items or rows.pointers):
        return PartFile(key, None, rows.problems)
    fd, path = tempfile.mkstemp(suffix=".sqlite", dir=workdir)
    os.close(fd)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("BEGIN")
        if kind == "log":
            db.execute(PART_TABLES["log"])
            _insert(db, f"INSERT INTO log VALUES ({', '.join('?' * len(CAPTURE_COLUMNS))})", rows.captures,
                    key, rows.problems)
        elif kind == "items":
            db.execute(PART_TABLES["items"])
            db.execute(PART_TABLES["texts"])
            _insert(db, f"INSERT OR IGNORE INTO items VALUES ({', '.join('?' * (1 + len(ITEM_COLUMNS)))})",
                    [(url, *fields) for url, fields in rows.items], key, rows.problems)
            _insert(db, "INSERT OR IGNORE INTO texts VALUES (?, ?)", rows.texts, key, rows.problems)
        else:
            db.execute(PART_TABLES["cdxj"])
            db.executemany("INSERT OR IGNORE INTO cdxj VALUES (?, ?)", rows.pointers)
        db.execute("COMMIT")
    finally:
        db.close()
    return PartFile(key, path, rows.problems)
