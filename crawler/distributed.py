"""The Scrapy side of a distributed crawl (`CRAWL_FRONTIER = "redis"`): the scheduler and the idle rule.

Each worker is an ordinary `scrapy crawl` started with the same CRAWL_ID and REDIS_URL, on one machine or
many. The scheduler hands the engine what the frontier (crawler/frontier.py) popped for it and gives it
every request the spider yields; it never waits on Redis itself. A worker whose engine has nothing to do
stays open while any other worker still has work (new links may come of it), and closes when the frontier
says the crawl is over. Every worker writes its own WARCs, crawl-log and item parts (its name in the file
names) into the same crawl of the store; the last to finish writes `crawl.json` (crawler/run.py).
"""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass
from typing import Any

from scrapy import Request, Spider, signals
from scrapy.core.scheduler import BaseScheduler
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider, NotConfigured
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread

from crawler.config import crawl_config
from crawler.frontier import Frontier, FrontierOptions, default_worker_id
from crawler.sharedstate import SharedDigests, SharedProbes, SharedRobots, SharedSinks

logger = logging.getLogger(__name__)

SCHEDULER = "crawler.distributed.RedisScheduler"
EXTENSION = "crawler.distributed.FrontierIdle"


@dataclass(frozen=True)
class Distributed:
    """One worker's part in a distributed crawl: its frontier and what it shares with the others."""

    worker: str
    frontier: Frontier
    digests: SharedDigests
    probes: SharedProbes
    sinks: SharedSinks
    robots: SharedRobots

    @classmethod
    def from_settings(cls, settings: Any, crawl_id: str) -> Distributed | None:
        config = crawl_config(settings)
        if config.frontier != "redis":
            return None
        worker = config.worker or default_worker_id()
        concurrency = settings.getint("CONCURRENT_REQUESTS")
        frontier = Frontier(FrontierOptions(config.redis_url, crawl_id, worker, config.worker_timeout,
                                            prefetch=max(4, 2 * concurrency),
                                            redis_params=settings.getdict("REDIS_PARAMS")))
        prefix, client = frontier.options.prefix, frontier.redis
        return cls(worker, frontier, SharedDigests(client, prefix), SharedProbes(client, prefix, worker),
                   SharedSinks(client, prefix), SharedRobots(client, prefix, worker))


def distributed_of(crawler: Crawler) -> Distributed | None:
    from crawler.run import crawl_services  # noqa: PLC0415 (run.py builds it; a cycle at import time)

    return crawl_services(crawler).distributed


class RedisScheduler(BaseScheduler):
    """SCHEDULER for distributed crawls: the frontier's requests in, the spider's requests out."""

    def __init__(self, crawler: Crawler, frontier: Frontier) -> None:
        self.crawler, self.frontier = crawler, frontier
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RedisScheduler:
        distributed = distributed_of(crawler)
        if distributed is None:
            raise NotConfigured("RedisScheduler needs CRAWL_FRONTIER = redis")
        return cls(crawler, distributed.frontier)

    def open(self, spider: Spider) -> Deferred[None] | None:
        from twisted.internet import reactor  # noqa: PLC0415 (importing it at module level installs a reactor)

        self.frontier.on_dropped = lambda request: reactor.callFromThread(self._dropped, request)
        self.frontier.on_ready = lambda: reactor.callFromThread(self._wake)
        self.frontier.open(spider)
        return None

    def close(self, reason: str) -> Deferred[None] | None:
        gc.collect()  # requests the engine is done with but a reference cycle still holds: acknowledged too
        done: Deferred[None] = deferToThread(self.frontier.close)  # it pushes what it still holds first
        return done

    def has_pending_requests(self) -> bool:
        return self.frontier.pending()

    def enqueue_request(self, request: Request) -> bool:
        self.frontier.push(request)
        self.stats.inc_value("scheduler/enqueued/redis")
        return True  # the duplicate filter answers in the frontier's thread: `_dropped` when it says seen

    def next_request(self) -> Request | None:
        request = self.frontier.take()
        if request is not None:
            self.frontier.hold(request)
            self.stats.inc_value("scheduler/dequeued/redis")
        return request

    def _dropped(self, request: Request) -> None:
        """A request the shared duplicate filter had seen: what the engine does with a filtered request."""
        self.stats.inc_value("dupefilter/filtered")
        self.crawler.signals.send_catch_log(signals.request_dropped, request=request, spider=self.crawler.spider)

    def _wake(self) -> None:
        """Requests arrived from Redis while the engine waited: ask it for the next one now rather than at its
        next heartbeat (Scrapy has no public call for this)."""
        slot = getattr(self.crawler.engine, "_slot", None)
        nextcall = getattr(slot, "nextcall", None)
        if nextcall is not None:
            nextcall.schedule()


class FrontierIdle:
    """Keeps an idle worker open while the crawl has work anywhere; merges the frontier's counters."""

    def __init__(self, crawler: Crawler, frontier: Frontier) -> None:
        self.crawler, self.frontier = crawler, frontier

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FrontierIdle:
        distributed = distributed_of(crawler)
        if distributed is None:
            raise NotConfigured("not a distributed crawl")
        ext = cls(crawler, distributed.frontier)
        crawler.signals.connect(ext.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_idle(self, spider: Spider) -> None:
        gc.collect()  # requests the engine is done with but a reference cycle still holds: acknowledged now
        if self.frontier.done:
            logger.info("frontier: no work left in crawl %s for any worker", self.frontier.options.crawl_id)
            return
        self.frontier.set_idle()
        raise DontCloseSpider("other workers still have work, or Redis is unreachable")

    def spider_closed(self, spider: Spider) -> None:
        for key, count in self.frontier.drain_counts().items():
            self.crawler.stats.inc_value(key, count)
