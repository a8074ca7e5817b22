"""The content-decoding middleware: in place of Scrapy's HttpCompressionMiddleware (590), decoding bodies as a
stream bounded by DOWNLOAD_MAXSIZE (crawler/decoding.py says why Scrapy's is replaced). It also notes what the
wire already told: a body cut at DOWNLOAD_MAXSIZE or short of its framing, too many or too large headers.

A body that decodes past the limit goes on cut at the limit, one that cannot be decoded goes on as far as it
decoded, each with its reason noted in `request.meta["limits"]`: the verdict middleware makes it an `error`
and the crawl log logs and counts it. The capture middleware, closer to the download handler, has already
archived the body as it came off the wire.
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import NotConfigured
from scrapy.http import Response, TextResponse
from scrapy.responsetypes import responsetypes

from crawler import headerlimits
from crawler.capture import PASSED_ON, TRUNCATE_AT
from crawler.config import LimitConfig, limit_config
from crawler.decoding import decode, split_encodings
from crawler.limits import DATA_LOSS, DECODE_FAILED, HEADERS_TOO_LARGE, LIMITS, TOO_LARGE, TOO_MANY_HEADERS, note

logger = logging.getLogger(__name__)

ORDER = 590  # where HttpCompressionMiddleware was: after Redirect (600) has seen the raw 3xx hops
ACCEPT_ENCODING = b"gzip, deflate, br, zstd"


class ContentDecodingMiddleware:
    """Undoes Content-Encoding (gzip, deflate, br, zstd, chains of them) up to DOWNLOAD_MAXSIZE decoded bytes."""

    def __init__(self, crawler: Crawler, limits: LimitConfig) -> None:
        self.crawler, self.stats = crawler, crawler.stats
        self.retry = crawler.settings.getbool("RETRY_ENABLED")
        self.maxsize = crawler.settings.getint("DOWNLOAD_MAXSIZE")
        self.bomb_ratio, self.header_count, self.header_bytes = limits.bomb_ratio, limits.header_count, \
            limits.header_bytes

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ContentDecodingMiddleware:
        limits = limit_config(crawler.settings)
        headerlimits.install(limits.header_count, limits.header_bytes)  # bounded while they arrive, too
        if not crawler.settings.getbool("COMPRESSION_ENABLED"):
            raise NotConfigured("COMPRESSION_ENABLED is off")
        return cls(crawler, limits)

    def process_request(self, request: Request) -> None:
        request.meta.pop(LIMITS, None)  # a retry or redirect copies meta: this download starts with none
        request.headers.setdefault("Accept-Encoding", ACCEPT_ENCODING)

    def _retry(self, request: Request, response: Response) -> Request | None:
        """A body cut short of its framing, perhaps by chance, is tried again like a failed download
        (RETRY_TIMES), each attempt archived; the last is answered with what arrived. The crawl log says so,
        not the retry middleware's ERROR."""
        spider = self.crawler.spider
        if "dataloss" not in response.flags or not self.retry or spider is None or request.meta.get("dont_retry"):
            return None
        return get_retry_request(request, spider=spider, reason=DATA_LOSS, give_up_log_level=logging.DEBUG)

    def _check_framing(self, request: Request, response: Response) -> None:
        """What the wire already says: a body cut at the limit or short of its framing, a header flood."""
        if "download_stopped" in response.flags:
            note(request.meta, TOO_LARGE, f"body cut at {self._limit(request)} B (DOWNLOAD_MAXSIZE)")
        if "dataloss" in response.flags:
            note(request.meta, DATA_LOSS, f"connection closed after {len(response.body)} B, short of the framing")
        count = size = 0
        for name in response.headers:
            for value in response.headers.getlist(name):
                count, size = count + 1, size + len(name) + len(value) + 4  # "Name: value\r\n"
        if count > self.header_count:
            note(request.meta, TOO_MANY_HEADERS, f"{count} header lines (LIMIT_HEADER_COUNT {self.header_count})")
        if size > self.header_bytes:
            note(request.meta, HEADERS_TOO_LARGE, f"{size} B of headers (LIMIT_HEADER_BYTES {self.header_bytes})")

    def _limit(self, request: Request) -> int:
        """DOWNLOAD_MAXSIZE as this request has it (the capture middleware keeps it aside, see there)."""
        limit: Any = request.meta.get(TRUNCATE_AT) or request.meta.get("download_maxsize", self.maxsize)
        return int(limit or 0)

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if PASSED_ON & set(response.flags):
            return response
        again = self._retry(request, response)
        if again is not None:
            return again
        self._check_framing(request, response)
        values = response.headers.getlist("Content-Encoding")
        if not values or request.method == "HEAD":
            return response
        undo, unknown = split_encodings(values)
        if unknown:
            detail = f"Content-Encoding {', '.join(unknown)} is not one we can decode"
            note(request.meta, DECODE_FAILED, detail)
            logger.debug("%s: %s", response.url, detail)
            return response
        if not response.body:
            del response.headers["Content-Encoding"]
            return response
        decoded = decode(response.body, undo, self._limit(request), self.bomb_ratio)
        cut_before = "download_stopped" in response.flags or "dataloss" in response.flags
        if decoded.problem and not (decoded.problem == DATA_LOSS and cut_before):  # a cut body is already noted
            note(request.meta, decoded.problem, decoded.detail)
        self.stats.inc_value("decoding/responses")
        self.stats.inc_value("decoding/bytes", len(decoded.body))
        respcls = responsetypes.from_args(headers=response.headers, url=response.url, body=decoded.body)
        kwargs: dict[str, Any] = {"body": decoded.body}
        if issubclass(respcls, TextResponse):
            kwargs["encoding"] = None  # the charset is read again from the decoded body (as Scrapy does)
        decoded_response = response.replace(cls=respcls, **kwargs)
        del decoded_response.headers["Content-Encoding"]
        return decoded_response
