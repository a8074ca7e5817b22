"""The scheduler's memory (SQLite): every run it decided on, and how far each job's cron has been looked at.

A run is written here before its process is started, in the same transaction that moves its job's
`checked_until` past the slot: a scheduler killed at any point and started again finds each slot either
not yet looked at, or decided (pending, running, done or skipped), never both, so no slot runs twice.
`(site, kind, slot, attempt)` is unique: a retry of a failed slot is its next attempt.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from archive.sqlitewal import connect_wal

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS jobs (site TEXT NOT NULL, kind TEXT NOT NULL, checked_until TEXT NOT NULL,"
    " failures INTEGER NOT NULL DEFAULT 0, retry_at TEXT, retry_slot TEXT, retry_attempt INTEGER,"
    " PRIMARY KEY (site, kind))",
    # status: pending | starting | running | ok | failed | timeout | interrupted | killed | lost | skipped
    "CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY, site TEXT NOT NULL, kind TEXT NOT NULL,"
    " slot TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 1, reason TEXT NOT NULL, status TEXT NOT NULL,"
    " crawl_id TEXT, pid INTEGER, log_path TEXT, queued_at TEXT NOT NULL, started_at TEXT, finished_at TEXT,"
    " exit_code INTEGER, detail TEXT, log_tail TEXT, UNIQUE (site, kind, slot, attempt))",
    "CREATE INDEX IF NOT EXISTS runs_open ON runs (status) WHERE status IN ('pending', 'starting', 'running')",
)
OPEN = ("pending", "running")
DONE_OK = "ok"


def iso(when: datetime) -> str:
    """Whole seconds in UTC, one format: the text compares as the time does (SQL max() relies on it)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class JobState:
    checked_until: datetime
    failures: int
    retry_at: datetime | None
    retry_slot: str | None
    retry_attempt: int | None


@dataclass(frozen=True)
class Run:
    id: int
    site: str
    kind: str
    slot: str
    attempt: int
    reason: str
    status: str
    crawl_id: str | None
    pid: int | None
    log_path: str | None
    queued_at: str
    started_at: str | None
    finished_at: str | None
    exit_code: int | None
    detail: str | None


_RUN_COLUMNS = ("id, site, kind, slot, attempt, reason, status, crawl_id, pid, log_path, queued_at, started_at,"
                " finished_at, exit_code, detail")


