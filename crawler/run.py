"""One crawl's identity and its archive service, built once per crawler, and the manifest written last.

`crawl_services(crawler)` builds the crawl's `CrawlServices` the first time a component's `from_crawler`
asks for it; each component keeps only what it needs of it (the capture middleware the archive service, the
store pipeline a sink for items, ...). The `CrawlRun` extension (installed first by the add-on) opens the
service when the crawler is built and, when the spider closes, closes it off the reactor and writes
`crawl.json`: `complete: false` with the keys still waiting in the spool when uploads gave up.
"""

from __future__ import annotations

import hashlib
import logging
import platform
import socket
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.utils.defer import deferred_to_future
from twisted.internet.threads import deferToThread

import crawler
from archive.manifest import store_manifest
from archive.service import ArchiveService, Outcome, ServiceOptions, WarcOptions
from archive.store import Store, open_store
from archive.uploader import store_one
from archive.warc import Exchange, Written, with_request_headers
from crawler.config import ArchiveConfig, archive_config, crawl_config, store_config
from crawler.crawlfinish import finish_crawl
from crawler.dates import iso_datetime
from crawler.distributed import Distributed
from crawler.errors import StoreError
from crawler.frontier import REDIS_ERRORS
from crawler.secrets import HeaderSecrets, redact, redact_url

logger = logging.getLogger(__name__)

# Settings recorded in crawl.json: the ones that change what a crawl fetches or keeps.
MANIFEST_SETTINGS = (
    "USER_AGENT", "ROBOTSTXT_OBEY", "CONCURRENT_REQUESTS", "CONCURRENT_REQUESTS_PER_DOMAIN", "DOWNLOAD_DELAY",
    "AUTOTHROTTLE_ENABLED", "DOWNLOAD_TIMEOUT", "DOWNLOAD_MAXSIZE", "RETRY_TIMES", "STORE_URI", "CRAWL_ID",
)
VERSIONED = ("scrapy", "twisted", "trafilatura", "lxml", "w3lib", "feedparser", "warcio")
_ATTRIBUTE = "_palimpsest_services"


