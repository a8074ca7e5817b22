"""Capture every HTTP exchange into the crawl's WARCs, as received.

A downloader middleware ordered closer to the download handler than HttpCompressionMiddleware (590) and
RedirectMiddleware (600): its `process_response` sees each response first, body still compressed as the
server sent it, every redirect hop, 404 and robots.txt included. The request headers it records are the
ones every earlier middleware (user agent, cookies, Accept-Encoding, proxy auth) has already set.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured, StopDownload
from scrapy.http import Response

from archive.service import ArchiveService
from archive.warc import Exchange
from crawler.config import archive_config
from crawler.run import crawl_services

logger = logging.getLogger(__name__)

ORDER = 950  # after HttpCacheMiddleware (900): closest to the download handler
TRUNCATE_AT = "archive_truncate_at"  # request.meta: the body size at which the capture cuts the body
RECEIVED = "archive_bytes_received"
FIRST_BYTES = "archive_first_bytes"  # request.meta: when the first body bytes of this download arrived
# Not off the wire: the browser's DOM (its exchanges are archived by crawler/recorder.py), or a static page
# already archived, answered again because rendering it failed.
PASSED_ON = {"playwright", "render-fallback"}


def _text(value: bytes) -> str:
    return value.decode("latin-1")  # HTTP header bytes, kept byte for byte


def request_target(url: str) -> str:
    """The request line's target: path and query, as sent."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def with_host(sent: list[tuple[str, str]], url: str) -> list[tuple[str, str]]:
    """The Host header the HTTP client adds below what we can see (Scrapy's middlewares, HTTP/2's :authority)."""
    if any(name.lower() == "host" for name, _ in sent):
        return sent
    return [("Host", urlsplit(url).netloc), *sent]


def download_began(request: Request) -> datetime:
    """When the request went out: Scrapy's `download_latency` (request sent -> headers received) back from
    when the first body bytes arrived; what a queued request waited in its download slot is not counted."""
    latency = request.meta.get("download_latency")
    reference = request.meta.get(FIRST_BYTES) or time.time()
    began = reference - latency if isinstance(latency, int | float) else reference
    return datetime.fromtimestamp(began, UTC)


def exchange_from(request: Request, response: Response) -> Exchange:
    """What was sent and what came back, in WARC terms. WARC-Date is when the download began (WARC 1.1:
    "the instant that data capture for record creation began"), not when the record was written."""
    sent = with_host([(_text(name), _text(value)) for name, values in request.headers.items() for value in values],
                     response.url)
    received = [(_text(name), _text(value)) for name, values in response.headers.items() for value in values]
    return Exchange(
        url=response.url,
        method=request.method,
        request_line_target=request_target(response.url),
        request_headers=sent,
        request_body=request.body,
        protocol=response.protocol or "HTTP/1.1",
        status=response.status,
        response_headers=received,
        body=response.body,
        date=download_began(request),
        ip_address=str(response.ip_address) if response.ip_address else None,
    )


class WarcCaptureMiddleware:
    """Writes request + response (or revisit) records for every HTTP(S) response.

    DOWNLOAD_MAXSIZE is enforced here rather than by the download handler, which would drop an oversized
    response whole: the body is cut at the limit and archived with `WARC-Truncated: length`. A body the
    connection cut short of its framing is archived as far as it came, with `WARC-Truncated: disconnect`.
    """

    def __init__(self, crawler: Crawler, archive: ArchiveService) -> None:
        self.crawler = crawler
        self.archive = archive
        self.maxsize = crawler.settings.getint("DOWNLOAD_MAXSIZE")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WarcCaptureMiddleware:
        if not archive_config(crawler.settings).enabled:
            raise NotConfigured("ARCHIVE_ENABLED is off")
        mw = cls(crawler, crawl_services(crawler).archive)
        crawler.signals.connect(mw.bytes_received, signal=signals.bytes_received)
        return mw

    def process_request(self, request: Request) -> None:
        request.meta[RECEIVED] = 0  # a retry or redirect copies meta: count this download from zero
        request.meta.pop(FIRST_BYTES, None)
        limit = request.meta.get("download_maxsize", self.maxsize)
        if limit and TRUNCATE_AT not in request.meta:
            request.meta[TRUNCATE_AT] = limit
            request.meta["download_maxsize"] = 0  # the handler would discard the body; we cut it instead
        # A body short of its framing (Content-Length, broken chunks) would be dropped with an exception: it is
        # kept, archived as `WARC-Truncated: disconnect`, and its verdict is `error` with `data-loss`.
        request.meta.setdefault("download_fail_on_dataloss", False)

    def bytes_received(self, data: bytes, request: Request) -> None:
        request.meta.setdefault(FIRST_BYTES, time.time())
        limit = request.meta.get(TRUNCATE_AT)
        if not limit:
            return
        received = request.meta.get(RECEIVED, 0) + len(data)
        request.meta[RECEIVED] = received
        if received > limit:
            raise StopDownload(fail=False)  # Scrapy hands on the response with the body received so far

    async def process_response(self, request: Request, response: Response) -> Response:
        if not response.url.startswith(("http://", "https://")) or PASSED_ON & set(response.flags):
            return response
        exchange = exchange_from(request, response)
        limit = request.meta.get(TRUNCATE_AT)
        if "download_stopped" in response.flags and limit:
            exchange.body, exchange.truncated = exchange.body[:limit], "length"
            self.crawler.stats.inc_value("archive/truncated")
        elif "dataloss" in response.flags:
            exchange.truncated = "disconnect"
        try:
            written = await self.archive.archive(exchange)  # in the writer thread; we wait, the reactor does not
        except Exception as exc:  # disk full, spool gone: this record is lost, counted, and the page goes on
            logger.error("cannot archive %s: %s", response.url, exc)  # counted by the archive service
            return response
        request.meta["warc"] = written.location()
        self.crawler.stats.inc_value(f"archive/records/{written.record_type}")
        return response
