"""Response headers bounded while they arrive, not only once they have all arrived.

Twisted's HTTP client keeps every header line until the blank line that ends them, with no limit on their
number or total size (only 16 KiB per line): a server sending header lines forever grew one crawl past 3 GB
before DOWNLOAD_TIMEOUT. The content-decoding middleware notes headers over LIMIT_HEADER_COUNT /
LIMIT_HEADER_BYTES on responses that completed (archived as received, verdict `error`); this guard stops a
response whose headers reach 4 times the byte limit (64 times the line limit), in the parser, so memory
stays bounded. Such
a response never existed as a whole: it fails as `too-many-headers` / `headers-too-large` with nothing to
archive (as a connection that closes inside its headers does).

Installed process-wide on Twisted's client parser (one crawl per process), by the middleware that knows
the limits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.web import _newclient

from crawler.limits import HEADERS_TOO_LARGE, TOO_MANY_HEADERS

HARD_FACTOR = 4  # bytes: 4 x LIMIT_HEADER_BYTES (1 MiB by default) held at most, whatever the server sends
COUNT_FACTOR = 64  # lines: many short lines cost little each; the bytes bound them first in practice


class HeaderLimitError(Exception):
    """The response's headers went past HARD_FACTOR x the limits while arriving; `reason` names which."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class _Limits:
    count = 500 * COUNT_FACTOR
    size = 256 * 1024 * HARD_FACTOR


_limits = _Limits()


def _bounded(original: Callable[..., None]) -> Callable[..., None]:
    def line_received(self: Any, line: bytes) -> None:
        if self.state in (_newclient.STATUS, _newclient.HEADER):
            seen = getattr(self, "_palimpsest_header_lines", 0) + 1
            size = getattr(self, "_palimpsest_header_bytes", 0) + len(line) + 1
            self._palimpsest_header_lines, self._palimpsest_header_bytes = seen, size
            if seen > _limits.count:
                raise HeaderLimitError(TOO_MANY_HEADERS, f"more than {_limits.count} header lines: the response "
                                                         "was dropped while its headers arrived")
            if size > _limits.size:
                raise HeaderLimitError(HEADERS_TOO_LARGE, f"more than {_limits.size} B of headers: the response "
                                                          "was dropped while its headers arrived")
        original(self, line)
    line_received.palimpsest_bounded = True  # type: ignore[attr-defined]
    return line_received


def _parsers() -> list[type]:
    """Twisted's client parser, and Scrapy's lenient one (Scrapy 2.13+), which has a lineReceived of its own."""
    found: list[type] = [_newclient.HTTPClientParser]
    try:
        from scrapy.core.downloader.handlers.http11 import _LenientHTTPClientParser  # noqa: PLC0415
    except ImportError:
        return found
    return [*found, _LenientHTTPClientParser]


def install(count: int, size: int) -> None:
    """Bound header lines and bytes at COUNT_FACTOR x LIMIT_HEADER_COUNT and HARD_FACTOR x LIMIT_HEADER_BYTES."""
    _limits.count, _limits.size = count * COUNT_FACTOR, size * HARD_FACTOR
    for parser in _parsers():
        current = parser.lineReceived  # type: ignore[attr-defined]
        if not getattr(current, "palimpsest_bounded", False):
            parser.lineReceived = _bounded(current)  # type: ignore[attr-defined]