def _version(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


@dataclass(frozen=True)
class CrawlIdentity:
    """Who this crawl is: what every log entry and item is stamped with."""

    crawl_id: str
    site: str
    started: datetime

    @property
    def prefix(self) -> str:
        return f"crawls/{self.crawl_id}"


class RedactingArchive(ArchiveService):
    """The archive service, taking configured credentials out of every exchange before it is queued.

    Here because this is where the site config is known: the capture middleware and the browser recorder
    hand over what was sent, and archive/warc.py writes what it is given (see `request_head`)."""

    def __init__(self, store: Store, options: ServiceOptions, secrets: HeaderSecrets) -> None:
        super().__init__(store, options)
        self.secrets = secrets

    async def archive(self, exchange: Exchange) -> Written:
        return await super().archive(with_request_headers(exchange, self.secrets.header))


@dataclass(frozen=True)
class CrawlServices:
    identity: CrawlIdentity
    store: Store
    archive: ArchiveService
    distributed: Distributed | None = None  # CRAWL_FRONTIER = redis: this worker's frontier and shared state


def digest_index_path(config: ArchiveConfig, store_uri: str) -> Path | None:
    """One index per store and digest algorithm (digests of two algorithms never match)."""
    if not config.dedup_index_dir:
        return None
    tag = hashlib.sha1(store_uri.rstrip("/").encode()).hexdigest()[:16]
    return Path(config.dedup_index_dir) / f"digests-{tag}-{config.digest}.sqlite"


def _warcinfo(crawler_: Crawler, identity: CrawlIdentity) -> dict[str, str]:
    settings = crawler_.settings
    return {
        "software": f"Palimpsest/{crawler.__version__} (Scrapy {_version('scrapy')}; warcio {_version('warcio')})",
        "hostname": socket.gethostname(),
        "isPartOf": identity.crawl_id,
        "description": f"news crawl of site {identity.site}",
        "robots": "obey" if settings.getbool("ROBOTSTXT_OBEY") else "ignore",
        "http-header-user-agent": str(settings.get("USER_AGENT")),
    }


def _build(crawler_: Crawler) -> CrawlServices:
    settings = crawler_.settings
    store_cfg, archive_cfg = store_config(settings), archive_config(settings)
    spider = crawler_.spider
    site: str = getattr(spider, "site_name", None) or (spider.name if spider else "crawl")
    started = datetime.now(UTC)
    # A spider other than the news crawl names itself in the default id (`demo-recheck-20261203T...`).
    tag = getattr(spider, "crawl_id_tag", None)
    default_id = f"{site}-{tag + '-' if tag else ''}{started:%Y%m%dT%H%M%SZ}"
    identity = CrawlIdentity(crawl_config(settings).crawl_id or default_id, site, started)
    store = open_store(store_cfg.uri, store_cfg.s3_options(), fsync=store_cfg.fsync)
    warc = None
    if archive_cfg.enabled:
        warc = WarcOptions(archive_cfg.prefix, archive_cfg.max_file_size, archive_cfg.digest, archive_cfg.dedup,
                           _warcinfo(crawler_, identity), digest_index_path(archive_cfg, store.uri))
    distributed = Distributed.from_settings(settings, identity.crawl_id)
    options = ServiceOptions(identity.crawl_id, store_cfg.spool_dir, store_cfg.part_max_records,
                             store_cfg.part_max_bytes, warc, store_cfg.uploader_options(),
                             queue_limit=archive_cfg.queue, fsync=store_cfg.fsync,
                             worker=distributed.worker if distributed else None,
                             shared_digests=distributed.digests if distributed else None)
    secrets = HeaderSecrets.configured(getattr(getattr(spider, "site", None), "headers", None) or {})
    archive = RedactingArchive(store, options, secrets)
    if distributed is not None:  # a request is done for Redis once its items and log entries are in the spool
        distributed.frontier.before_ack = archive.after_written
    return CrawlServices(identity, store, archive, distributed)


def crawl_services(crawler_: Crawler) -> CrawlServices:
    """The crawl's services, built on first use; call it from `from_crawler` only, and keep what you need."""
    services: CrawlServices | None = getattr(crawler_, _ATTRIBUTE, None)
    if services is None:
        services = _build(crawler_)
        setattr(crawler_, _ATTRIBUTE, services)
    return services


class CrawlRun:
    """Extension: opens the crawl's archive service, and closes it and writes the manifest at the end (and,
    with ARCHIVE_WACZ, the crawl's WACZ after it)."""

    def __init__(self, crawler_: Crawler, services: CrawlServices, wacz: bool = False) -> None:
        self.crawler = crawler_
        self.wacz = wacz
        self.identity, self.store, self.archive = services.identity, services.store, services.archive
        self.crawl_id, self.site, self.prefix = self.identity.crawl_id, self.identity.site, self.identity.prefix
        self.distributed = services.distributed
        self.manifest: dict[str, Any] | None = None
        self.outcome: Outcome | None = None

    @classmethod
    def from_crawler(cls, crawler_: Crawler) -> CrawlRun:
        run = cls(crawler_, crawl_services(crawler_), wacz=archive_config(crawler_.settings).wacz)
        run.archive.open()  # SpoolLockedError when another process runs this crawl id: nothing is touched
        crawler_.signals.connect(run.spider_closed, signal=signals.spider_closed)
        return run

    async def spider_closed(self, spider: Spider, reason: str) -> None:
        """Close the files and wait for uploads in a thread, then write crawl.json last: its presence marks
        a finished crawl, and `complete` says whether every file reached the store. Scrapy waits for this."""
        finished = datetime.now(UTC)
        outcome = await deferred_to_future(deferToThread(self.archive.close))
        self.outcome = outcome
        stats = self.crawler.stats
        counts = self.archive.counts.drain()
        if self.distributed is not None:
            counts.update(self.distributed.frontier.drain_counts())
        for key, count in counts.items():
            stats.inc_value(key, count)
        stats.set_value("store/waiting", len(outcome.waiting))
        self.manifest = self._manifest(spider, reason, finished, outcome)
        if self.distributed is None:
            await deferred_to_future(deferToThread(self._write_manifest, self.manifest))
            complete = bool(self.manifest["complete"])
        else:
            complete = await deferred_to_future(deferToThread(self._finish_worker, self.manifest))
        if self.wacz and complete:
            await deferred_to_future(deferToThread(self._store_wacz))
        self.archive.release()
        if outcome.waiting:
            logger.error("crawl %s is incomplete: %d files could not be stored in %s and wait in %s "
                         "(run `scrapy store-sync` when the store is back)", self.crawl_id, len(outcome.waiting),
                         redact_url(self.store.uri), self.archive.spool)
        else:
            logger.info("crawl %s stored in %s/%s", self.crawl_id, redact_url(self.store.uri), self.prefix)

    def _manifest(self, spider: Spider, reason: str, finished: datetime, outcome: Outcome) -> dict[str, Any]:
        """What the crawl was and did. Settings and the site config pass through crawler/secrets.py: a
        manifest is copied with the archive, and a credential in it would be in every copy."""
        stats = {k: (iso_datetime(v) if isinstance(v, datetime) else v)
                 for k, v in sorted(self.crawler.stats.get_stats().items())}
        site = getattr(spider, "site", None)
        extra: dict[str, Any] = getattr(spider, "manifest_fields", None) or {}  # `scrapy reprocess`: its sources
        return {
            "crawl_id": self.crawl_id,
            "site": self.site,
            "spider": spider.name,
            "store_uri": redact_url(self.store.uri),
            "started_at": iso_datetime(self.identity.started),
            "finished_at": iso_datetime(finished),
            "finish_reason": reason,
            "complete": outcome.complete,
            "waiting": outcome.waiting,
            "site_config": redact(site.model_dump()) if site is not None and hasattr(site, "model_dump") else None,
            "settings": redact({k: self.crawler.settings.get(k) for k in MANIFEST_SETTINGS}),
            "versions": {"palimpsest": crawler.__version__, "python": platform.python_version(),
                         **{d: _version(d) for d in VERSIONED}},
            "counts": {"log_entries": outcome.records.get("log", 0), "items": outcome.records.get("items", 0),
                       "dropped_items": outcome.records.get("dropped", 0), "revisits": outcome.revisits},
            "stats": stats,
            "objects": [{"key": o.key, "size": o.size, "sha256": o.sha256}
                        for o in sorted(outcome.objects, key=lambda o: o.key)],
            **extra,
        }

    def _store_wacz(self) -> None:
        """Package the finished crawl and store it at `wacz_key`; built in the crawl's spool under a dot name
        (recovery passes over dot files) while the spool is still locked. A failure costs the WACZ only: the
        crawl is stored and complete, and `scrapy wacz` can package it later."""
        from archive.wacz import WaczError, wacz_key, write_wacz  # noqa: PLC0415 (only when ARCHIVE_WACZ is on)

        stats = self.crawler.stats
        path = self.archive.spool / f".{self.crawl_id}.wacz"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            summary = write_wacz(self.store, self.crawl_id, path)
            store_one(self.store, wacz_key(self.crawl_id), path, **self.archive.options.uploads)
        except (WaczError, StoreError, OSError, ValueError, zipfile.BadZipFile) as exc:
            stats.inc_value("archive/wacz/failed")
            logger.error("crawl %s: its WACZ could not be made or stored (%s: %s); `scrapy wacz %s` can make "
                         "it later", self.crawl_id, type(exc).__name__, exc, self.crawl_id)
            path.unlink(missing_ok=True)
            return
        stats.inc_value("archive/wacz/stored")
        stats.set_value("archive/wacz/bytes", summary.bytes)
        logger.info("crawl %s packaged as %s/%s: %s", self.crawl_id, redact_url(self.store.uri),
                    wacz_key(self.crawl_id), summary.line())

    def _finish_worker(self, manifest: dict[str, Any]) -> bool:
        """A worker of a distributed crawl: its own manifest, then, if it is the last to leave, crawl.json
        (crawler/crawlfinish.py). True when this worker wrote a complete crawl.json."""
        assert self.distributed is not None
        worker, frontier = self.distributed.worker, self.distributed.frontier
        if frontier.finished_before and not frontier.finished_while_away:
            return False  # joined a crawl already over: nothing was fetched, nothing to say
        manifest["worker"] = worker
        store_manifest(self.store, self.prefix, self.archive.spool, manifest, name=f"workers/{worker}.json")
        if frontier.finished_while_away:
            return False  # its manifest is stored; `scrapy crawl-finish --force` merges it (frontier.py says)
        try:
            if not frontier.done:  # stopped before the crawl's end (SIGINT, a close condition): it can go on
                returned = frontier.return_held()
                remaining = frontier.leave()
                logger.warning("worker %s stopped before crawl %s was over (%s requests it held queued again); %s",
                               worker, self.crawl_id, returned, f"{remaining} workers go on" if remaining else
                               "start workers again to go on, or `scrapy crawl-finish` to end it here")
                return False
            remaining = frontier.leave()
            if remaining:
                logger.info("worker %s done; %d workers of crawl %s still run (the last writes crawl.json)",
                            worker, remaining, self.crawl_id)
                return False
            final = finish_crawl(self.store, frontier, self.archive.options.spool_root,
                                 self.archive.options.uploads, self.archive.spool)
        except (*REDIS_ERRORS, StoreError) as exc:
            logger.error("worker %s could not finish crawl %s (%s: %s): run `scrapy crawl-finish %s`", worker,
                         self.crawl_id, type(exc).__name__, exc, self.crawl_id)
            return False
        logger.info("worker %s was the last of crawl %s: crawl.json written (%d workers)", worker,
                    self.crawl_id, len(final["workers"]))
        return bool(final["complete"])

    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        store_manifest(self.store, self.prefix, self.archive.spool, manifest, self.archive.earlier_manifest)
