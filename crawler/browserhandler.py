"""scrapy-playwright's download handler, one per crawl and started beside it rather than before it.

As released, Scrapy builds one handler per scheme (two Playwright drivers, each a Node process, for
http and https) and awaits each handler's `engine_started` before the first request: the driver's start
(about a second here) delayed every static page of a crawl that renders only a few. Here both schemes share
one handler, the driver starts in the background, and only requests that need the browser wait for it.
Requests without `playwright` in their meta take Scrapy's own HTTP/1.1 path, as before.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.request
from typing import Any
from weakref import WeakKeyDictionary

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler

from crawler.browserguard import chromium_args, guard_proxy
from crawler.guard import current_policy, refused
from crawler.secrets import redact_url

logger = logging.getLogger(__name__)

_BY_CRAWLER: WeakKeyDictionary[Crawler, BrowserHandler] = WeakKeyDictionary()


class BrowserHandler(ScrapyPlaywrightDownloadHandler):  # type: ignore[misc]  # the package has no type hints
    """Shared by http and https; `ready()` is the driver's start, `prepare()` a browser and a context."""

    _starting: asyncio.Future[None] | None = None
    _closing: asyncio.Future[None] | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Any:  # Any: the parent's TypeVar signature
        handler = _BY_CRAWLER.get(crawler)
        if handler is None:
            handler = _BY_CRAWLER[crawler] = cls(crawler)
            handler._guard_connections()
        return handler

    def _guard_connections(self) -> None:
        """Every connection of the browser through the guard proxy (crawler/browserguard.py), unless the
        crawl goes through a proxy of the user's, which the browser then uses as requests do."""
        configured = {k: v for k, v in urllib.request.getproxies().items() if k in ("http", "https")}
        options = self.config.launch_options
        args = list(options.get("args", []))
        if any(a.startswith(("--proxy-server", "--proxy-pac-url")) for a in args) or options.get("proxy"):
            logger.warning("the browser's proxy is set in PLAYWRIGHT_LAUNCH_OPTIONS: its connections are that "
                           "proxy's to check, not the network policy's")
            return
        if configured:
            server = configured.get("https") or configured["http"]
            options["args"] = [*args, f"--proxy-server={server}"]
            logger.info("the browser goes through the configured proxy %s", redact_url(server))
            return
        from twisted.internet import reactor  # noqa: PLC0415 (importing it at module level installs a reactor)

        proxy = guard_proxy(current_policy, lambda kind: reactor.callFromThread(refused, "browser", kind))
        options["args"] = [*args, *chromium_args(proxy.port)]

    async def _maybe_launch_in_thread(self) -> None:  # the engine_started handler: do not hold the engine
        if self._starting is None:
            self._starting = asyncio.ensure_future(super()._maybe_launch_in_thread())

    async def ready(self) -> None:
        """Until the Playwright driver has started (or failed to: the error is raised here)."""
        if self._starting is None:  # engine_started not sent yet (a handler used on its own)
            await self._maybe_launch_in_thread()
        assert self._starting is not None
        await asyncio.shield(self._starting)

    async def prepare(self, context: str) -> None:
        """Launch the browser and open `context` now, so that the first rendered page does not wait."""
        await self.ready()
        await self._maybe_launch_browser()
        async with self.context_launch_lock:
            if context not in self.context_wrappers:
                await self._create_browser_context(name=context, context_kwargs=None)

    async def download_request(self, request: Request, *args: Any) -> Response:
        if request.meta.get("playwright"):
            await self.ready()
        response: Response = await super().download_request(request, *args)
        return response

    async def close(self) -> None:
        """Once, however many schemes share the handler; after a start still under way has finished."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close_once())
        await asyncio.shield(self._closing)

    async def _close_once(self) -> None:
        if self._starting is not None:
            try:
                await self._starting
            except Exception as exc:  # nothing started, but the HTTP/1.1 side still closes
                logger.debug("the browser driver never started: %s", exc)
        await super().close()
