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

import gzip
import io
import json
import logging
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha1, sha256
from pathlib import Path
from typing import Any

from archive.store import Store
from crawler.errors import StoreError

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
MARKER = "palimpsest-catalog"
PART_DIRS = ("log", "items")
MAX_PART_PROBLEMS = 3  # bad lines reported per part (then counted): one broken part must not flood the report

SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # state: complete | incomplete (manifest lists files still waiting) | partial (no crawl.json)
    "CREATE TABLE crawls (crawl_id TEXT PRIMARY KEY, site TEXT, spider TEXT, started_at TEXT, finished_at TEXT,"
    " state TEXT NOT NULL, signature TEXT NOT NULL, captures INTEGER NOT NULL, items INTEGER NOT NULL,"
    " problems TEXT NOT NULL, indexed_at TEXT NOT NULL)",
    "CREATE TABLE captures (crawl_id TEXT NOT NULL, site TEXT, url TEXT NOT NULL, final_url TEXT, kind TEXT,"
    " status INTEGER, verdict TEXT, reasons TEXT, score REAL, fetched_at TEXT NOT NULL, title TEXT,"
    " content_digest TEXT, simhash TEXT, warc_filename TEXT, warc_offset INTEGER, warc_length INTEGER,"
    " record_id TEXT, redirects TEXT, error TEXT)",
    "CREATE TABLE items (crawl_id TEXT NOT NULL, url TEXT NOT NULL, canonical_url TEXT, section TEXT, title TEXT,"
    " authors TEXT, published TEXT, modified TEXT, language TEXT, text_hash TEXT, simhash TEXT,"
    " duplicate_of TEXT, warc_filename TEXT, warc_offset INTEGER)",
    "CREATE TABLE texts (hash TEXT PRIMARY KEY, body BLOB NOT NULL) WITHOUT ROWID",
)
INDEXES = (
    "CREATE INDEX IF NOT EXISTS captures_url ON captures (site, url, fetched_at)",
    "CREATE INDEX IF NOT EXISTS captures_crawl ON captures (crawl_id)",
    "CREATE INDEX IF NOT EXISTS items_url ON items (crawl_id, url)",
)
CAPTURE_COLUMNS = ("crawl_id", "site", "url", "final_url", "kind", "status", "verdict", "reasons", "score",
                   "fetched_at", "title", "content_digest", "simhash", "warc_filename", "warc_offset",
                   "warc_length", "record_id", "redirects", "error")
HISTORY = (
    "SELECT c.url, c.crawl_id, c.fetched_at, c.status, c.verdict, c.reasons, c.final_url, c.kind,"
    " c.warc_filename, c.warc_offset, c.warc_length, c.record_id, c.redirects, c.error, c.title,"
    " i.title, i.authors, i.published, i.modified, i.section, i.text_hash, i.simhash, i.canonical_url "
    "FROM captures c LEFT JOIN items i ON i.crawl_id = c.crawl_id AND i.url = c.final_url "
    "WHERE c.site = ? AND c.kind IN ('article', 'recheck')")
ITEM_COLUMNS = ("crawl_id", "url", "canonical_url", "section", "title", "authors", "published", "modified",
                "language", "text_hash", "simhash", "duplicate_of", "warc_filename", "warc_offset")


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


@dataclass
class PartRows:
    """The rows one part gave, and what was wrong with it."""

    key: str
    captures: list[tuple[Any, ...]] = field(default_factory=list)
    items: list[tuple[Any, ...]] = field(default_factory=list)
    texts: list[tuple[str, bytes]] = field(default_factory=list)
    pointers: set[tuple[str, int]] = field(default_factory=set)  # CDXJ records, (filename, offset)
    problems: list[str] = field(default_factory=list)


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- reading parts: pure functions of the bytes, so they can run in worker processes ----------------------

