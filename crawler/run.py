"""One crawl's identity and outputs: crawl id, store, crawl-log and item parts, and the manifest written last.

The crawl-log middleware, the store pipeline and the commands all reach the same `CrawlRun` through
`CrawlRun.of(crawler)`, so there is one writer per output and one list of stored objects for the manifest.
"""

from __future__ import annotations

import json
import logging
import platform
import shutil
import socket
import threading
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.utils.defer import deferred_to_future
from twisted.internet.threads import deferToThread

import crawler
from archive.archiver import Archiver
from archive.digests import DigestIndex
from archive.parts import PartWriter
from archive.recovery import recover
from archive.store import StoredObject, open_store
from archive.uploader import Uploader
from archive.warcfile import WarcFileWriter
from crawler.config import archive_config, crawl_config, store_config
from crawler.dates import iso_datetime

logger = logging.getLogger(__name__)

# Settings recorded in crawl.json: the ones that change what a crawl fetches or keeps.
MANIFEST_SETTINGS = (
    "USER_AGENT", "ROBOTSTXT_OBEY", "CONCURRENT_REQUESTS", "CONCURRENT_REQUESTS_PER_DOMAIN", "DOWNLOAD_DELAY",
    "AUTOTHROTTLE_ENABLED", "DOWNLOAD_TIMEOUT", "DOWNLOAD_MAXSIZE", "RETRY_TIMES", "STORE_URI", "CRAWL_ID",
)
VERSIONED = ("scrapy", "twisted", "trafilatura", "lxml", "w3lib", "feedparser", "warcio")


