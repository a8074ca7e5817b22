"""The archive service: the one owner of a crawl's files, their spool and their way into the store.

Everything that touches the disk or the store runs here, off the reactor: one writer thread owns the WARC
writer and its CDXJ, the crawl-log, item and dropped parts and the digest index, fed through a queue in
arrival order; the uploader's threads move finished files into the store; a start-up thread salvages what
earlier runs left in the spool and brings the cross-crawl digest index up to date. The reactor only hands
over exchanges and records. `archive()` and `derived()` return awaitables (the caller needs to know where
a record landed); when more than `queue_limit` of them are waiting, the next caller waits too, which holds
its download slot and so slows the engine to the writer's pace (backpressure), instead of buffering pages
without bound.

The spool of a crawl (`SPOOL/CRAWL_ID/`) is locked while the crawl runs (archive/spoollock.py), so a
second crawl's recovery never salvages files still being written, and the crawl id is refused to a second
process. A reused crawl id goes on numbering after what its earlier runs stored: nothing is overwritten.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import re
import shutil
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from archive.archiver import Archiver
from archive.digests import DigestIndex
from archive.leftovers import Leftovers
from archive.parts import PartWriter
from archive.recovery import recover, recover_crawl, store_key
from archive.spoollock import SpoolLock
from archive.store import Store, StoredObject, failure_name
from archive.uploader import Uploader
from archive.warc import Exchange, Written
from archive.warcfile import WarcFileWriter
from crawler.errors import StoreError

logger = logging.getLogger(__name__)
T = TypeVar("T")
PARTS = ("log", "items", "dropped", "probes")  # probes: crawler/soft404/learned.py
_SERIAL = re.compile(r"(?:part-|-)(\d{5})(?:-[^/]*)?\.(?:jsonl\.gz|warc\.gz)$")


@dataclass(frozen=True)
class WarcOptions:
    """What the WARC writer needs (ARCHIVE_*); None in ServiceOptions when archiving is off."""

    prefix: str
    max_file_size: int
    digest: str
    dedup: bool
    info: dict[str, str]
    digest_index: Path | None  # the persistent cross-crawl index of this store; None: this crawl only


@dataclass(frozen=True)
class ServiceOptions:
    crawl_id: str
    spool_root: Path
    part_max_records: int
    part_max_bytes: int
    warc: WarcOptions | None
    uploads: dict[str, Any] = field(default_factory=dict)  # Uploader options: workers, give_up, backoff...
    queue_limit: int = 64
    fsync: bool = True
    worker: str | None = None  # a distributed crawl's worker: its own spool, part and WARC names
    shared_digests: Any = None  # a distributed crawl's digests of all workers (crawler/sharedstate.py)


class Counts:
    """Counters bumped from any thread; Scrapy's stats collector is not thread-safe, so the reactor merges
    these into it (`drain`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def inc(self, key: str, count: int = 1) -> None:
        with self._lock:
            self._counts[key] += count

    def drain(self) -> dict[str, int]:
        with self._lock:
            counts, self._counts = dict(self._counts), Counter()
        return counts


@dataclass
class Outcome:
    """How the crawl's files fared, for the manifest and the closing line."""

    objects: list[StoredObject] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # keys still in the spool: uploads gave up
    revisits: int = 0
    records: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.waiting


def next_serials(keys: Iterable[str], prefix: str, worker: str | None = None) -> dict[str, int]:
    """For each output (warc and PARTS) the first serial no earlier run of the crawl used (of this
    worker's files only, in a distributed crawl: each worker numbers its own)."""
    serials = dict.fromkeys(("warc", *PARTS), 0)
    for key in keys:
        kind = key.removeprefix(prefix + "/").split("/", 1)[0]
        found = _SERIAL.search(key)
        if worker is not None and not key.endswith((f"-{worker}.jsonl.gz", f"-{worker}.warc.gz")):
            continue
        if kind in serials and found:
            serials[kind] = max(serials[kind], int(found.group(1)) + 1)
    return serials


class ArchiveService:
    """Owns one crawl's WARCs, CDXJ, parts, spool lock and uploads. Start with `open()`, end with `close()`."""

    def __init__(self, store: Store, options: ServiceOptions) -> None:
        self.store, self.options = store, options
        self.crawl_id = options.crawl_id
        self.prefix = f"crawls/{options.crawl_id}"
        self.spool = options.spool_root / (f"{options.crawl_id}@{options.worker}" if options.worker
                                           else options.crawl_id)
        self.counts = Counts()
        self.outcome = Outcome()
        self.lock = SpoolLock(self.spool)
        self.uploader = Uploader(store, self._stored, self._upload_failed, on_retry=self._upload_retried,
                                 **options.uploads)
        self._queue: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], Future[Any]] | None] = \
            queue.SimpleQueue()
        self._slots: asyncio.Semaphore | None = None
        self._thread = threading.Thread(target=self._work, name="archive-writer", daemon=True)
        # `after_written` against `close`: no callback is left in the queue. Reentrant: a garbage collection
        # while it is held may finalize a request whose acknowledgement calls `after_written` again.
        self._stopping = threading.RLock()
        self._stopped = False
        self._catching_up = threading.Thread(target=self._catch_up, name="archive-catch-up", daemon=True)
        self._parts: dict[str, PartWriter] = {}
        self._archiver: Archiver | None = None
        self._digests: DigestIndex | None = None
        self._objects_lock = threading.Lock()
        self._closing = threading.Event()  # the crawl is closing: the catch-up stops loading the index
        self.caught_up = threading.Event()  # set once the spool's leftovers are submitted and the index is loaded
        self._cdxj_after: dict[str, Path] = {}  # WARC key -> its CDXJ, submitted once the WARC is stored
        self.leftovers = Leftovers(store, self.uploader.submit, options.spool_root)  # other crawls' files
        self.earlier_manifest: Path | None = None  # a reused crawl id's manifest its last run left in the spool
        self.part_records = dict.fromkeys(PARTS, 0)

    # --- life cycle -------------------------------------------------------------------------------------
    def open(self) -> None:
        """Take the spool lock (SpoolLockedError if another process runs this crawl id) and start the
        writer. Cheap: the slow start-up work runs in the writer and a helper thread, off the reactor."""
        self.lock.__enter__()
        self._thread.start()
        self._submit(self._start)

    def _start(self) -> None:
        """First task of the writer thread: this crawl id's leftovers and numbering; then the writers.
        Other crawls' leftovers and the digest index are brought up to date beside it (`_catch_up`)."""
        submitted: list[str] = []

        def submit(key: str, path: Path) -> None:
            if key == f"{self.prefix}/crawl.json":
                self.earlier_manifest = path  # merged into this run's manifest, never stored ahead of it
                return
            submitted.append(key)  # counted for numbering even if its upload ends before the listing
            self.uploader.submit(key, path)

        try:
            own = recover_crawl(self.spool, submit)  # a reused crawl id: its last run's files
        except OSError as exc:
            logger.error("cannot salvage %s: %s", self.spool, exc)
            own = 0
        self.counts.inc("store/recovered_from_spool", own)
        listed = self._list(self.prefix + "/")
        if listed is None:
            logger.warning("crawl %s: part numbers start after what the spool held; if this crawl id was used "
                           "before, `scrapy store-sync` may meet parts of the same name", self.crawl_id)
        worker = self.options.worker
        serials = next_serials([*(listed or []), *submitted], self.prefix, worker)
        for name in PARTS:
            self._parts[name] = PartWriter(self.uploader.submit, f"{self.prefix}/{name}", self.spool / name,
                                           self.options.part_max_records, self.options.part_max_bytes,
                                           serial=serials[name], fsync=self.options.fsync,
                                           suffix=f"-{worker}" if worker else "")
        warc = self.options.warc
        if warc is not None:
            if warc.dedup:
                self._digests = self._open_index(warc.digest_index or self.spool / "digests.sqlite")
            writer = WarcFileWriter(self.spool / "warc", warc.prefix, warc.max_file_size, warc.info,
                                    self._warc_closed, warc.digest, serial=serials["warc"], fsync=self.options.fsync,
                                    host=worker)
            self._archiver = Archiver(writer, self._digests, self._cdxj_key, self.options.shared_digests)
        self._catching_up.start()  # after the writer's own index connection exists: one schema set-up

    def _open_index(self, path: Path) -> DigestIndex | None:
        """The digest index, or None (deduplication off for this crawl) when SQLite cannot open it."""
        try:
            return DigestIndex(path)
        except sqlite3.Error as exc:
            logger.error("cannot open the digest index %s (%s): payloads are not deduplicated", path, exc)
            self.counts.inc(f"archive/dedup/unavailable/{type(exc).__name__}")
            return None

    def _catch_up(self) -> None:
        """Other crawls' leftovers go to the store; the cross-crawl digest index learns the CDXJ files that
        landed since it last looked. Meanwhile the crawl runs: a payload archived before the index knows
        it is written in full, never lost."""
        try:
            self._catch_up_now()
        finally:
            self.caught_up.set()

    def _catch_up_now(self) -> None:
        held: list[SpoolLock] = []
        try:
            others = recover(self.options.spool_root, self.leftovers.submit, skip=self.spool.name, hold=held)
        except OSError as exc:
            logger.error("cannot salvage the spool %s: %s", self.options.spool_root, exc)
            others = 0
        self.leftovers.hold(held)  # each released once its files are stored, not when this crawl ends
        if others:
            logger.warning("uploading %d files left in the spool by other crawls", others)
            self.counts.inc("store/recovered_from_spool", others)
        warc = self.options.warc
        if warc is None or not warc.dedup or warc.digest_index is None:
            return
        index = self._open_index(warc.digest_index)
        if index is None:
            return
        keys = self._list("crawls/")
        if keys is None:  # an unlisted store is not an empty one: the index stays as it was
            index.close()
            return
        try:
            loaded = index.sync(keys, self.store.get_bytes, self._running, self._closing.is_set)
            logger.info("digest index: %d captures of earlier crawls loaded from the store", loaded)
            self.counts.inc("archive/dedup/loaded_from_store", loaded)
        except (StoreError, OSError, sqlite3.Error) as exc:
            logger.warning("digest index not brought up to date (%s): earlier payloads may be archived again",
                           exc)
        finally:
            index.close()

    def _running(self, source: str) -> bool:
        """The CDXJ `source` belongs to this crawl or to another one still running here (spool locked)."""
        crawl_id = source.removeprefix("crawls/").split("/", 1)[0]
        if crawl_id == self.crawl_id:
            return True
        return SpoolLock(self.options.spool_root / crawl_id).busy()

    def _list(self, prefix: str) -> list[str] | None:
        """Keys under `prefix`, None when the store cannot be listed: that costs numbering or deduplication,
        never the crawl (it goes on into the spool)."""
        try:
            return list(self.store.keys(prefix))
        except (StoreError, OSError) as exc:
            logger.warning("cannot list %s in the store %s (%s): crawling into the spool", prefix,
                           self.store.uri, exc)
            self.counts.inc(f"store/list_failed/{failure_name(exc)}")
            return None

    def _cdxj_key(self, warc_name: str) -> str:
        return f"{self.prefix}/cdxj/{warc_name.removesuffix('.warc.gz')}.cdxj"

    def _warc_closed(self, warc: Path, cdxj: Path) -> None:
        """The WARC goes first; its CDXJ follows once the WARC is stored (`_stored`), so no index in the
        store (nor the digest index) ever points at a WARC the store does not have."""
        with self._objects_lock:
            self._cdxj_after[f"{self.prefix}/warc/{warc.name}"] = cdxj
        self.uploader.submit(f"{self.prefix}/warc/{warc.name}", warc)

    def _stored(self, stored: StoredObject) -> None:
        if not stored.key.startswith(self.prefix + "/"):
            self.leftovers.done(stored.key, failed=False)
            return  # recovered for another crawl: that crawl's files, not this one's manifest
        with self._objects_lock:
            self.outcome.objects.append(stored)
            cdxj = self._cdxj_after.pop(stored.key, None)
        if cdxj is not None:
            self.uploader.submit(f"{self.prefix}/cdxj/{cdxj.name}", cdxj)
        if self._digests is not None and stored.key.endswith(".cdxj"):
            self._digests.landed(stored.key)

    def _upload_failed(self, key: str, exc: Exception) -> None:
        self.counts.inc(f"store/upload_failed/{failure_name(exc)}")
        self.leftovers.done(key, failed=True)

    def _upload_retried(self, key: str, exc: Exception) -> None:
        self.counts.inc(f"store/upload_retried/{failure_name(exc)}")

    def close(self) -> Outcome:
        """Blocking (call it in a thread): close every file, wait for uploads (at most STORE_S3_GIVE_UP
        for a file that keeps failing), and say what is still waiting in the spool."""
        self._closing.set()
        done: Future[None] = Future()
        self._queue.put((self._close_files, (), done))
        self._queue.put(None)
        self._thread.join()
        self._run_late_callbacks()
        if self._catching_up.is_alive() or self._catching_up.ident is not None:
            self._catching_up.join()
        waiting = self.uploader.close()
        waiting += self.leftovers.close()
        own = {k for k in waiting if k.startswith(self.prefix + "/")}
        if len(waiting) > len(own):
            logger.warning("%d files of other crawls recovered from the spool are still waiting there",
                           len(waiting) - len(own))
        # Whatever is still in the spool is waiting, whatever the reason (an upload given up, a CDXJ held back
        # behind its WARC, a file that could not be closed): the manifest never claims more than the store has.
        self.outcome.waiting = sorted(own | set(self._left_in_spool()))
        if self._digests is not None:
            try:
                self._digests.close()
                if self._digests.path.parent == self.spool:  # this crawl's own index: nothing outlives it
                    for path in self.spool.glob("digests.sqlite*"):
                        path.unlink()
            except (sqlite3.Error, OSError) as exc:  # a cache: losing its last rows costs re-archiving only
                logger.warning("cannot close the digest index %s: %s", self._digests.path, exc)
        self.outcome.records = self.part_records
        return self.outcome

    def _run_late_callbacks(self) -> None:
        """`after_written` callbacks handed over after the writer's last task: everything before them is
        written, so they run now. Anything else handed over that late was never written, as before."""
        with self._stopping:
            self._stopped = True
        while True:
            try:
                task = self._queue.get_nowait()
            except queue.Empty:
                return
            if task is not None and task[0] == self._then:
                try:
                    task[0](*task[1])
                except Exception:
                    logger.exception("archive: a callback after the writer stopped failed")
            elif task is not None:
                self.counts.inc("archive/late_tasks")
                logger.error("archive: %s handed over after the writer stopped; not written",
                             getattr(task[0], "__name__", task[0]))

    def _left_in_spool(self) -> list[str]:
        if not self.spool.exists():
            return []
        manifest = self.spool / "crawl.json"  # an earlier run's, merged into this run's manifest
        return [store_key(self.crawl_id, path.relative_to(self.spool)) for path in self.spool.rglob("*")
                if path.is_file() and not path.name.startswith(".") and not path.name.startswith("digests.sqlite")
                and path != manifest]

    def _close_files(self) -> None:
        """Each file on its own: one that cannot be closed (disk full) keeps the others from nothing."""
        if self._archiver is not None:
            self.outcome.revisits = self._archiver.revisits
            try:
                self._archiver.writer.close()
                if self._archiver.writer.late_annotations:
                    self.counts.inc("archive/cdxj/late_verdicts", self._archiver.writer.late_annotations)
            except OSError as exc:
                logger.error("cannot close the WARC %s: %s", self._archiver.writer.name, exc)
                self.counts.inc(f"archive/failed/{type(exc).__name__}")
        for name, part in self._parts.items():
            try:
                part.close()
            except OSError as exc:  # its records so far stay in the spool as `.open`, salvaged by the next run
                logger.error("cannot close the %s part %s: %s", name, part, exc)
                self.counts.inc(f"archive/failed/{type(exc).__name__}")
            self.part_records[name] = part.total_records

    def release(self) -> None:
        """Drop the spool (when nothing is left in it) and the lock. Files still there are kept."""
        left = [p for p in self.spool.rglob("*") if p.is_file() and not p.name.startswith(".")
                and p.name != "digests.sqlite"] if self.spool.exists() else []
        if left:
            logger.warning("files left in the spool %s: %s", self.spool, ", ".join(map(str, left[:20])))
            self.lock.release()
            return
        self.lock.release()
        shutil.rmtree(self.spool, ignore_errors=True)

    # --- the writer thread ------------------------------------------------------------------------------
    def _submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        future: Future[T] = Future()
        self._queue.put((fn, args, future))
        return future

    def _work(self) -> None:
        while (task := self._queue.get()) is not None:
            fn, args, future = task
            # A caller that went away (a cancelled browser task) does not take its record with it: the work
            # is done all the same, only nobody is told.
            waited_for = future.set_running_or_notify_cancel()
            try:
                result = fn(*args)
            except Exception as exc:  # one record or file fails, the writer goes on
                logger.exception("archive writer: %s failed", getattr(fn, "__name__", fn))
                self.counts.inc(f"archive/failed/{type(exc).__name__}")
                if waited_for:
                    future.set_exception(exc)
            else:
                if waited_for:
                    future.set_result(result)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn` in the writer thread and wait for it without blocking the reactor; at most
        `queue_limit` callers at once (backpressure)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.options.queue_limit)
        async with self._slots:
            return await asyncio.wrap_future(self._submit(fn, *args))

    # --- what the reactor hands over -----------------------------------------------------------------
    @property
    def archiving(self) -> bool:
        return self.options.warc is not None

    async def archive(self, exchange: Exchange) -> Written:
        """Request + response (or revisit) records for one exchange; where the response landed."""
        return await self._call(self._archive, exchange)

    def _archive(self, exchange: Exchange) -> Written:
        assert self._archiver is not None
        return self._archiver.archive(exchange)

    async def derived(self, record_type: str, uri: str, mime: str, body: bytes, date: datetime,
                      refers_to: str | None = None) -> Written:
        """A conversion (rendered DOM) or resource (screenshot) record."""
        return await self._call(self._derived, record_type, uri, mime, body, date, refers_to)

    def _derived(self, *args: Any) -> Written:
        assert self._archiver is not None
        return self._archiver.derived(*args)

    def metadata(self, uri: str, fields: list[tuple[str, str]], refers_to_id: str, date: datetime,
                 annotate: dict[str, Any] | None = None) -> None:
        """A metadata record beside a response, and our fields on the response's CDXJ line (in order)."""
        if self.archiving:
            self._submit(self._metadata, uri, fields, refers_to_id, date, annotate)

    def _metadata(self, uri: str, fields: list[tuple[str, str]], refers_to_id: str, date: datetime,
                  annotate: dict[str, Any] | None) -> None:
        assert self._archiver is not None
        if annotate:
            self._archiver.writer.annotate(refers_to_id, annotate)
        self._archiver.metadata(uri, fields, refers_to_id, date)

    def write(self, part: str, record: dict[str, Any]) -> None:
        """Append a record to the crawl log (`log`), `items`, `dropped` or `probes`."""
        self._submit(self._write, part, record)

    async def put(self, part: str, record: dict[str, Any]) -> None:
        """`write`, waiting until the record is in the spool file: what was awaited survives a SIGKILL, so
        a kill loses at most `queue_limit` records (plus what was in flight)."""
        await self._call(self._write, part, record)

    def _write(self, part: str, record: dict[str, Any]) -> None:
        self._parts[part].write(record)

    def after_written(self, then: Callable[[], object]) -> None:
        """Run `then` in the writer thread once everything handed over before this call is in the spool
        (records are flushed as written): a distributed worker acknowledges a request to Redis only then, so
        a SIGKILL cannot lose the items and log entries of a request the crawl counts as done. Once the
        writer has stopped, or before it started, at once (what it was handed is written); one handed over
        while it stopped runs when `close` has joined it."""
        with self._stopping:
            if not self._stopped and self._thread.ident is not None:  # started, not stopped
                self._submit(self._then, then)
                return
        then()

    @staticmethod
    def _then(then: Callable[[], object]) -> None:
        then()

    def sink(self, part: str) -> Callable[[dict[str, Any]], None]:
        """A writer for one part, for components that need nothing else of the service."""
        def write(record: dict[str, Any]) -> None:
            self.write(part, record)
        return write

    def waiting_uploads(self) -> list[str]:
        return self.uploader.waiting()