class ScheduleState:
    """One scheduler's state file. Used from the scheduler's one thread; `--list` reads it beside."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = connect_wal(path, timeout=30, autocommit_mode=True)
        with self._transaction():
            for statement in SCHEMA:
                self.db.execute(statement)

    def close(self) -> None:
        self.db.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self.db)

    # --- jobs ----------------------------------------------------------------------------------------------
    def job(self, site: str, kind: str) -> JobState | None:
        row = self.db.execute("SELECT checked_until, failures, retry_at, retry_slot, retry_attempt FROM jobs"
                              " WHERE site = ? AND kind = ?", (site, kind)).fetchone()
        if row is None:
            return None
        return JobState(parse_iso(row[0]), row[1], parse_iso(row[2]) if row[2] else None, row[3], row[4])

    def init_job(self, site: str, kind: str, checked_until: datetime) -> None:
        self.db.execute("INSERT OR IGNORE INTO jobs (site, kind, checked_until) VALUES (?, ?, ?)",
                        (site, kind, iso(checked_until)))

    def set_failures(self, site: str, kind: str, failures: int, retry_at: datetime | None = None,
                     retry_slot: str | None = None, retry_attempt: int | None = None) -> None:
        self.db.execute("UPDATE jobs SET failures = ?, retry_at = ?, retry_slot = ?, retry_attempt = ?"
                        " WHERE site = ? AND kind = ?",
                        (failures, iso(retry_at) if retry_at else None, retry_slot, retry_attempt, site, kind))

    def cancel_retry(self, site: str, kind: str) -> None:
        self.db.execute("UPDATE jobs SET retry_at = NULL, retry_slot = NULL, retry_attempt = NULL"
                        " WHERE site = ? AND kind = ?", (site, kind))

    # --- runs ----------------------------------------------------------------------------------------------
    def decide(self, site: str, kind: str, slot: str, attempt: int, reason: str, status: str, now: datetime,
               checked_until: datetime | None = None, detail: str | None = None) -> int | None:
        """Record what was decided for a slot (a pending run, or a skip) and, in the same transaction, move
        the job's cron past it; None when that slot and attempt were decided before (nothing changes)."""
        with self._transaction():
            try:
                cursor = self.db.execute(
                    "INSERT INTO runs (site, kind, slot, attempt, reason, status, queued_at, detail)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (site, kind, slot, attempt, reason, status, iso(now), detail))
            except sqlite3.IntegrityError:
                found = None
            else:
                found = cursor.lastrowid
            if checked_until is not None:
                self.db.execute("UPDATE jobs SET checked_until = max(checked_until, ?) WHERE site = ? AND kind = ?",
                                (iso(checked_until), site, kind))
            if reason == "retry":
                self.db.execute("UPDATE jobs SET retry_at = NULL WHERE site = ? AND kind = ?", (site, kind))
        return found

    def advance(self, site: str, kind: str, checked_until: datetime) -> None:
        self.db.execute("UPDATE jobs SET checked_until = max(checked_until, ?) WHERE site = ? AND kind = ?",
                        (iso(checked_until), site, kind))

    def starting(self, run_id: int, crawl_id: str, log_path: str, now: datetime) -> None:
        """Written before the process is started: a scheduler dying in between finds the run by its crawl id."""
        self.db.execute("UPDATE runs SET status = 'starting', crawl_id = ?, log_path = ?, started_at = ?"
                        " WHERE id = ?", (crawl_id, log_path, iso(now), run_id))

    def requeue(self, run_id: int) -> None:
        self.db.execute("UPDATE runs SET status = 'pending', crawl_id = NULL, started_at = NULL WHERE id = ?",
                        (run_id,))

    def started(self, run_id: int, crawl_id: str, pid: int, log_path: str, now: datetime) -> None:
        self.db.execute("UPDATE runs SET status = 'running', crawl_id = ?, pid = ?, log_path = ?, started_at = ?"
                        " WHERE id = ?", (crawl_id, pid, log_path, iso(now), run_id))

    def finished(self, run_id: int, status: str, now: datetime, exit_code: int | None = None,
                 detail: str | None = None, log_tail: str | None = None) -> None:
        self.db.execute("UPDATE runs SET status = ?, finished_at = ?, exit_code = ?, detail = ?, log_tail = ?"
                        " WHERE id = ?", (status, iso(now), exit_code, detail, log_tail, run_id))

    def superseded(self, run_id: int, now: datetime, detail: str) -> None:
        self.db.execute("UPDATE runs SET status = 'skipped', finished_at = ?, detail = ? WHERE id = ?",
                        (iso(now), detail, run_id))

    def open_runs(self) -> list[Run]:
        """Runs pending or running, oldest first: what a scheduler starting up takes over."""
        rows = self.db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE status IN ('pending', 'starting', 'running')"
                               " ORDER BY id").fetchall()
        return [Run(*row) for row in rows]

    def runs(self, site: str | None = None, limit: int = 1000) -> list[Run]:
        """The newest runs first (of one site, or all)."""
        where, args = ("WHERE site = ?", (site,)) if site else ("", ())
        rows = self.db.execute(f"SELECT {_RUN_COLUMNS} FROM runs {where} ORDER BY id DESC LIMIT ?",
                               (*args, limit)).fetchall()
        return [Run(*row) for row in rows]

    def counts(self, site: str, kind: str) -> dict[str, int]:
        rows = self.db.execute("SELECT status, count(*) FROM runs WHERE site = ? AND kind = ? GROUP BY status",
                               (site, kind)).fetchall()
        return {status: count for status, count in rows}

    def crawl_ids(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT crawl_id FROM runs WHERE crawl_id IS NOT NULL")}


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (or ROLLBACK)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")
