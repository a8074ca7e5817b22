"""Payload digest -> where that payload was first archived, kept on disk so memory stays flat.

The index is a cache, rebuilt at start from the CDXJ files of earlier crawls in the same store, so it
trades durability for speed (no journal, no fsync). One row per distinct payload.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class FirstCapture:
    uri: str
    date: datetime


class DigestIndex:
    """SQLite-backed map of payload digests to their first capture."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("CREATE TABLE IF NOT EXISTS first (digest TEXT PRIMARY KEY, uri TEXT, date TEXT)")

    def get(self, digest: str) -> FirstCapture | None:
        row = self.db.execute("SELECT uri, date FROM first WHERE digest = ?", (digest,)).fetchone()
        return FirstCapture(row[0], datetime.fromisoformat(row[1])) if row else None

    def add(self, digest: str, uri: str, date: datetime) -> None:
        self.db.execute("INSERT OR IGNORE INTO first VALUES (?, ?, ?)", (digest, uri, date.isoformat()))

    def load_cdxj(self, lines: Iterable[str]) -> int:
        """Add the captures of an earlier crawl's CDXJ (revisits point elsewhere and are skipped)."""
        rows = []
        for line in lines:
            parts = line.split(" ", 2)
            if len(parts) != 3:
                continue
            fields = json.loads(parts[2])
            if fields.get("mime") == "warc/revisit" or "digest" not in fields:
                continue
            when = datetime.strptime(parts[1][:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
            rows.append((fields["digest"], fields["url"], when.isoformat()))
        self.db.executemany("INSERT OR IGNORE INTO first VALUES (?, ?, ?)", rows)
        return len(rows)

    def __len__(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM first").fetchone()[0])

    def close(self) -> None:
        self.db.close()
