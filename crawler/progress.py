"""A one-line progress display on a terminal (pages done, queue, rate); silent when not a terminal."""

from __future__ import annotations

import sys
import time
from typing import IO, Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import create_looping_call

from crawler.config import crawl_config

INTERVAL = 0.5


class Progress:
    """Extension: redraws `pages 120 | queue 34 | 45.2 pages/s | items 80 | failed 3` on stderr."""

    def __init__(self, crawler: Crawler, stream: IO[str]) -> None:
        self.crawler, self.stream = crawler, stream
        self.started = time.monotonic()
        self.task: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Progress:
        mode = crawl_config(crawler.settings).progress
        if mode == "off" or (mode == "auto" and not sys.stderr.isatty()):
            raise NotConfigured  # no message: being quiet off a terminal is the normal case, not a warning
        ext = cls(crawler, sys.stderr)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def line(self) -> str:
        stats = self.crawler.stats
        pages = stats.get_value("crawllog/entries", 0)
        queued = stats.get_value("scheduler/enqueued", 0) - stats.get_value("scheduler/dequeued", 0)
        failed = sum(v for k, v in stats.get_stats().items() if k.startswith("soft404/verdict/")
                     and k.rsplit("/", 1)[1] in ("not-found", "error", "blocked", "soft-404"))
        rate = pages / max(time.monotonic() - self.started, 1e-6)
        items = stats.get_value("pipelines/stored", 0)
        return f"pages {pages} | queue {queued} | {rate:.1f} pages/s | items {items} | failed {failed}"

    def draw(self) -> None:
        self.stream.write("\r\x1b[K" + self.line())
        self.stream.flush()

    def spider_opened(self) -> None:
        self.started = time.monotonic()
        self.task = create_looping_call(self.draw)
        self.task.start(INTERVAL, now=True)

    def spider_closed(self) -> None:
        if self.task is not None and self.task.running:
            self.task.stop()
        self.draw()
        self.stream.write("\n")