def _version(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


class CrawlRun:
    """Extension owning the crawl id, the store and the crawl's part writers."""

    def __init__(self, crawler_: Crawler) -> None:
        settings = crawler_.settings
        self.crawler = crawler_
        self.store_config = store_config(settings)
        config = crawl_config(settings)
        spider = crawler_.spider
        self.site: str = getattr(spider, "site_name", None) or (spider.name if spider else "crawl")
        self.started = datetime.now(UTC)
        self.crawl_id = config.crawl_id or f"{self.site}-{self.started:%Y%m%dT%H%M%SZ}"
        self.store = open_store(self.store_config.uri, self.store_config.s3_options())
        self.prefix = f"crawls/{self.crawl_id}"
        self.spool = self.store_config.spool_dir / self.crawl_id
        self.objects: list[StoredObject] = []
        self._objects_lock = threading.Lock()
        self.uploader = Uploader(self.store, self._stored, self._upload_failed)
        # Before new work: whatever earlier runs left in the spool goes to the store first (FIFO uploads).
        recovered = recover(self.store_config.spool_dir, self.uploader.submit, skip=self.crawl_id)
        if recovered:
            logger.warning("uploading %d files left in the spool by earlier runs", recovered)
            crawler_.stats.set_value("store/recovered_from_spool", recovered)
        self.log = self._writer("log")
        self.items = self._writer("items")
        self.dropped = self._writer("dropped")
        self.archive_config = archive_config(settings)
        self._archiver: Archiver | None = None
        self.manifest: dict[str, Any] | None = None

    @classmethod
    def from_crawler(cls, crawler_: Crawler) -> CrawlRun:
        run = cls(crawler_)
        crawler_.signals.connect(run.spider_closed, signal=signals.spider_closed)
        return run

    @classmethod
    def of(cls, crawler_: Crawler) -> CrawlRun:
        """The running crawl's CrawlRun (installed by the add-on)."""
        run = crawler_.get_extension(cls)
        if run is None:
            raise RuntimeError("CrawlRun is not installed: enable crawler.addon.PalimpsestAddon in ADDONS")
        return run

    def _writer(self, name: str) -> PartWriter:
        cfg = self.store_config
        return PartWriter(self.uploader.submit, f"{self.prefix}/{name}", self.spool / name, cfg.part_max_records,
                          cfg.part_max_bytes)

    def _stored(self, stored: StoredObject) -> None:
        with self._objects_lock:
            self.objects.append(stored)

    def _upload_failed(self, key: str, exc: Exception) -> None:
        self.crawler.stats.inc_value(f"store/upload_failed/{type(exc).__name__}")

    @property
    def archiver(self) -> Archiver | None:
        """The crawl's WARC archive (created on first use), or None when ARCHIVE_ENABLED is off."""
        if self._archiver is None and self.archive_config.enabled:
            cfg = self.archive_config
            writer = WarcFileWriter(self.spool / "warc", cfg.prefix, cfg.max_file_size, self._warcinfo(),
                                    self._store_warc, cfg.digest)
            self._archiver = Archiver(writer, self._digest_index() if cfg.dedup else None)
        return self._archiver

    def _digest_index(self) -> DigestIndex:
        """Payload digests of this store's earlier crawls, so their payloads are not archived again."""
        index = DigestIndex(self.spool / "digests.sqlite")
        loaded = 0
        for key in self.store.keys("crawls/"):
            if key.endswith(".cdxj") and "/cdxj/" in key and not key.startswith(self.prefix + "/"):
                loaded += index.load_cdxj(self.store.get_bytes(key).decode("utf-8").splitlines())
        logger.info("deduplicating against %d captures of earlier crawls", loaded)
        return index

    def _warcinfo(self) -> dict[str, str]:
        settings = self.crawler.settings
        return {
            "software": f"Palimpsest/{crawler.__version__} (Scrapy {_version('scrapy')}; warcio {_version('warcio')})",
            "hostname": socket.gethostname(),
            "isPartOf": self.crawl_id,
            "description": f"news crawl of site {self.site}",
            "robots": "obey" if settings.getbool("ROBOTSTXT_OBEY") else "ignore",
            "http-header-user-agent": str(settings.get("USER_AGENT")),
        }

    def _store_warc(self, warc: Path, cdxj: Path) -> None:
        """A closed WARC and its CDXJ go to the store as soon as rotation closes them."""
        self.uploader.submit(f"{self.prefix}/warc/{warc.name}", warc)
        self.uploader.submit(f"{self.prefix}/cdxj/{cdxj.name}", cdxj)

    def _clear_spool(self) -> None:
        """Remove the crawl's spool once every part has left it; anything still there is reported, kept."""
        left = [p for p in self.spool.rglob("*") if p.is_file()] if self.spool.exists() else []
        if left:
            logger.warning("files left in the spool %s: %s", self.spool, ", ".join(map(str, left)))
            return
        if self.spool.exists():
            shutil.rmtree(self.spool)

    async def spider_closed(self, spider: Spider, reason: str) -> None:
        """Close the parts, wait for every upload (in a thread), then write crawl.json last: its presence
        marks a complete crawl. Scrapy waits for this coroutine before it stops."""
        if self._archiver is not None:
            self._archiver.close()
            (self.spool / "digests.sqlite").unlink(missing_ok=True)  # a cache, rebuilt from CDXJ next time
        self.log.close()
        self.items.close()
        self.dropped.close()
        finished = datetime.now(UTC)
        await deferred_to_future(deferToThread(self._finish, spider, reason, finished))

    def _finish(self, spider: Spider, reason: str, finished: datetime) -> None:
        self.uploader.close()
        stats = {k: (iso_datetime(v) if isinstance(v, datetime) else v)
                 for k, v in sorted(self.crawler.stats.get_stats().items())}
        site = getattr(spider, "site", None)
        self.manifest = {
            "crawl_id": self.crawl_id,
            "site": self.site,
            "store_uri": self.store.uri,
            "started_at": iso_datetime(self.started),
            "finished_at": iso_datetime(finished),
            "finish_reason": reason,
            "site_config": site.model_dump() if site is not None and hasattr(site, "model_dump") else None,
            "settings": {k: self.crawler.settings.get(k) for k in MANIFEST_SETTINGS},
            "versions": {"palimpsest": crawler.__version__, "python": platform.python_version(),
                         **{d: _version(d) for d in VERSIONED}},
            "counts": {"log_entries": self.log.total_records, "items": self.items.total_records,
                       "dropped_items": self.dropped.total_records,
                       "revisits": self._archiver.revisits if self._archiver else 0},
            "stats": stats,
            "objects": [{"key": o.key, "size": o.size, "sha256": o.sha256} for o in self.objects],
        }
        body = json.dumps(self.manifest, ensure_ascii=False, indent=2, default=str).encode()
        self.store.put_bytes(f"{self.prefix}/crawl.json", body)
        self._clear_spool()
        logger.info("crawl %s stored in %s/%s", self.crawl_id, self.store.uri, self.prefix)
