"""robots.txt that cannot be fetched: one clear log line, not a traceback; in a distributed crawl, fetched once.

Scrapy's RobotsTxtMiddleware logs a robots.txt it could not download (host unreachable, DNS failure, a
refused address) as an ERROR with the whole traceback, once per host; the crawl then goes on as if the file
allowed everything, which the log does not say. This subclass says it in one line, and keeps the retry
middleware's "Gave up retrying" ERROR for the robots.txt request out of the log (that one line says it). The
robots.txt request itself is a requested URL like any other, so the crawl log has its entry and error too.
In a distributed crawl the first worker that needs a host's robots.txt fetches it and the others parse the
body it got (crawler/sharedstate.py), so it is requested once per crawl, as every other URL.
"""

from __future__ import annotations

import logging

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.http.request import NO_CALLBACK
from scrapy.robotstxt import RobotParser
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred

from crawler.distributed import distributed_of

logger = logging.getLogger(__name__)

ROBOTS = "robots_txt"  # request.meta: the robots.txt request of a host


class _RobotsRetryFilter(logging.Filter):
    """Drops the retry middleware's give-up line for robots.txt requests."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = record.args.get("request") if isinstance(record.args, dict) else None
        return not (isinstance(request, Request) and request.meta.get(ROBOTS))


_RETRY_LOGGER = logging.getLogger("scrapy.downloadermiddlewares.retry")


class QuietRobotsTxtMiddleware(RobotsTxtMiddleware):
    """RobotsTxtMiddleware whose download failures are one WARNING line each."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        if not any(isinstance(f, _RobotsRetryFilter) for f in _RETRY_LOGGER.filters):
            _RETRY_LOGGER.addFilter(_RobotsRetryFilter())
        distributed = distributed_of(crawler)
        self.shared = distributed.robots if distributed is not None else None  # fetched once per crawl

    async def robot_parser(self, request: Request) -> RobotParser | None:
        url = urlparse_cached(request)
        netloc = url.netloc
        if netloc not in self._parsers:
            self._parsers[netloc] = Deferred()
            robots_url = f"{url.scheme}://{netloc}/robots.txt"
            if self.shared is None or await self.shared.claim_host(netloc) or not await self._from_shared(
                    netloc, robots_url, request):
                await self._fetch(netloc, robots_url, request)
        parser = self._parsers[netloc]
        if isinstance(parser, Deferred):
            return await maybe_deferred_to_future(parser)
        return parser

    async def _fetch(self, netloc: str, robots_url: str, request: Request) -> None:
        robots = Request(robots_url, priority=self.DOWNLOAD_PRIORITY,
                         meta={"dont_obey_robotstxt": True, ROBOTS: True}, callback=NO_CALLBACK)
        try:
            response = await self.crawler.engine.download_async(robots)
        except Exception as exc:  # unreachable host, refused address: the crawl log has the details
            if not isinstance(exc, IgnoreRequest):
                logger.warning("robots.txt of %s not fetched (%s: %s): its URLs are fetched as if it allowed "
                               "everything", netloc, type(exc).__name__, exc)
            self._robots_error(exc, netloc)
            if self.shared is not None:
                await self.shared.publish(netloc, None, b"", {})
        else:
            if self.shared is not None:
                kind = (response.headers.get("Content-Type") or b"").decode("latin-1")
                await self.shared.publish(netloc, response.status, response.body, {"Content-Type": kind})
            await self._parse_robots(response, netloc, request)
        self._stats.inc_value("robotstxt/request_count")

    async def _from_shared(self, netloc: str, robots_url: str, request: Request) -> bool:
        """The robots.txt another worker of the crawl fetched; False when none came (then fetch it here)."""
        assert self.shared is not None
        got = await self.shared.wait_host(netloc)
        if got is None:
            return False
        status, body, headers = got
        self._stats.inc_value("robotstxt/shared")
        if status is None:
            self._robots_error(IgnoreRequest("robots.txt could not be fetched by the worker that tried"), netloc)
        else:
            await self._parse_robots(Response(robots_url, status=status, body=body, headers=headers), netloc,
                                     request)
        return True
