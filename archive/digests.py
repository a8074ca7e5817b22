"""Payload digest -> where that payload was first archived, persistent across crawls of one store.

The index is a local cache of what the store holds (the store stays the source of truth): rows written by
our own WARC writer carry the original record's id and exact `WARC-Date`, so a revisit can name both
(WARC 1.1 `WARC-Refers-To`, `WARC-Refers-To-Date`); rows loaded from a CDXJ found in the store (another
machine's crawl, or after the cache was deleted) carry the CDXJ's 14-digit time and no record id.

Every row belongs to a *source*: the store key of the CDXJ that indexes its WARC. A source is `landed` once
that CDXJ is in the store. `sync()` (run off the reactor at crawl start) loads sources that are new in the
store, drops rows of sources that never landed (a crawl that died: its last records may not have survived
salvage, so they are reloaded from whatever CDXJ recovery stored), and drops sources the store no longer
has. Memory stays flat: everything is on disk (SQLite, WAL, so crawls sharing a store share the file).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from archive.sqlitewal import connect_wal
from archive.warc import warc_date

logger = logging.getLogger(__name__)

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS first (digest TEXT PRIMARY KEY, uri TEXT NOT NULL, date TEXT NOT NULL,"
    " record_id TEXT, source TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS first_source ON first (source)",
    "CREATE TABLE IF NOT EXISTS sources (key TEXT PRIMARY KEY, landed INTEGER NOT NULL DEFAULT 0)",
)


@dataclass(frozen=True)
class FirstCapture:
    uri: str
    date: datetime
    record_id: str | None = None
    warc_date: str | None = None  # the original's WARC-Date as written; None: only `date` (to the second) is known


def _first(uri: str, date: str, record_id: str | None) -> FirstCapture:
    """A row back: `date` is the original's WARC-Date as written (ends in Z), or an ISO date of a CDXJ
    timestamp without the original's exact date (older CDXJ, other tools': precise to the second)."""
    exact = date.endswith("Z")
    return FirstCapture(uri, datetime.fromisoformat(date.replace("Z", "+00:00")), record_id, date if exact else None)


def is_cdxj_key(key: str) -> bool:
    return key.endswith(".cdxj") and "/cdxj/" in key


class DigestIndex:
    """SQLite-backed map of payload digests to their first capture. One connection per thread."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = connect_wal(path, timeout=60, autocommit_mode=True, check_same_thread=False)
        self.db.execute("PRAGMA synchronous=NORMAL")  # a cache: losing the last commits costs re-archiving
        for statement in SCHEMA:
            self.db.execute(statement)
        self._pending: list[tuple[str, str, str, str | None, str]] = []

    def get(self, digest: str) -> FirstCapture | None:
        for row in self._pending:
            if row[0] == digest:
                return _first(row[1], row[2], row[3])
        row = self.db.execute("SELECT uri, date, record_id FROM first WHERE digest = ?", (digest,)).fetchone()
        return _first(row[0], row[1], row[2]) if row else None

    def add(self, digest: str, uri: str, date: datetime, record_id: str | None, source: str) -> None:
        """Buffered: rows are committed in batches (`flush`), one transaction each, not one per record."""
        self._pending.append((digest, uri, warc_date(date), record_id, source))
        if len(self._pending) >= 256:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR IGNORE INTO sources (key) VALUES (?)", {(r[4],) for r in rows})
            self.db.executemany("INSERT OR IGNORE INTO first VALUES (?, ?, ?, ?, ?)", rows)

    def landed(self, source: str) -> None:
        """The CDXJ `source` is in the store now: its rows are as durable as the store. Called from upload
        threads, so it uses a connection of its own (one connection is never shared by two threads)."""
        with sqlite3.connect(self.path, timeout=60) as db:
            db.execute("INSERT INTO sources (key, landed) VALUES (?, 1) ON CONFLICT(key) DO UPDATE SET landed = 1",
                       (source,))
        db.close()

    def load_cdxj(self, source: str, lines: Iterable[str]) -> int:
        """Add the captures of a CDXJ found in the store (revisits point elsewhere and are skipped)."""
        rows = []
        for line in lines:
            parts = line.split(" ", 2)
            if len(parts) != 3:
                continue
            try:
                fields = json.loads(parts[2])
                when = datetime.strptime(parts[1][:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
            except ValueError:
                continue
            if fields.get("mime") == "warc/revisit" or "digest" not in fields or "url" not in fields:
                continue
            # Our CDXJ carries the record's id and exact WARC-Date (cdxj-indexer's 14 digits lose the
            # milliseconds); a revisit needs both to name its original (WARC 1.1, 6.7.2).
            exact = fields.get("warc_date")
            date = exact if isinstance(exact, str) and exact.endswith("Z") else when.isoformat()
            record_id = fields.get("record_id") if isinstance(fields.get("record_id"), str) else None
            rows.append((fields["digest"], fields["url"], date, record_id, source))
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR IGNORE INTO first VALUES (?, ?, ?, ?, ?)", rows)
            self.db.execute("INSERT INTO sources (key, landed) VALUES (?, 1) "
                            "ON CONFLICT(key) DO UPDATE SET landed = 1", (source,))
        return len(rows)

    def sync(self, store_keys: Iterable[str], read: Callable[[str], bytes], keep: Callable[[str], bool],
             stop: Callable[[], bool] = lambda: False) -> int:
        """Bring the index in line with the store's CDXJ files; returns the captures loaded. Sources for
        which `keep(key)` is true (this crawl, or another crawl still running: written as they go) are left
        alone. `stop()` true ends the catch-up early (the crawl is closing); what was loaded stays."""
        in_store = {key for key in store_keys if is_cdxj_key(key)}
        known = dict(self.db.execute("SELECT key, landed FROM sources").fetchall())
        stale = [key for key, landed in known.items() if (not landed or key not in in_store) and not keep(key)]
        for key in stale:
            with self.db:
                self.db.execute("BEGIN")
                self.db.execute("DELETE FROM first WHERE source = ?", (key,))
                self.db.execute("DELETE FROM sources WHERE key = ?", (key,))
        loaded = 0
        for key in sorted(in_store):
            if stop():
                break
            if (known.get(key) and key not in stale) or keep(key):
                continue
            loaded += self.load_cdxj(key, read(key).decode("utf-8", "replace").splitlines())
        if stale:
            logger.info("digest index: dropped %d sources the store does not hold (or that never landed)",
                        len(stale))
        return loaded

    def __len__(self) -> int:
        self.flush()
        return int(self.db.execute("SELECT count(*) FROM first").fetchone()[0])

    def close(self) -> None:
        self.flush()
        self.db.close()
