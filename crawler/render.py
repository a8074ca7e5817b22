"""When and how a page goes through Chromium (scrapy-playwright), and what of it is archived.

The site config says per URL pattern: `render = "never" | "always" | "auto"`. Everything else stays on the
fast HTTP path. In `auto` mode every page is first fetched over HTTP; `AutoRenderMiddleware` decides from
the page analysis (crawler/analyzer.py) and the verdict whether the static HTML is enough. It is not when
the page is a script-built shell (the classifier's `needs-render`: little visible text, an app root or
scripts, no article markup), or when a section listing yields no article links or offers a "load more"
control. Such a page is requested again
through the browser; its crawl-log entry is written once, for the rendered page, and carries the decision.

In the browser (`RenderMiddleware`, `crawler/recorder.py`, `crawler/pageactions.py`) the page's own HTTP
exchange and its subresources become request/response records, the rendered DOM a `conversion` record that
refers to the page's response, and a full-page screenshot a `resource` record at `urn:screenshot:URL`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import HtmlResponse, Response
from scrapy.utils.defer import deferred_to_future
from scrapy_playwright.page import PageMethod
from twisted.internet.threads import deferToThread

from crawler.analysis import HTML_TYPES, PageAnalysis
from crawler.analyzer import PAGE, analysis_of, mime_of
from crawler.browser import BrowserNotFoundError, find_browser
from crawler.browserhandler import BrowserHandler
from crawler.capture import exchange_from
from crawler.config import render_config
from crawler.discovery import LinkKind
from crawler.pageactions import PageActions, run_actions
from crawler.recorder import PageRecorder
from crawler.run import crawl_services
from crawler.siteconfig import RenderRule, SiteConfig
from crawler.soft404.judge import VERDICT
from crawler.soft404.status import Verdict
from crawler.staticpage import StaticPage
from crawler.textutil import sha1_digest

logger = logging.getLogger(__name__)

RENDER = "render"  # request.meta and crawl-log key: {"mode", "reason", ...} for a page sent to the browser
RECORDER = "_render_recorder"
STATIC = "_render_static"  # the static page (on disk), answered instead if the browser fails on the page
RENDERABLE_KINDS = ("section", "article", "recheck", "other")
RENDER_PRIORITY = 100
SCREENSHOT_URI = "urn:screenshot:"
# The DOM gets its own target URI, as our metadata records do: a replay of the page at its timestamp must
# return what the server sent, not the browser's serialisation (cdxj-indexer does not index conversions;
# a CDXJ reader that does would otherwise find two captures of the page in the same second).
DOM_URI = "urn:dom:"


def _is_2xx_html(response: Response) -> bool:
    return 200 <= response.status < 300 and mime_of(response) in HTML_TYPES


class AutoRenderMiddleware:
    """The `auto` decision, on the static page the analysis has read: the request again, through the
    browser, when its static HTML is not the page. Ordered between the verdict and the crawl log, so a page
    sent to the browser gets its one crawl-log entry for the rendered page."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.spool = crawl_services(crawler).archive.spool  # where queued pages' static bodies wait
        config = render_config(crawler.settings)
        self.unavailable: str | None = None if config.enabled else "RENDER_ENABLED is off"
        if config.enabled:
            try:
                find_browser(config, crawler.settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS"))
            except BrowserNotFoundError as exc:
                self.unavailable = str(exc)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AutoRenderMiddleware:
        return cls(crawler)

    @property
    def site(self) -> SiteConfig | None:
        return getattr(self.crawler.spider, "site", None)

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        again = self.review(request, response)
        if again is None:
            return response
        static = await deferred_to_future(deferToThread(StaticPage.spill, response, self.spool))
        again.meta[STATIC] = static
        return again

    def review(self, request: Request, response: Response) -> Request | None:
        """The request again, through the browser, when its static HTML is not the page; else None."""
        site, page, kind = self.site, analysis_of(request), request.meta.get("kind", "other")
        verdict: Verdict | None = request.meta.get(VERDICT)
        if site is None or page is None or not page.parsed or verdict is None:
            return None
        if RENDER in request.meta or "playwright" in response.flags or "render-fallback" in response.flags:
            return None
        if kind not in RENDERABLE_KINDS or not _is_2xx_html(response):
            return None
        mode, rule = site.render_plan(response.url)
        if mode != "auto":
            return None
        reason, click = self._needs_browser(kind, page, verdict, rule)
        if reason is None:
            return None
        stats = self.crawler.stats
        if self.unavailable:
            request.meta[VERDICT] = Verdict(verdict.verdict, [*verdict.reasons, "render-unavailable"], verdict.score)
            request.meta[RENDER] = {"mode": "auto", "reason": reason, "rendered": False}
            stats.inc_value(f"render/skipped/{reason}")
            return None
        stats.inc_value(f"render/auto/{reason}")
        decision = {"mode": "auto", "reason": reason, "static_status": response.status,
                    "static_digest": sha1_digest(response.body)}
        if click:
            decision["click"] = click
        meta = {k: v for k, v in request.meta.items() if k not in (PAGE, VERDICT)}
        # Ahead of the queue: the browser is the slow path, and what the rendered page links to waits on it.
        return request.replace(dont_filter=True, priority=request.priority + RENDER_PRIORITY,
                               meta={**meta, RENDER: decision})

    @staticmethod
    def _needs_browser(kind: str, page: PageAnalysis, verdict: Verdict,
                       rule: RenderRule | None) -> tuple[str | None, str | None]:
        if kind != "section":
            return ("shell", None) if "needs-render" in verdict.reasons else (None, None)
        links = page.links or []
        if not any(link.kind is LinkKind.ARTICLE for link in links):
            return "empty-listing", None
        control = page.load_more
        if control and not any(link.kind is LinkKind.PAGINATION for link in links):
            return "load-more", None if rule and rule.click else control
        return None, None


class ContextPool:
    """Browser contexts used for a bounded number of pages each, then closed: cookies, caches and the
    renderer memory a long crawl accumulates go with them."""

    def __init__(self, pages_per_context: int) -> None:
        self.pages_per_context = pages_per_context
        self.generation = 0
        self.used = 0
        self.open: dict[str, int] = {}  # context name -> pages in flight

    @property
    def current(self) -> str:
        """The context the next page goes to, unless it is full: the one to open ahead of time."""
        return f"render-{self.generation}"

    def take(self) -> str:
        if self.used >= self.pages_per_context:
            self.generation, self.used = self.generation + 1, 0
        self.used += 1
        name = f"render-{self.generation}"
        self.open[name] = self.open.get(name, 0) + 1
        return name

    def give_back(self, name: str) -> bool:
        """True when the context is retired and its last page is done: time to close it."""
        self.open[name] = self.open.get(name, 1) - 1
        if self.open[name] <= 0 and name != f"render-{self.generation}":
            del self.open[name]
            return True
        return False


class RenderMiddleware:
    """Sends the pages that need it through Chromium and archives what the browser produced. Ordered just
    inside the crawl log (crawler/addon.py), so the entry is written for the rendered page, `warc` set."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.config = render_config(crawler.settings)
        self.contexts = ContextPool(self.config.context_pages)
        archive = crawl_services(crawler).archive
        self.archive = archive if archive.archiving else None
        self._launching: asyncio.Future[None] | None = None  # a reference keeps the task alive

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RenderMiddleware:
        config = render_config(crawler.settings)
        if not config.enabled:
            raise NotConfigured("RENDER_ENABLED is off")
        try:
            find_browser(config, crawler.settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS"))
        except BrowserNotFoundError as exc:
            logger.warning("pages that need a browser will not be rendered: %s", exc)
            raise NotConfigured(str(exc)) from None
        mw = cls(crawler)
        crawler.signals.connect(mw.engine_started, signal=signals.engine_started)
        return mw

    def engine_started(self) -> None:
        """Launch Chromium now, beside the first static fetches, rather than when the first page needs it:
        on a busy machine a launch takes seconds, and it would hold up the pages behind that page."""
        site: SiteConfig | None = getattr(self.crawler.spider, "site", None)
        if site is not None and site.may_render:
            self._launching = asyncio.ensure_future(self._launch_early(urlsplit(site.base_url).scheme))

    async def _launch_early(self, scheme: str) -> None:
        handler = self.crawler.engine.downloader.handlers._get_handler(scheme)
        if not isinstance(handler, BrowserHandler):
            return  # another handler (a user's own): the browser starts with the first rendered page
        try:
            await handler.prepare(self.contexts.current)
        except Exception as exc:  # the first rendered page launches it again and reports what fails
            self.crawler.stats.inc_value("render/early_launch_failed")
            logger.info("early browser launch failed: %s: %s", type(exc).__name__, exc)

    def process_request(self, request: Request) -> None:
        if request.meta.get("playwright") or request.meta.get("kind") not in RENDERABLE_KINDS:
            return
        site: SiteConfig | None = getattr(self.crawler.spider, "site", None)
        if site is None:
            return
        mode, rule = site.render_plan(request.url)
        decision = request.meta.get(RENDER)
        if decision is None:
            if mode != "always":
                return
            decision = request.meta[RENDER] = {"mode": "always", "reason": "rule" if rule else "site"}
        self._to_browser(request, decision, rule)

    def _to_browser(self, request: Request, decision: dict[str, Any], rule: RenderRule | None) -> None:
        recorder = PageRecorder(self.archive, self.config.subresource_max_bytes, self.crawler.stats.inc_value)
        actions = PageActions.from_rule(rule, decision.get("click"), self.config)
        request.meta.update({
            "playwright": True,
            "playwright_context": self.contexts.take(),
            "playwright_page_init_callback": recorder.attach,
            "playwright_page_methods": [PageMethod(run_actions, actions, recorder)],
            RECORDER: recorder,
        })
        self.crawler.stats.inc_value(f"render/pages/{decision['mode']}")

    async def process_response(self, request: Request, response: Response) -> Response:
        recorder: PageRecorder | None = request.meta.pop(RECORDER, None)
        if recorder is None or "playwright" not in response.flags:
            return response
        static: StaticPage | None = request.meta.pop(STATIC, None)
        if static is not None:
            await deferred_to_future(deferToThread(static.discard))
        await self._done_with(request, recorder)
        try:
            await self._archive_rendering(request, response, recorder)
        except Exception as exc:  # the DOM or screenshot could not be archived: counted, the page goes on
            logger.error("archiving the rendering of %s failed: %s: %s", request.url, type(exc).__name__, exc)
            self.crawler.stats.inc_value(f"render/archive_failed/{type(exc).__name__}")
        return response

    async def process_exception(self, request: Request, exception: Exception) -> Response | None:
        """The browser failed on the page: count it; in auto mode the static page is logged instead."""
        recorder: PageRecorder | None = request.meta.pop(RECORDER, None)
        if recorder is None:
            return None
        await self._done_with(request, recorder)
        self.crawler.stats.inc_value(f"render/failed/{type(exception).__name__}")
        logger.warning("rendering %s failed: %s: %s", request.url, type(exception).__name__, exception)
        static: StaticPage | None = request.meta.pop(STATIC, None)
        decision = request.meta.get(RENDER) or {}
        decision.update(rendered=False, error=f"{type(exception).__name__}: {exception}"[:500])
        fallback = await deferred_to_future(deferToThread(static.restore, request)) if static else None
        if fallback is None:
            return None
        return fallback.replace(flags=[*fallback.flags, "render-fallback"])

    async def _done_with(self, request: Request, recorder: PageRecorder) -> None:
        name = request.meta.get("playwright_context", "")
        if self.contexts.give_back(name) and recorder.context is not None:
            await recorder.context.close()
            self.crawler.stats.inc_value("render/contexts_closed")

    async def _archive_rendering(self, request: Request, response: Response, recorder: PageRecorder) -> None:
        """The rendered DOM (conversion) and the screenshot (resource), both pointing at the page's record."""
        archiver = self.archive
        decision = request.meta.setdefault(RENDER, {"mode": "always", "reason": "meta"})
        decision.update(rendered=True, records=recorder.records, clicks=recorder.clicks,
                        subresources=recorder.loaded)
        if archiver is None:
            return
        page = recorder.page_record
        if page is None and not isinstance(response, HtmlResponse):
            # A download (PDF, image) that never became a page: archive the body Playwright handed over.
            exchange = exchange_from(request, response)
            exchange.decoded = True
            request.meta["warc"] = (await archiver.archive(exchange)).location()
            return
        refers_to = page.record_id if page else None
        when = page.date if page else datetime.now(UTC)
        mime = f"text/html; charset={getattr(response, 'encoding', 'utf-8')}"
        conversion = await archiver.derived("conversion", DOM_URI + response.url, mime, response.body, when, refers_to)
        decision["conversion"] = conversion.location()
        if recorder.screenshot:
            shot = await archiver.derived("resource", SCREENSHOT_URI + response.url, "image/png", recorder.screenshot,
                                    when, refers_to)
            decision["screenshot"] = shot.location()
        if page is None:
            self.crawler.stats.inc_value("render/no_page_record")
        request.meta["warc"] = (page or conversion).location()
