"""Where every capture is: one SQLite index of CDXJ lines for replay and re-processing.

Replay needs every record a crawl wrote (subresources of rendered pages too, which no crawl-log entry names),
so this index is built from the CDXJ files, not from the catalog. Sources are the crawls of a store (indexed
again only when their CDXJ listing changes) and loose WARC, ARC or WACZ files (indexed by reading them, or
from the WACZ's own index). Lookups are by SURT, as pywb's: `captures(url)` in time order, `nearest(url, ts)`,
`search(prefix | domain)`.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from archive.cdxj import url_key
from archive.sqlitewal import connect_wal
from archive.store import Store

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sources (source TEXT PRIMARY KEY, kind TEXT NOT NULL, signature TEXT NOT NULL,"
    " site TEXT, started_at TEXT, finished_at TEXT, complete INTEGER, captures INTEGER NOT NULL,"
    " problems TEXT NOT NULL DEFAULT '[]')",
    "CREATE TABLE IF NOT EXISTS cdx (urlkey TEXT NOT NULL, ts TEXT NOT NULL, url TEXT NOT NULL, status INTEGER,"
    " mime TEXT, digest TEXT, source TEXT NOT NULL, filename TEXT NOT NULL, offset INTEGER NOT NULL,"
    " length INTEGER NOT NULL, verdict TEXT, reasons TEXT)",
    "CREATE INDEX IF NOT EXISTS cdx_key ON cdx (urlkey, ts)",
    "CREATE INDEX IF NOT EXISTS cdx_source ON cdx (source)",
)
COLUMNS = "urlkey, ts, url, status, mime, digest, source, filename, offset, length, verdict, reasons"
REVISIT = "warc/revisit"


class CaptureIndexError(Exception):
    """The index file cannot be used (not an index, another store's, unwritable)."""


@dataclass(frozen=True, slots=True)
class CaptureRow:
    """One CDXJ line: a capture and where its record is (`source` is a crawl id or a file path)."""

    urlkey: str
    ts: str  # 14 digits, UTC
    url: str
    status: int | None
    mime: str | None
    digest: str | None
    source: str
    filename: str
    offset: int
    length: int
    verdict: str | None = None
    reasons: str | None = None  # JSON list, as the CDXJ had it

    @property
    def is_revisit(self) -> bool:
        return self.mime == REVISIT

    @property
    def moment(self) -> datetime:
        return ts_datetime(self.ts)


@dataclass(frozen=True, slots=True)
class SourceRow:
    """A crawl or a file the index has read."""

    source: str
    kind: str  # crawl | warc | wacz
    site: str | None
    started_at: str | None
    finished_at: str | None
    complete: bool | None
    captures: int
    problems: list[str]


def ts_datetime(ts: str) -> datetime:
    """14 digits (shorter: padded with zeros) -> UTC datetime; ValueError for a date that does not exist.
    Sliced by hand: strptime was a tenth of a raw replay's CPU."""
    t = ts[:14].ljust(14, "0")
    if not t.isdigit():
        raise ValueError(f"timestamp {ts!r} is not 14 digits")
    return datetime(int(t[0:4]), int(t[4:6]), int(t[6:8]), int(t[8:10]), int(t[10:12]), int(t[12:14]), tzinfo=UTC)


def pad_ts(digits: str) -> str:
    """4 to 14 digits -> 14: the earliest second they name (`2026` is 2026-01-01 00:00:00)."""
    return digits + "0101000000"[len(digits) - 4:] if len(digits) < 14 else digits[:14]


def ts_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def nearest_of(rows: list[CaptureRow], ts: str | None) -> CaptureRow | None:
    """Of `rows` (oldest first), the one closest in time to `ts`: an exact match, else by distance, ties to
    the earlier; the latest when `ts` is None."""
    if not rows:
        return None
    if ts is None:
        return rows[-1]
    exact = next((r for r in rows if r.ts == ts), None)
    if exact is not None:
        return exact
    target = ts_datetime(ts).timestamp()
    return min(rows, key=lambda r: (abs(r.moment.timestamp() - target), r.ts))


def row_from_cdxj(line: str | bytes, source: str, filename_prefix: str = "") -> CaptureRow | None:
    """A CDXJ line -> row; None for a line that is not CDXJ (the caller counts it)."""
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    key, _, rest = text.strip().partition(" ")
    ts, _, body = rest.partition(" ")
    if not key or not ts.isdigit() or not body.startswith("{"):
        return None
    try:
        fields: dict[str, Any] = orjson.loads(body)
        offset, length = int(fields["offset"]), int(fields["length"])
        filename = str(fields["filename"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    status = str(fields.get("status") or "")
    reasons = fields.get("reasons")
    return CaptureRow(key, ts[:14].ljust(14, "0"), str(fields.get("url") or ""),
                      int(status) if status.isdigit() else None, fields.get("mime"), fields.get("digest"), source,
                      filename_prefix + filename, offset, length, fields.get("verdict"),
                      orjson.dumps(reasons).decode() if reasons is not None else None)


def _tuple(row: CaptureRow) -> tuple[Any, ...]:
    return (row.urlkey, row.ts, row.url, row.status, row.mime, row.digest, row.source, row.filename, row.offset,
            row.length, row.verdict, row.reasons)


def domain_key(host: str) -> str:
    """The SURT host part of `host` (`com,example` for www.example.com), without the `)` that ends it."""
    return url_key(f"http://{host}/").split(")", 1)[0]


def prefix_range(url: str) -> tuple[str, str]:
    """SURT key range of every URL that starts with `url` (pywb's matchType=prefix)."""
    key = url_key(url)
    return key, key + "\U0010ffff"


class CaptureIndex:
    """The SQLite index; safe to read from several threads (one connection each) while one thread updates."""

    def __init__(self, path: Path, label: str) -> None:
        self.path = path
        self.label = label  # what it indexes (a store URI or "files"): a file of another label is refused
        self._local = threading.local()
        self._write_lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        db = self._db()
        with db:
            for statement in _SCHEMA:
                db.execute(statement)
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if meta and (meta.get("label") != label or meta.get("schema") != str(SCHEMA_VERSION)):
                if meta.get("label") != label:
                    raise CaptureIndexError(f"{path} indexes {meta.get('label')}, not {label}: set REPLAY_INDEX to "
                                      "another file (each store has its own index)")
                db.execute("DELETE FROM cdx")
                db.execute("DELETE FROM sources")
            db.execute("INSERT OR REPLACE INTO meta VALUES ('label', ?), ('schema', ?)", (label, str(SCHEMA_VERSION)))

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            try:
                db = connect_wal(self.path, timeout=30, check_same_thread=False)
                db.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.DatabaseError as exc:
                raise CaptureIndexError(f"cannot open the capture index {self.path}: {exc} (REPLAY_INDEX)") from exc
            self._local.db = db
        return db

    # --- writing -----------------------------------------------------------------------------------------

    def signature(self, source: str) -> str | None:
        found = self._db().execute("SELECT signature FROM sources WHERE source = ?", (source,)).fetchone()
        return str(found[0]) if found else None

    def replace_source(self, source: SourceRow, signature: str, rows: Iterable[CaptureRow]) -> int:
        """Drop what `source` had and index `rows` instead, in one transaction: readers see old or new."""
        with self._write_lock:
            db = self._db()
            with db:
                db.execute("DELETE FROM cdx WHERE source = ?", (source.source,))
                count = 0
                batch: list[tuple[Any, ...]] = []
                for row in rows:
                    batch.append(_tuple(row))
                    if len(batch) >= 5000:
                        db.executemany(f"INSERT INTO cdx ({COLUMNS}) VALUES ({', '.join('?' * 12)})", batch)
                        count += len(batch)
                        batch.clear()
                db.executemany(f"INSERT INTO cdx ({COLUMNS}) VALUES ({', '.join('?' * 12)})", batch)
                count += len(batch)
                db.execute("INSERT OR REPLACE INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           (source.source, source.kind, signature, source.site, source.started_at,
                            source.finished_at, None if source.complete is None else int(source.complete), count,
                            orjson.dumps(source.problems).decode()))
        return count

    def drop_sources(self, keep: set[str], kind: str) -> list[str]:
        """Forget sources of `kind` not in `keep` (crawls deleted from the store)."""
        with self._write_lock:
            db = self._db()
            gone = [s for (s,) in db.execute("SELECT source FROM sources WHERE kind = ?", (kind,)) if s not in keep]
            with db:
                for source in gone:
                    db.execute("DELETE FROM cdx WHERE source = ?", (source,))
                    db.execute("DELETE FROM sources WHERE source = ?", (source,))
        return gone

    # --- reading -----------------------------------------------------------------------------------------

    def sources(self) -> list[SourceRow]:
        rows = self._db().execute(
            "SELECT source, kind, site, started_at, finished_at, complete, captures, problems FROM sources"
            " ORDER BY started_at DESC, source").fetchall()
        return [SourceRow(s, k, site, start, end, None if c is None else bool(c), n, orjson.loads(p))
                for s, k, site, start, end, c, n, p in rows]

    def _rows(self, sql: str, args: tuple[Any, ...]) -> list[CaptureRow]:
        return [CaptureRow(*found) for found in self._db().execute(f"SELECT {COLUMNS} FROM cdx {sql}", args)]

    def captures(self, url: str) -> list[CaptureRow]:
        """Every capture of `url` (by SURT: scheme, `www.` and query order do not matter), oldest first."""
        return self._rows("WHERE urlkey = ? ORDER BY ts, source, offset", (url_key(url),))

    def mementos(self, url: str) -> list[CaptureRow]:
        """The captures that are the URL's own responses (not urn: records), as TimeMaps list them."""
        return [row for row in self.captures(url) if row.status is not None or row.mime == REVISIT]

    def nearest(self, url: str, ts: str | None, source: str | None = None) -> CaptureRow | None:
        """The capture closest in time to `ts` (the latest when None); ties go to the earlier one."""
        return nearest_of([r for r in self.mementos(url) if source is None or r.source == source], ts)

    def original(self, url: str, digest: str, before: str | None = None) -> CaptureRow | None:
        """The capture a revisit points to: same URL and payload digest, not itself a revisit."""
        rows = [r for r in self.captures(url) if r.digest == digest and not r.is_revisit]
        if before is not None:
            earlier = [r for r in rows if r.ts <= before]
            rows = earlier or rows
        return rows[-1] if rows else None

    def search(self, query: str, match: str = "exact", limit: int = 1000) -> list[CaptureRow]:
        """Captures of one URL (`exact`), of URLs under it (`prefix`) or of a host and its subdomains
        (`domain`), in SURT then time order."""
        if match == "exact":
            return self.captures(query)[:limit]
        if match == "prefix":
            low, high = prefix_range(query)
        elif match == "domain":
            # the host itself (`base)`), any port of it (`base:`) and its subdomains (`base,`)
            base = domain_key(query.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0])
            ranges = " OR ".join("(urlkey >= ? AND urlkey < ?)" for _ in "),:")
            args = tuple(x for ch in "),:" for x in (base + ch, base + chr(ord(ch) + 1)))
            return self._rows(f"WHERE {ranges} ORDER BY urlkey, ts LIMIT ?", (*args, limit))
        else:
            raise ValueError(f"match must be exact, prefix or domain, not {match!r}")
        return self._rows("WHERE urlkey >= ? AND urlkey < ? ORDER BY urlkey, ts LIMIT ?", (low, high, limit))

    def of_source(self, source: str, limit: int = 1_000_000) -> list[CaptureRow]:
        """Every capture one crawl or file holds, in file order."""
        return self._rows("WHERE source = ? ORDER BY filename, offset LIMIT ?", (source, limit))

    def pages(self, source: str, limit: int = 5000) -> list[CaptureRow]:
        """A crawl's HTML pages answered 200, in URL order: what a person browses it by."""
        return self._rows("WHERE source = ? AND status = 200 AND mime IN ('text/html', 'application/xhtml+xml')"
                          " ORDER BY urlkey, ts LIMIT ?", (source, limit))

    def count(self) -> int:
        return int(self._db().execute("SELECT count(*) FROM cdx").fetchone()[0])

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


def store_signature(listing: Iterable[tuple[str, int]]) -> str:
    digest = hashlib.sha1()
    for key, size in listing:
        digest.update(f"{key}\0{size}\n".encode())
    return digest.hexdigest()


def crawl_ids(store: Store) -> Iterator[str]:
    return store.children("crawls")
