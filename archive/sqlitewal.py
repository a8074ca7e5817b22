"""Opening an SQLite file in WAL mode when other processes or threads may be opening it at the same moment.

SQLite does not call its busy handler while a connection switches a new file to WAL: two crawls (or two
threads) opening one new catalog or index at once get "database is locked" at once, whatever the timeout.
The switch is retried here, with a short backoff, until the connection's own timeout has passed.
"""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def connect_wal(path: Path | str, timeout: float, *, autocommit_mode: bool = False,
                check_same_thread: bool = True) -> sqlite3.Connection:
    """`sqlite3.connect` in WAL mode (`autocommit_mode`: isolation_level None); raises `sqlite3.Error` as it does."""
    db = sqlite3.connect(path, timeout=timeout, check_same_thread=check_same_thread)
    if autocommit_mode:
        db.isolation_level = None
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return db
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() >= deadline:
                db.close()
                raise
        time.sleep(pause * (1 + random.random()))  # jitter: racing openers spread out
        pause = min(pause * 2, 0.25)