def _lines(key: str, data: bytes, problems: list[str]) -> Iterator[bytes]:
    """The lines of a gzip part; a part cut or corrupt midway yields what came before the fault."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
            yield from fh
    except (OSError, EOFError, zlib.error) as exc:
        problems.append(f"{key}: not a whole gzip file ({type(exc).__name__}: {exc}); the lines before the fault "
                        "were read")


def _records(key: str, data: bytes, problems: list[str]) -> Iterator[dict[str, Any]]:
    bad = 0
    for number, line in enumerate(_lines(key, data, problems), 1):
        try:
            record = json.loads(line)
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


def parse_log_part(crawl_id: str, key: str, data: bytes) -> PartRows:
    """Crawl-log entries -> capture rows. An entry without a URL or a time is no capture: skipped, reported."""
    out = PartRows(key)
    dumps = json.dumps
    skipped = 0
    for e in _records(key, data, out.problems):
        url, fetched = e.get("url"), e.get("fetched_at")
        if not isinstance(url, str) or not isinstance(fetched, str):
            skipped += 1
            continue
        warc = e["warc"] if isinstance(e.get("warc"), dict) else {}
        reasons, redirects = e.get("reasons"), e.get("redirects")
        out.captures.append((
            e.get("crawl_id") or crawl_id, e.get("site"), url, e.get("final_url"), e.get("kind"),
            _int(e.get("status")), e.get("verdict"), dumps(reasons) if reasons else None, e.get("score"), fetched,
            e.get("title"), e.get("content_digest"), e.get("simhash"), warc.get("filename"),
            _int(warc.get("offset")), _int(warc.get("length")), warc.get("record_id"),
            dumps(redirects) if redirects else None, e.get("error"),
        ))
    if skipped:
        out.problems.append(f"{key}: {skipped} entries without url or fetched_at skipped")
    return out


def text_key(text: str) -> str:
    """How an item names its text: `content_digest` (sha1 of the text, base32) when it has one."""
    return "sha1:" + sha1(text.encode()).hexdigest()


def parse_item_part(crawl_id: str, key: str, data: bytes) -> PartRows:
    """Article items -> item rows, and each distinct text once (zlib: the catalog holds every version)."""
    out = PartRows(key)
    dumps = json.dumps
    seen: set[str] = set()
    for i in _records(key, data, out.problems):
        url = i.get("url")
        if not isinstance(url, str):
            continue
        text = i["text"] if isinstance(i.get("text"), str) else ""
        digest = str(i.get("content_digest") or "") or (text_key(text) if text else None)
        if text and digest and digest not in seen:
            seen.add(digest)
            out.texts.append((digest, zlib.compress(text.encode(), 1)))
        warc = i["warc"] if isinstance(i.get("warc"), dict) else {}
        authors = i.get("authors")
        out.items.append((
            i.get("crawl_id") or crawl_id, url, i.get("canonical_url"), i.get("section"), i.get("title"),
            dumps(authors, ensure_ascii=False) if authors else None, i.get("published"), i.get("modified"),
            i.get("language"), digest, i.get("simhash"), i.get("duplicate_of"), warc.get("filename"),
            _int(warc.get("offset")),
        ))
    return out


def parse_cdxj(key: str, data: bytes, warc_size: int | None) -> PartRows:
    """A CDXJ -> the records it lists; lines naming another WARC or reaching past its end are reported."""
    out = PartRows(key)
    stem = key.rsplit("/", 1)[-1].removesuffix(".cdxj")
    outside = foreign = bad = 0
    for line in data.splitlines():
        _, _, body = line.partition(b" {")
        try:
            fields = json.loads(b"{" + body)
            offset, length = int(fields["offset"]), int(fields["length"])
            filename = str(fields["filename"])
        except (ValueError, KeyError, TypeError):
            bad += 1
            continue
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


def _parse(kind: str, crawl_id: str, key: str, data: bytes, warc_size: int | None) -> PartRows:
    if kind == "log":
        return parse_log_part(crawl_id, key, data)
    if kind == "items":
        return parse_item_part(crawl_id, key, data)
    return parse_cdxj(key, data, warc_size)


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

    def __init__(self, path: Path, store: Store, workers: int = 0) -> None:
        self.path, self.store, self.workers = path, store, workers
        self.rebuilt: str | None = None
        self.db = self._open()

    # schema and file ------------------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A long busy timeout: another crawl's update may be indexing a big crawl in its one transaction.
        db = sqlite3.connect(self.path, timeout=600, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            db.close()
            raise CatalogError(f"{self.path} is not a catalog ({exc}): delete it, or set AUDIT_CATALOG to "
                               "another file") from exc
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA cache_size=-65536")  # 64 MiB of page cache
        if not tables:
            self._create(db)
            return db
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall()) if "meta" in tables else {}
        if meta.get("marker") != MARKER:
            db.close()
            raise CatalogError(f"{self.path} is an SQLite file but not a Palimpsest catalog: delete it, or set "
                               "AUDIT_CATALOG to another file")
        if meta.get("store_uri") != self.store.uri.rstrip("/"):
            db.close()
            raise CatalogError(f"{self.path} catalogs {meta.get('store_uri')}, not {self.store.uri}: set "
                               "AUDIT_CATALOG to another file (each store has its own catalog)")
        version = int(meta.get("schema", "0"))
        if version != SCHEMA_VERSION:
            self.rebuilt = (f"{self.path} was written by another version of the catalog (schema {version}, this "
                            f"is {SCHEMA_VERSION}): rebuilt from the store")
            logger.warning("%s", self.rebuilt)
            self._drop(db)
            self._create(db)
        return db

    def _create(self, db: sqlite3.Connection) -> None:
        with _Transaction(db):
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
        result = CatalogUpdate(rebuilt=self.rebuilt)
        if rebuild:
            self._drop(self.db)
            self._create(self.db)
            result.rebuilt = "started over (--rebuild)"
        known = {r[0]: (r[1], r[2]) for r in self.db.execute("SELECT crawl_id, state, signature FROM crawls")}
        in_store = list(self.store.children("crawls"))
        gone = sorted(set(known) - set(in_store))
        if gone:
            with _Transaction(self.db):
                for crawl_id in gone:
                    self._forget(crawl_id)
            result.crawls_removed = gone
        todo = [c for c in in_store if known.get(c, ("", ""))[0] != "complete"]
        with _pool(self.workers) as pool, ThreadPoolExecutor(4) as io:
            plans = io.map(self._plan, todo)  # listings and manifests fetched ahead, in threads
            for plan in plans:
                if known.get(plan.crawl_id, ("", ""))[1] == plan.signature:
                    continue  # partial or incomplete, and nothing changed in the store since
                if progress:
                    progress(f"indexing {plan.crawl_id} ({len(plan.keys)} files)")
                captures, items, problems = self._index(plan, pool, io)
                result.crawls_indexed.append(plan.crawl_id)
                result.captures += captures
                result.items += items
                result.problems += [f"{plan.crawl_id}: {p}" for p in problems]
        if result.crawls_indexed:
            with _Transaction(self.db):
                for statement in INDEXES:
                    self.db.execute(statement)
            self.db.execute("ANALYZE")
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

    def _index(self, plan: _Plan, pool: Executor, io: ThreadPoolExecutor) -> tuple[int, int, list[str]]:
        problems = list(plan.problems)
        prefix = f"crawls/{plan.crawl_id}/"
        listed = {o.get("key"): o for o in (plan.manifest or {}).get("objects", []) if isinstance(o, dict)}
        present = set(plan.keys)
        for key in sorted(k for k in listed if isinstance(k, str)):
            if key not in present:
                problems.append(f"missing part {key}: the manifest lists it, the store does not have it")
            elif isinstance(listed[key].get("size"), int) and listed[key]["size"] != plan.sizes[key]:
                problems.append(f"part {key} is {plan.sizes[key]} bytes in the store, the manifest says "
                                f"{listed[key]['size']}: cut or replaced")
        parts = [(k.split("/")[2], k) for k in plan.keys
                 if k.count("/") == 3 and k.split("/")[2] in (*PART_DIRS, "cdxj")
                 and k.endswith((".jsonl.gz", ".cdxj"))]
        warc_sizes = {k.rsplit("/", 1)[-1].removesuffix(".warc.gz"): size for k, size in plan.sizes.items()
                      if k.endswith(".warc.gz")}

        problems += [f"{key} indexes a WARC the store does not have" for kind, key in parts
                     if kind == "cdxj" and key.rsplit("/", 1)[-1].removesuffix(".cdxj") not in warc_sizes]

        def fetch(kind: str, key: str) -> Future[PartRows]:
            return io.submit(self._read_part, pool, plan.crawl_id, kind, key, listed.get(key),
                             warc_sizes.get(key.rsplit("/", 1)[-1].removesuffix(".cdxj")))

        futures = [fetch(kind, key) for kind, key in parts]
        site = (plan.manifest or {}).get("site")
        captures = items = 0
        pointers: set[tuple[str, int]] = set()
        logged: list[tuple[str, int]] = []
        have_cdxj = any(kind == "cdxj" for kind, _ in parts)
        first_fetch: str | None = None
        with _Transaction(self.db):
            self._forget(plan.crawl_id)
            for future in futures:
                rows = future.result()
                problems += rows.problems
                if rows.captures:
                    self.db.executemany(f"INSERT INTO captures VALUES ({', '.join('?' * len(CAPTURE_COLUMNS))})",
                                        rows.captures)
                    captures += len(rows.captures)
                    site = site or rows.captures[0][1]
                    earliest = min(r[9] for r in rows.captures)
                    first_fetch = earliest if first_fetch is None else min(first_fetch, earliest)
                    logged += [(r[13], r[14]) for r in rows.captures if r[13] is not None and r[14] is not None]
                if rows.items:
                    self.db.executemany(f"INSERT INTO items VALUES ({', '.join('?' * len(ITEM_COLUMNS))})",
                                        rows.items)
                    self.db.executemany("INSERT OR IGNORE INTO texts VALUES (?, ?)", rows.texts)
                    items += len(rows.items)
                pointers |= rows.pointers
            if have_cdxj:
                unlisted = sum(1 for p in logged if p not in pointers)
                if unlisted:
                    problems.append(f"{unlisted} crawl-log entries point at WARC records no CDXJ of the crawl lists")
            manifest = plan.manifest
            if manifest is None:
                state = "partial"
                problems.insert(0, "no crawl.json: partial (still running, or it died before the end)")
            else:
                state = "complete" if manifest.get("complete", True) else "incomplete"
                if state == "incomplete":
                    problems.insert(0, f"incomplete: {len(manifest.get('waiting') or [])} files were still in the "
                                       "spool when it ended")
            self.db.execute("INSERT INTO crawls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (
                plan.crawl_id, site, (manifest or {}).get("spider") or _spider_of(plan.crawl_id),
                (manifest or {}).get("started_at") or first_fetch, (manifest or {}).get("finished_at"), state,
                plan.signature, captures, items, json.dumps(problems), utc_now()))
        for problem in problems:
            logger.warning("catalog: %s%s: %s", prefix, "", problem)
        return captures, items, problems

    def _read_part(self, pool: Executor, crawl_id: str, kind: str, key: str, listed: dict[str, Any] | None,
                   warc_size: Any) -> PartRows:
        """Fetch one part (a thread: S3 GETs overlap), check it against the manifest, parse it (a process)."""
        try:
            data = self.store.get_bytes(key)
        except StoreError as exc:
            return PartRows(key, problems=[f"missing part {key}: {exc}"])
        if listed is not None and listed.get("sha256") and sha256(data).hexdigest() != listed["sha256"]:
            return PartRows(key, problems=[f"corrupt part {key}: its sha256 is not the manifest's; skipped"])
        size = warc_size if isinstance(warc_size, int) else None
        return pool.submit(_parse, kind, crawl_id, key, data, size).result()

    def _forget(self, crawl_id: str) -> None:
        self.db.execute("DELETE FROM captures WHERE crawl_id = ?", (crawl_id,))
        self.db.execute("DELETE FROM items WHERE crawl_id = ?", (crawl_id,))
        self.db.execute("DELETE FROM crawls WHERE crawl_id = ?", (crawl_id,))

    # reading --------------------------------------------------------------------------------------------
    def crawls(self, site: str | None = None) -> list[CrawlInfo]:
        """Crawls in the order they started."""
        query = ("SELECT crawl_id, site, spider, started_at, finished_at, state, captures, items, problems "
                 "FROM crawls" + (" WHERE site = ?" if site else "") + " ORDER BY started_at, crawl_id")
        rows = self.db.execute(query, (site,) if site else ()).fetchall()
        return [CrawlInfo(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], json.loads(r[8])) for r in rows]

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
        order, each capture joined with the item its final URL gave in the same crawl (None columns if none).
        Streams: one URL's rows in memory at a time."""
        query = HISTORY + (" AND c.fetched_at <= ?" if until else "") + " ORDER BY c.url, c.fetched_at, c.rowid"
        cursor = self.db.execute(query, (site, until) if until else (site,))
        current: str | None = None
        rows: list[tuple[Any, ...]] = []
        while batch := cursor.fetchmany(5000):
            for row in batch:
                if row[0] != current:
                    if current is not None:
                        yield current, rows
                    current, rows = row[0], []
                rows.append(row)
        if current is not None:
            yield current, rows

    def history_of(self, site: str, url: str) -> list[tuple[Any, ...]]:
        """The rows `article_history` gives for one URL."""
        return self.db.execute(HISTORY + " AND c.url = ? ORDER BY c.fetched_at, c.rowid", (site, url)).fetchall()

    def article_urls(self, site: str) -> list[tuple[str, str, str, str | None]]:
        """(url, first fetched, last fetched, a section its items named) of every article URL of `site`:
        what a recheck chooses from, and the section its items keep."""
        return self.db.execute(
            "SELECT c.url, MIN(c.fetched_at), MAX(c.fetched_at), MAX(i.section) FROM captures c "
            "LEFT JOIN items i ON i.crawl_id = c.crawl_id AND i.url = c.final_url "
            "WHERE c.site = ? AND c.kind IN ('article', 'recheck') GROUP BY c.url ORDER BY c.url", (site,)).fetchall()


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
