"""The catalog: every capture of every URL across the crawls of one store, in SQLite, for audits and rechecks.

The store stays the source of truth. The catalog is a local cache built from the store alone (manifests,
crawl logs, items, CDXJ): delete it and `scrapy catalog` rebuilds it. An update indexes only crawls it
has not indexed yet, and those that changed since (a crawl without `crawl.json` is `partial`, one whose
manifest says files are still waiting is `incomplete`: both are looked at again on every update, so a
running or repaired crawl is never mistaken for a finished one). Nothing in the store is ever written.

Reading is bounded per part and isolated: a part that is missing, does not match the manifest's sha256, is
not gzip or holds lines that are not JSON costs its own rows (what could be read before the fault is kept)
and is reported with its key; a CDXJ whose records fall outside its WARC, or a crawl log pointing at
records no CDXJ lists, is reported too. Parsing runs in worker processes (`workers`), SQLite in the caller.

SQLite in WAL mode with a busy timeout: several crawls of one store (the scheduler's) may update one
catalog at the same time; each crawl is indexed in one transaction, so a reader sees all of it or none.
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import sqlite3
import tempfile
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any

from archive.catalogparts import CAPTURE_COLUMNS, ITEM_COLUMNS, PART_TABLES, PartFile, parse_to_file
from archive.sqlitewal import connect_wal
from archive.store import Store
from crawler.errors import StoreError

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 4
MARKER = "palimpsest-catalog"
PART_DIRS = ("log", "items")
READ_AHEAD = 4  # parts of a crawl fetched and parsed ahead of the one being written (a thread each)


SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # state: complete | incomplete (manifest lists files still waiting) | partial (no crawl.json)
    # first_row..last_row: the crawl's captures, a run of rowids sorted by URL (see captures).
    "CREATE TABLE crawls (crawl_id TEXT PRIMARY KEY, site TEXT, spider TEXT, started_at TEXT, finished_at TEXT,"
    " state TEXT NOT NULL, signature TEXT NOT NULL, captures INTEGER NOT NULL, items INTEGER NOT NULL,"
    " problems TEXT NOT NULL, indexed_at TEXT NOT NULL, first_row INTEGER, last_row INTEGER, last_fetch TEXT)",
    # One row per crawl-log entry, with the article item its final URL gave in the same crawl (i_* columns,
    # NULL when none); final_url is NULL when it is the URL. Each crawl's rows are one run of rowids in URL
    # order, written once (appending is cheap, whatever the table's size): an audit merges the runs of a
    # site's crawls, each read in sequence, instead of looking rows up one by one in an index.
    # id: the rowid, declared so that VACUUM keeps it (the crawls' runs are ranges of it).
    "CREATE TABLE captures (id INTEGER PRIMARY KEY, site TEXT NOT NULL, url TEXT NOT NULL,"
    " fetched_at TEXT NOT NULL, crawl_id TEXT NOT NULL,"
    " seq INTEGER NOT NULL, final_url TEXT, kind TEXT, status INTEGER, verdict TEXT,"
    " reasons TEXT /* one per line */, score REAL, title TEXT, content_digest TEXT, simhash TEXT,"
    " warc_filename TEXT, warc_offset INTEGER, warc_length INTEGER, record_id TEXT, redirects TEXT, error TEXT,"
    " i_title TEXT, i_authors TEXT, i_published TEXT, i_modified TEXT, i_section TEXT, i_text TEXT,"
    " i_simhash TEXT, i_canonical_url TEXT, i_duplicate_of TEXT)",
    "CREATE TABLE texts (hash TEXT PRIMARY KEY, body BLOB NOT NULL)",
)
_L = ", ".join(f"l.{c}" for c in CAPTURE_COLUMNS)
_I = ", ".join(f"i.{c}" for c in ITEM_COLUMNS)
WRITE_CRAWL = (f"INSERT INTO main.captures ({', '.join((*CAPTURE_COLUMNS, *ITEM_COLUMNS))}) SELECT {_L}, {_I}"
               " FROM temp.log_stage l LEFT JOIN temp.items_stage i"
               " ON i.url = COALESCE(l.final_url, l.url) ORDER BY l.site, l.url, l.fetched_at, l.seq")
# What article_history gives per capture, in this order (archive/audit.py reads it by position).
HISTORY = (
    "SELECT url, crawl_id, fetched_at, status, verdict, reasons, COALESCE(final_url, url), kind, warc_filename,"
    " warc_offset, warc_length, record_id, redirects, error, title, i_title, i_authors, i_published, i_modified,"
    " i_section, i_text, i_simhash, i_canonical_url FROM captures"
    " WHERE id BETWEEN ? AND ? AND crawl_id = ? AND site = ? AND kind IN ('article', 'recheck')")


class CatalogError(StoreError):
    """The catalog file cannot be used (not a catalog, another store's): names the file and what to do."""


@dataclass
class CrawlInfo:
    """One crawl as the catalog knows it."""

    crawl_id: str
    site: str | None
    spider: str | None
    started_at: str | None
    finished_at: str | None
    state: str
    captures: int
    items: int
    problems: list[str]
    last_fetch: str | None = None  # its last capture: where `--to CRAWL_ID` ends when it has no finished_at


@dataclass
class CatalogUpdate:
    """What one update did."""

    crawls_indexed: list[str] = field(default_factory=list)
    crawls_removed: list[str] = field(default_factory=list)
    captures: int = 0
    items: int = 0
    problems: list[str] = field(default_factory=list)  # "crawl id: what is wrong", this update's only
    rebuilt: str | None = None  # why the catalog was started over, when it was
    seconds: float = 0.0


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the catalog ------------------------------------------------------------------------------------------

@dataclass
class _Plan:
    """What the store holds for one crawl, before it is read."""

    crawl_id: str
    keys: list[str]
    sizes: dict[str, int]
    manifest: dict[str, Any] | None
    signature: str
    problems: list[str] = field(default_factory=list)


class Catalog:
    """The capture history of one store. `workers` processes parse parts (0: in this process)."""

    def __init__(self, path: Path, store: Store, workers: int = 0, readonly: bool = False) -> None:
        self.path, self.store, self.workers = path, store, workers
        self.rebuilt: str | None = None
        self._session = ""
        self._workdir = ""  # where workers write the part files of this update
        self._last_fetch: str | None = None
        self.db = self._open_readonly() if readonly else self._open()

    @classmethod
    def reader(cls, path: Path, store: Store) -> Catalog:
        """The catalog at `path` for reading only: never created, rebuilt or updated (a crawl reading what
        earlier crawls learned); CatalogError when it is missing, another store's or another version's."""
        return cls(path, store, readonly=True)

    # schema and file ------------------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # A long busy timeout: another crawl's update may be indexing a big crawl in its one transaction.
            db = connect_wal(self.path, timeout=600, autocommit_mode=True, check_same_thread=False)
        except sqlite3.DatabaseError as exc:
            if getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB":
                raise CatalogError(f"{self.path} is not a catalog ({exc}): delete it, or set AUDIT_CATALOG to "
                                   "another file") from exc
            raise CatalogError(f"cannot open the catalog {self.path}: {exc} (AUDIT_CATALOG / AUDIT_CATALOG_DIR)") \
                from exc
        except OSError as exc:
            raise CatalogError(f"cannot open the catalog {self.path}: {exc} (AUDIT_CATALOG / AUDIT_CATALOG_DIR)") \
                from exc
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            db.close()
            if getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB":
                raise CatalogError(f"{self.path} is not a catalog ({exc}): delete it, or set AUDIT_CATALOG to "
                                   "another file") from exc
            raise CatalogError(f"cannot open the catalog {self.path}: {exc}") from exc
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA cache_size=-65536")  # 64 MiB of page cache
        db.execute("PRAGMA temp.cache_size=-131072")  # a crawl's staging tables (128 MiB) stay off the disk
        if not tables:
            self._create(db)
            return db
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall()) if "meta" in tables else {}
        self._check_owner(db, meta)
        version = int(meta.get("schema", "0"))
        if version != SCHEMA_VERSION:
            self.rebuilt = (f"{self.path} was written by another version of the catalog (schema {version}, this "
                            f"is {SCHEMA_VERSION}): rebuilt from the store")
            logger.warning("%s", self.rebuilt)
            self._drop(db)
            self._create(db)
        return db

    def _open_readonly(self) -> sqlite3.Connection:
        """The file as it is: no schema made, no rebuild, no WAL switch (it is one already)."""
        if not self.path.is_file():
            raise CatalogError(f"no catalog at {self.path}")
        try:
            db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            db.isolation_level = None
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.Error as exc:
            raise CatalogError(f"cannot read the catalog {self.path}: {exc}") from exc
        self._check_owner(db, meta)
        if meta.get("schema") != str(SCHEMA_VERSION):
            db.close()
            raise CatalogError(f"{self.path} was written by another version of the catalog (schema "
                               f"{meta.get('schema')}, this is {SCHEMA_VERSION}): `scrapy catalog` rebuilds it")
        return db

    def _check_owner(self, db: sqlite3.Connection, meta: dict[str, str]) -> None:
        """CatalogError (the connection closed) unless `meta` is a Palimpsest catalog's of this store."""
        if meta.get("marker") != MARKER:
            db.close()
            raise CatalogError(f"{self.path} is an SQLite file but not a Palimpsest catalog: delete it, or set "
                               "AUDIT_CATALOG to another file")
        if meta.get("store_uri") != self.store.uri.rstrip("/"):
            db.close()
            raise CatalogError(f"{self.path} catalogs {meta.get('store_uri')}, not {self.store.uri}: set "
                               "AUDIT_CATALOG to another file (each store has its own catalog)")

    def _create(self, db: sqlite3.Connection) -> None:
        """The schema, unless another process made it first (two updates may open a new catalog at once)."""
        with _Transaction(db):
            if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
                return
            for statement in SCHEMA:
                db.execute(statement)
            db.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("marker", MARKER), ("schema", str(SCHEMA_VERSION)), ("store_uri", self.store.uri.rstrip("/")),
                ("created_at", utc_now())])

    @staticmethod
    def _drop(db: sqlite3.Connection) -> None:
        with _Transaction(db):
            for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
                db.execute(f'DROP TABLE IF EXISTS "{name}"')

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # updating -------------------------------------------------------------------------------------------
    def update(self, rebuild: bool = False, progress: Callable[[str], None] | None = None) -> CatalogUpdate:
        """Index the crawls the catalog does not hold yet (or holds as partial or changed); `rebuild` first
        forgets everything. Crawls gone from the store are forgotten."""
        began = time.monotonic()
        self._session = f"{id(self)}-{began}"
        result = CatalogUpdate(rebuilt=self.rebuilt)
        if rebuild:
            self._drop(self.db)
            self._create(self.db)
            result.rebuilt = "started over (--rebuild)"
        known = {r[0]: (r[1], r[2]) for r in self.db.execute("SELECT crawl_id, state, signature FROM crawls")}
        in_store = list(self.store.children("crawls"))
        if known and not in_store:
            raise CatalogError(f"{self.store.uri} lists no crawls, and the catalog {self.path} holds {len(known)}: "
                               "is the store mounted and the URI right? (`scrapy catalog --rebuild` forgets them)")
        gone = sorted(set(known) - set(in_store))
        if gone:
            with _Transaction(self.db):
                for crawl_id in gone:
                    self._forget(crawl_id)
            result.crawls_removed = gone
        todo = [c for c in in_store if known.get(c, ("", ""))[0] != "complete"]
        with _pool(self.workers) as pool, ThreadPoolExecutor(READ_AHEAD + 2) as io, \
                tempfile.TemporaryDirectory(prefix="palimpsest-catalog-") as workdir:
            self._workdir = workdir
            plans = [_Prep.of(plan) for plan in io.map(self._plan, todo)  # listings and manifests, in threads
                     if known.get(plan.crawl_id, ("", ""))[1] != plan.signature]  # (partial, unchanged: skipped)
            parts = _PartQueue(plans, lambda prep, kind, key: io.submit(self._read_part, pool, prep, kind, key))
            for prep in plans:
                if progress:
                    progress(f"indexing {prep.plan.crawl_id} ({len(prep.plan.keys)} files)")
                captures, items, problems = self._index(prep, parts)
                result.crawls_indexed.append(prep.plan.crawl_id)
                result.captures += captures
                result.items += items
                result.problems += [f"{prep.plan.crawl_id}: {p}" for p in problems]
        result.seconds = time.monotonic() - began
        self.rebuilt = None
        return result

    def _plan(self, crawl_id: str) -> _Plan:
        prefix = f"crawls/{crawl_id}/"
        problems: list[str] = []
        try:
            sizes = dict(self.store.listing(prefix))
        except StoreError as exc:
            return _Plan(crawl_id, [], {}, None, f"unlisted:{exc}", [f"cannot list {prefix}: {exc}"])
        keys = sorted(sizes)
        manifest: dict[str, Any] | None = None
        signature = "partial:" + sha256("\n".join(f"{k} {sizes[k]}" for k in keys).encode()).hexdigest()
        if prefix + "crawl.json" in keys:
            try:
                body = self.store.get_bytes(prefix + "crawl.json")
                signature = "manifest:" + sha256(body).hexdigest()
                loaded = json.loads(body)
                if not isinstance(loaded, dict):
                    raise ValueError("not a JSON object")
                manifest = loaded
            except (StoreError, ValueError) as exc:
                problems.append(f"crawl.json cannot be read ({exc}): indexed as partial")
        return _Plan(crawl_id, keys, sizes, manifest, signature, problems)

    def _index(self, prep: _Prep, parts: _PartQueue) -> tuple[int, int, list[str]]:
        """Stage every part of one crawl as the queue brings them (later crawls' parts are being read and
        parsed meanwhile), then write its rows in one transaction."""
        plan, problems = prep.plan, list(prep.problems)
        site = prep.site
        self._stage_tables()
        retry = False
        for part in parts.of(prep):
            problems += part.problems
            retry = retry or part.unread
            if part.path is not None:
                self._stage(part.path)
        with _Transaction(self.db):
            # Another update (a second crawl's, the scheduler's) may have indexed this crawl since ours began:
            # what the catalog holds now decides, not what it held then.
            held = self.db.execute("SELECT signature, captures, items, problems, state FROM crawls WHERE crawl_id = ?",
                                   (plan.crawl_id,)).fetchone()
            if held is not None and (held[0] == plan.signature or (held[4] == "complete" and plan.manifest is None)):
                return held[1], held[2], json.loads(held[3])  # the same, or newer (complete) than what we read
            if held is not None:
                self._forget(plan.crawl_id)
            start = self.db.execute("SELECT COALESCE(MAX(rowid), 0) FROM main.captures").fetchone()[0] + 1
            self.db.execute(WRITE_CRAWL)
            end = self.db.execute("SELECT COALESCE(MAX(rowid), 0) FROM main.captures").fetchone()[0]
            self.db.execute("INSERT OR IGNORE INTO main.texts SELECT hash, body FROM temp.texts_stage")
            captures, items, first_fetch, logged_site = self._staged_counts()
            problems += self._staged_problems(items, any(kind == "cdxj" for kind, _ in prep.parts), (start, end))
            state = _crawl_state(plan.manifest, problems)
            manifest = plan.manifest or {}
            if retry:  # a read that failed: indexed as far as it went, and read again by the next update
                problems.insert(0, "some parts could not be read this time: incomplete, read again next update")
                state = "incomplete" if state == "complete" else state
            self.db.execute("INSERT INTO crawls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (
                plan.crawl_id, site or logged_site or None, manifest.get("spider") or _spider_of(plan.crawl_id),
                manifest.get("started_at") or first_fetch, manifest.get("finished_at"), state,
                ("retry:" if retry else "") + plan.signature, captures, items, json.dumps(problems), utc_now(),
                start if end >= start else None, end if end >= start else None, self._last_fetch))
        self._stage_tables()
        for problem in problems:
            logger.warning("catalog: crawls/%s: %s", plan.crawl_id, problem)
        return captures, items, problems

    def _read_part(self, pool: Executor, prep: _Prep, kind: str, key: str) -> PartFile:
        """Fetch one part (a thread: S3 GETs overlap), check it against the manifest, parse it (a process)."""
        try:
            data = self.store.get_bytes(key)
        except StoreError as exc:
            return PartFile(key, None, [f"part {key} could not be read: {exc}"], unread=True)
        listed = prep.listed.get(key)
        if listed is not None and listed.get("sha256") and sha256(data).hexdigest() != listed["sha256"]:
            return PartFile(key, None, [f"corrupt part {key}: its sha256 is not the manifest's; skipped"])
        size = prep.warc_sizes.get(key.rsplit("/", 1)[-1].removesuffix(".cdxj")) if kind == "cdxj" else None
        return pool.submit(parse_to_file, kind, prep.plan.crawl_id, key, data, size, self._session, prep.site,
                           self._workdir).result()

    def _stage_tables(self) -> None:
        """Empty staging tables for the next crawl (temporary: this connection's, on disk past the cache)."""
        for name, create in PART_TABLES.items():
            staged = create.replace(f"CREATE TABLE {name} (", f"CREATE TEMP TABLE IF NOT EXISTS {name}_stage (", 1)
            self.db.execute(staged)
            self.db.execute(f"DELETE FROM temp.{name}_stage")

    def _stage(self, path: str) -> None:
        """Copy one worker's part file into the staging tables, then delete it."""
        self.db.execute("ATTACH DATABASE ? AS part", (path,))
        try:
            tables = {r[0] for r in self.db.execute("SELECT name FROM part.sqlite_master WHERE type = 'table'")}
            for name in tables & set(PART_TABLES):
                verb = "INSERT" if name == "log" else "INSERT OR IGNORE"  # an item URL once (the first), a text once
                self.db.execute(f"{verb} INTO temp.{name}_stage SELECT * FROM part.{name}")
        finally:
            self.db.execute("DETACH DATABASE part")
            os.unlink(path)

    def _staged_counts(self) -> tuple[int, int, str | None, str | None]:
        captures, first_fetch, self._last_fetch, site = self.db.execute(
            "SELECT COUNT(*), MIN(fetched_at), MAX(fetched_at), MAX(site) FROM temp.log_stage").fetchone()
        items = self.db.execute("SELECT COUNT(*) FROM temp.items_stage").fetchone()[0]
        return captures, items, first_fetch, site

    def _staged_problems(self, items: int, have_cdxj: bool, run: tuple[int, int]) -> list[str]:
        """Crawl-log entries whose record no CDXJ lists; items no crawl-log entry led to."""
        out = []
        if have_cdxj:
            unlisted = self.db.execute(
                "SELECT COUNT(*) FROM temp.log_stage l WHERE l.warc_filename IS NOT NULL AND l.warc_offset IS NOT NULL"
                " AND NOT EXISTS (SELECT 1 FROM temp.cdxj_stage c WHERE c.filename = l.warc_filename"
                " AND c.offset = l.warc_offset)").fetchone()[0]
            if unlisted:
                out.append(f"{unlisted} crawl-log entries point at WARC records no CDXJ of the crawl lists")
        matched = self.db.execute(  # the crawl's rows were just written, at the end of captures
            "SELECT COUNT(DISTINCT COALESCE(final_url, url)) FROM main.captures WHERE rowid BETWEEN ? AND ?"
            " AND (i_text IS NOT NULL OR i_title IS NOT NULL)", run).fetchone()[0]
        if items - matched:
            out.append(f"{items - matched} items whose URL is no crawl-log entry's final URL: not in the audit")
        return out

    def _forget(self, crawl_id: str) -> None:
        """Drop a crawl's rows: its run of rowids, and its entry."""
        run = self.db.execute("SELECT first_row, last_row FROM crawls WHERE crawl_id = ?", (crawl_id,)).fetchone()
        if run and run[0] is not None:
            self.db.execute("DELETE FROM captures WHERE rowid BETWEEN ? AND ?", run)
        self.db.execute("DELETE FROM crawls WHERE crawl_id = ?", (crawl_id,))

    # reading --------------------------------------------------------------------------------------------
    def crawls(self, site: str | None = None) -> list[CrawlInfo]:
        """Crawls in the order they started."""
        query = ("SELECT crawl_id, site, spider, started_at, finished_at, state, captures, items, problems, last_fetch "
                 "FROM crawls" + (" WHERE site = ?" if site else "") + " ORDER BY started_at, crawl_id")
        rows = self.db.execute(query, (site,) if site else ()).fetchall()
        return [CrawlInfo(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], json.loads(r[8]), r[9]) for r in rows]

    def sites(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT site FROM crawls WHERE site IS NOT NULL ORDER BY 1")]

    def summary(self) -> list[dict[str, Any]]:
        """Per site: crawls (by state), distinct URLs and captures."""
        out = []
        for site in self.sites():
            states = dict(self.db.execute("SELECT state, COUNT(*) FROM crawls WHERE site = ? GROUP BY state",
                                          (site,)).fetchall())
            urls, captures = self.db.execute("SELECT COUNT(DISTINCT url), COUNT(*) FROM captures WHERE site = ?",
                                             (site,)).fetchone()
            articles = self.db.execute("SELECT COUNT(DISTINCT url) FROM captures WHERE site = ? AND kind IN "
                                       "('article', 'recheck')", (site,)).fetchone()[0]
            out.append({"site": site, "crawls": sum(states.values()), "crawl_states": states, "urls": urls,
                        "article_urls": articles, "captures": captures})
        return out

    def text(self, key: str | None) -> str | None:
        """An item's text by its key, None when the catalog has no text under it."""
        if not key:
            return None
        row = self.db.execute("SELECT body FROM texts WHERE hash = ?", (key,)).fetchone()
        return zlib.decompress(row[0]).decode() if row else None

    def article_history(self, site: str, until: str | None = None) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
        """(url, captures oldest first) for every article URL of `site` (kinds article and recheck), in URL
        order, each capture with the item its final URL gave in the same crawl (None columns if none).

        A merge of the site's crawls, each one run of rows already in URL order, read in sequence: one URL's
        rows in memory at a time, and a buffer per crawl."""
        runs = self.db.execute("SELECT first_row, last_row, crawl_id FROM crawls WHERE site = ? AND first_row IS NOT"
                               " NULL ORDER BY started_at, crawl_id", (site,)).fetchall()
        query = HISTORY + (" AND fetched_at <= ?" if until else "") + " ORDER BY id"
        batch = max(16, 20_000 // max(1, len(runs)))  # rows held per crawl: bounded memory however many crawls

        def stream(first: int, last: int, crawl_id: str) -> Iterator[tuple[Any, ...]]:
            args = (first, last, crawl_id, site, until) if until else (first, last, crawl_id, site)
            cursor = self.db.execute(query, args)
            while rows := cursor.fetchmany(batch):
                yield from rows

        merged = heapq.merge(*(stream(a, b, c) for a, b, c in runs), key=itemgetter(0, 2))  # url, fetched_at
        for url, group in groupby(merged, key=itemgetter(0)):
            yield url, list(group)

    def recent_crawls(self, site: str, since: str, limit: int) -> list[str]:
        """The last `limit` crawls of `site` still fetching at or after `since`, newest first: where a new
        crawl looks for the host probe answers it may reuse (crawler/soft404/learned.py)."""
        return [r[0] for r in self.db.execute(
            "SELECT crawl_id FROM crawls WHERE site = ? AND COALESCE(last_fetch, finished_at, started_at) >= ?"
            " ORDER BY COALESCE(last_fetch, finished_at, started_at) DESC, crawl_id DESC LIMIT ?",
            (site, since, limit))]

    def article_urls(self, site: str) -> list[tuple[str, str, str, str | None]]:
        """(url, first fetched, last fetched, a section its items named) of every article URL of `site`:
        what a recheck chooses from, and the section its items keep."""
        return self.db.execute(
            "SELECT url, MIN(fetched_at), MAX(fetched_at), MAX(i_section) FROM captures "
            "WHERE site = ? AND kind IN ('article', 'recheck') GROUP BY url ORDER BY url", (site,)).fetchall()


@dataclass
class _Prep:
    """A crawl to index: its parts, what its manifest lists, its WARCs' sizes, what is wrong before reading."""

    plan: _Plan
    parts: list[tuple[str, str]]  # (log | items | cdxj, key)
    listed: dict[Any, dict[str, Any]]
    warc_sizes: dict[str, int]
    site: str
    problems: list[str]

    @classmethod
    def of(cls, plan: _Plan) -> _Prep:
        listed = {o.get("key"): o for o in (plan.manifest or {}).get("objects", []) if isinstance(o, dict)}
        parts = [(k.split("/")[2], k) for k in plan.keys if k.count("/") == 3
                 and k.split("/")[2] in (*PART_DIRS, "cdxj") and k.endswith((".jsonl.gz", ".cdxj"))]
        warc_sizes = {k.rsplit("/", 1)[-1].removesuffix(".warc.gz"): size for k, size in plan.sizes.items()
                      if k.endswith(".warc.gz")}
        problems = [*plan.problems, *_object_problems(plan, listed)]
        problems += [f"{key} indexes a WARC the store does not have" for kind, key in parts
                     if kind == "cdxj" and key.rsplit("/", 1)[-1].removesuffix(".cdxj") not in warc_sizes]
        return cls(plan, parts, listed, warc_sizes, str((plan.manifest or {}).get("site") or ""), problems)


class _PartQueue:
    """The parts of every crawl to index, READ_AHEAD of them being read and parsed ahead of the writer, across
    crawl boundaries: while one crawl's rows are written, the workers parse the next one's."""

    def __init__(self, preps: list[_Prep], submit: Callable[[_Prep, str, str], Future[PartFile]]) -> None:
        self.jobs = iter([(prep, kind, key) for prep in preps for kind, key in prep.parts])
        self.submit = submit
        self.ahead: deque[tuple[_Prep, Future[PartFile]]] = deque()

    def _pump(self) -> None:
        while len(self.ahead) < READ_AHEAD:
            job = next(self.jobs, None)
            if job is None:
                return
            self.ahead.append((job[0], self.submit(*job)))

    def of(self, prep: _Prep) -> Iterator[PartFile]:
        """The parts of `prep`, in order; the crawls before it must have been taken already."""
        self._pump()
        while self.ahead and self.ahead[0][0] is prep:
            yield self.ahead.popleft()[1].result()
            self._pump()


def _object_problems(plan: _Plan, listed: dict[Any, dict[str, Any]]) -> list[str]:
    """What the manifest lists and the store lacks, or holds at another size."""
    out = []
    for key in sorted(k for k in listed if isinstance(k, str)):
        if key not in plan.sizes:
            out.append(f"missing part {key}: the manifest lists it, the store does not have it")
        elif isinstance(listed[key].get("size"), int) and listed[key]["size"] != plan.sizes[key]:
            out.append(f"part {key} is {plan.sizes[key]} bytes in the store, the manifest says "
                       f"{listed[key]['size']}: cut or replaced")
    return out


def _crawl_state(manifest: dict[str, Any] | None, problems: list[str]) -> str:
    """complete | incomplete | partial; the latter two say so first among the crawl's problems."""
    if manifest is None:
        problems.insert(0, "no crawl.json: partial (still running, or it died before the end)")
        return "partial"
    if manifest.get("complete", True):
        return "complete"
    problems.insert(0, f"incomplete: {len(manifest.get('waiting') or [])} files were still in the spool when it "
                       "ended")
    return "incomplete"


def _spider_of(crawl_id: str) -> str:
    return "recheck" if "-recheck-" in crawl_id else "news"


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (or ROLLBACK): one writer at a time, readers unaffected (WAL)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")


class _InlineExecutor(Executor):
    """Runs submitted work in the caller: AUDIT_WORKERS = 0, and tests that want one process."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future


def _pool(workers: int) -> Executor:
    if workers <= 0:
        return _InlineExecutor()
    import multiprocessing  # noqa: PLC0415

    # forkserver: this process may hold threads (boto3, the reactor's pool); a plain fork would copy their locks.
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"))
