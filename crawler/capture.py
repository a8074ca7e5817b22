"""Capture every HTTP exchange into the crawl's WARCs, as received.

A downloader middleware ordered closer to the download handler than HttpCompressionMiddleware (590) and
RedirectMiddleware (600): its `process_response` sees each response first, body still compressed as the
server sent it, every redirect hop, 404 and robots.txt included. The request headers it records are the
ones every earlier middleware (user agent, cookies, Accept-Encoding, proxy auth) has already set.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response

from archive.warc import Exchange
from crawler.config import archive_config
from crawler.run import CrawlRun

ORDER = 950  # after HttpCacheMiddleware (900): closest to the download handler


def _text(value: bytes) -> str:
    return value.decode("latin-1")  # HTTP header bytes, kept byte for byte


def exchange_from(request: Request, response: Response) -> Exchange:
    """What was sent and what came back, in WARC terms."""
    parts = urlsplit(response.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    sent = [(_text(name), _text(value)) for name, values in request.headers.items() for value in values]
    if not any(name.lower() == "host" for name, _ in sent):
        sent.insert(0, ("Host", parts.netloc))  # added by the HTTP client below Scrapy's middlewares
    received = [(_text(name), _text(value)) for name, values in response.headers.items() for value in values]
    return Exchange(
        url=response.url,
        method=request.method,
        request_line_target=target,
        request_headers=sent,
        request_body=request.body,
        protocol=response.protocol or "HTTP/1.1",
        status=response.status,
        response_headers=received,
        body=response.body,
        date=datetime.now(UTC),
        ip_address=str(response.ip_address) if response.ip_address else None,
    )


class WarcCaptureMiddleware:
    """Writes request + response (or revisit) records for every HTTP(S) response."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self._run: CrawlRun | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WarcCaptureMiddleware:
        if not archive_config(crawler.settings).enabled:
            raise NotConfigured("ARCHIVE_ENABLED is off")
        return cls(crawler)

    def process_response(self, request: Request, response: Response) -> Response:
        if not response.url.startswith(("http://", "https://")):
            return response
        run = self._run or CrawlRun.of(self.crawler)
        self._run = run
        archiver = run.archiver
        if archiver is None:
            return response
        written = archiver.archive(exchange_from(request, response))
        request.meta["warc"] = {"filename": written.filename, "offset": written.offset,
                                "length": written.length, "record_id": written.record_id}
        self.crawler.stats.inc_value(f"archive/records/{written.record_type}")
        return response
