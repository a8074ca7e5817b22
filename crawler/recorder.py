"""Archive what the browser saw: every HTTP exchange of a rendered page that replay needs.

Chromium's own network events give each response's status, its raw header lines (repeated ones included,
from the network stack, not a merged dict), the request headers actually sent and the server address. The
body Playwright hands over is decoded: the records say so by renaming `Content-Encoding` (and a
`Content-Length` that no longer matches) with pywb's `X-Archive-Orig-` prefix, so a replay tool never
inflates a body that is not compressed. Like Browsertrix, the status line says HTTP/1.1 whatever protocol
carried it: replay tools expect HTTP/1.x messages in the records.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page
from playwright.async_api import Request as BrowserRequest
from playwright.async_api import Response as BrowserResponse

from archive.service import ArchiveService
from archive.warc import Exchange, Written
from crawler.browserguard import current_guard_proxy
from crawler.capture import request_target, with_host
from crawler.guard import browser_may_fetch

logger = logging.getLogger(__name__)

# What a replay of the page needs; media streams, websockets, pings and beacons are left out.
ARCHIVED_TYPES = frozenset({"document", "xhr", "fetch", "script", "stylesheet", "image", "font", "manifest",
                            "other"})
ABORTED_TYPES = frozenset({"media", "websocket", "eventsource", "ping"})
SETTLE_SECONDS = 10.0  # waiting for bodies still in flight once the page actions are done
MAX_LISTED = 200  # subresource URLs named in the crawl log per page; all are in the WARC


async def abort_request(request: BrowserRequest) -> bool:
    """PLAYWRIGHT_ABORT_REQUEST: streams and beacons are neither needed to render a page nor replayable;
    and nothing the network policy refuses is fetched by the browser either (crawler/guard.py)."""
    return request.resource_type in ABORTED_TYPES or not await browser_may_fetch(request.url)


class PageRecorder:
    """Attached to one browser page: archives its exchanges as they finish, knows the page's own record."""

    def __init__(self, archiver: ArchiveService | None, max_bytes: int, count: Callable[[str], None]) -> None:
        self.archiver = archiver
        self.max_bytes = max_bytes
        self.count = count  # stats counter: count("render/subresources/skipped/too-big")
        self.page_record: Written | None = None  # the main frame's final document response
        self.records = 0
        self.loaded: list[str] = []  # URLs the page loaded that were archived, the page's own excepted
        self.screenshot: bytes | None = None
        self.clicks = 0
        self.context: Any = None  # the page's browser context, so the middleware can retire it
        self.in_flight = 0  # requests the page has sent and not yet finished: page actions wait for 0
        self._pending: set[asyncio.Task[None]] = set()

    async def attach(self, page: Page, request: Any) -> None:
        """PLAYWRIGHT_PAGE_INIT_CALLBACK-style hook: runs before the navigation starts."""
        self.context = page.context
        page.on("request", self._sent)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._ended)
        if self.archiver is not None:  # ARCHIVE_ENABLED off: the page is rendered, nothing is recorded
            page.on("response", self._on_response)

    def _sent(self, request: BrowserRequest) -> None:
        self.in_flight += 1

    def _ended(self, request: BrowserRequest) -> None:
        self.in_flight = max(0, self.in_flight - 1)

    def _on_response(self, response: BrowserResponse) -> None:
        task = asyncio.ensure_future(self._record(response))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def settle(self, timeout: float = SETTLE_SECONDS) -> None:
        """Wait for bodies still being read: the page is closed right after the page actions."""
        if not self._pending:
            return
        _, pending = await asyncio.wait(set(self._pending), timeout=timeout)
        for task in pending:
            task.cancel()
            self.count("render/subresources/unfinished")

    async def _record(self, response: BrowserResponse) -> None:
        request = response.request
        if not response.url.startswith(("http://", "https://")):
            return
        if request.resource_type not in ARCHIVED_TYPES:
            self.count("render/subresources/skipped/type")
            return
        try:
            exchange = await self._exchange(request, response)
        except PlaywrightError as exc:  # page closed, body evicted, navigation replaced it: count, go on
            self.count("render/subresources/unavailable")
            logger.debug("no body for %s: %s", response.url, exc)
            return
        if exchange is None:
            self.count("render/subresources/skipped/too-big")
            return
        assert self.archiver is not None
        written = await self.archiver.archive(exchange)
        self.records += 1
        self.count(f"archive/records/{written.record_type}")
        main_document = request.is_navigation_request() and request.frame.parent_frame is None
        if main_document and not 300 <= response.status < 400:
            self.page_record = written
        elif len(self.loaded) < MAX_LISTED:
            self.loaded.append(response.url)

    @staticmethod
    async def _server_address(response: BrowserResponse) -> str | None:
        """The server's address; Chromium names the guard proxy (crawler/browserguard.py) for every
        connection it relayed, which knows where that connection really went."""
        address = await response.server_addr()
        if address is None:
            return None
        guard = current_guard_proxy()
        if guard is not None and address.get("port") == guard.port and address.get("ipAddress") == "127.0.0.1":
            parts = urlsplit(response.url)
            return guard.address_of(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
        return address.get("ipAddress") or None

    async def _exchange(self, request: BrowserRequest, response: BrowserResponse) -> Exchange | None:
        received = [(h["name"], h["value"]) for h in await response.headers_array()]
        declared = next((v for n, v in received if n.lower() == "content-length"), "")
        if self.max_bytes and declared.isdigit() and int(declared) > self.max_bytes \
                and request.resource_type != "document":
            return None
        redirect = 300 <= response.status < 400
        body = b"" if redirect else await response.body()
        if self.max_bytes and len(body) > self.max_bytes and request.resource_type != "document":
            return None
        sent = with_host([(h["name"], h["value"]) for h in await request.headers_array()
                          if not h["name"].startswith(":")], response.url)
        ip_address = await self._server_address(response)
        started = request.timing.get("startTime", -1)  # ms since the epoch, when Chromium began the request
        return Exchange(
            url=response.url,
            method=request.method,
            request_line_target=request_target(response.url),
            request_headers=sent,
            request_body=request.post_data_buffer or b"",
            protocol="HTTP/1.1",
            status=response.status,
            response_headers=received,
            body=body,
            date=datetime.fromtimestamp(started / 1000, UTC) if started > 0 else datetime.now(UTC),
            ip_address=ip_address,
            decoded=True,
        )
