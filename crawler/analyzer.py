"""The page analysis middleware: every HTML response read once, in a worker process, for everyone after it.

Ordered on the engine side of Redirect and Retry and inside the classifier, the render decision and the
crawl log (crawler/addon.py): it sees each final response once, and leaves a `PageAnalysis` in
`request.meta["page_analysis"]` (title, fingerprint, outlinks, the page classifier's verdict, listing links, the
"load more" control, the extracted article). Nothing after it parses the page again.
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.http import Response

from archive.cdxj import media_type
from crawler.analysis import HTML_TYPES, PageAnalysis, PageRequest, analyze
from crawler.config import crawl_config, limit_config, pipeline_config
from crawler.kinds import ARTICLE_KINDS
from crawler.limits import UNREADABLE, PageLimits, noted
from crawler.workers import PageTimeoutError, WorkerPool, default_workers

logger = logging.getLogger(__name__)

PAGE = "page_analysis"  # request.meta: the PageAnalysis of the response
TOO_SLOW = "too-slow"  # the reason a page not read within CRAWL_PAGE_TIMEOUT is logged with


def mime_of(response: Response) -> str | None:
    value = response.headers.get(b"Content-Type")
    found = media_type(value.decode("latin-1") if value else None)
    return found.lower() if found else None


def _encoding(response: Response) -> str | None:
    return getattr(response, "encoding", None)  # TextResponse: headers, BOM, <meta>; cheap, computed once


class PageAnalysisMiddleware:
    """Parses each HTML response in the worker pool; the result goes in `request.meta["page_analysis"]`."""

    def __init__(self, crawler: Crawler, pool: WorkerPool, detect_language: bool = False,
                 limits: PageLimits | None = None) -> None:
        self.crawler, self.pool = crawler, pool
        self._site_json: str | None = None
        self.detect_language = detect_language
        self.limits = limits or PageLimits()  # LIMIT_PAGE_LINKS, LIMIT_TITLE_CHARS: what a worker keeps

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PageAnalysisMiddleware:
        config = crawl_config(crawler.settings)
        workers = default_workers() if config.page_workers < 0 else config.page_workers
        mw = cls(crawler, WorkerPool(workers, ["crawler.analysis"], config.page_timeout),
                 pipeline_config(crawler.settings).detect_language, limit_config(crawler.settings).page_limits())
        mw.pool.warm_up()  # in a thread, beside the rest of the crawler's start-up and the first fetches
        crawler.signals.connect(mw.spider_closed, signal=signals.spider_closed)
        return mw

    def _detect_language(self) -> bool:
        """Detect the language of articles in the worker only when the site declares none."""
        return self.detect_language and not getattr(getattr(self.crawler.spider, "site", None), "language", None)

    def _site(self) -> str | None:
        if self._site_json is None:
            site = getattr(self.crawler.spider, "site", None)
            self._site_json = site.model_dump_json() if site is not None and hasattr(site, "model_dump_json") \
                else ""
        return self._site_json or None

    async def process_response(self, request: Request, response: Response) -> Response:
        request.meta.pop(PAGE, None)  # an earlier response's (a static page sent on to the browser)
        if mime_of(response) not in HTML_TYPES:
            return response
        if UNREADABLE & set(noted(request.meta)):
            return response  # a bomb's first 32 MiB of zeros, a cut or undecodable body: nothing to read
        kind = request.meta.get("kind", "other")
        page = PageRequest(url=response.url, body=response.body, encoding=_encoding(response),
                           page=request.meta.get("page", 1), listing=kind == "section",
                           extract=kind in ARTICLE_KINDS and 200 <= response.status < 300, site_json=self._site(),
                           detect_language=self._detect_language(), limits=self.limits)
        # Listing pages first: their links feed the frontier, and a browser decision on one holds up its pages.
        request.meta[PAGE] = await self._analyze(page, priority=1 if page.listing else 0)
        return response

    async def _analyze(self, page: PageRequest, priority: int = 0) -> PageAnalysis:
        stats = self.crawler.stats
        try:
            analysis = await self.pool.run(analyze, page, priority=priority)
        except PageTimeoutError:
            stats.inc_value("analysis/timeout")
            return PageAnalysis(parsed=False, extract_error=TOO_SLOW)
        except Exception as exc:  # a worker killed by a hostile page: that page only
            stats.inc_value(f"analysis/failed/{type(exc).__name__}")
            logger.warning("reading %s failed: %s: %s", page.url, type(exc).__name__, exc)
            return PageAnalysis(parsed=False, extract_error=f"{type(exc).__name__}: {exc}")
        if analysis.extract_error:
            stats.inc_value("extract/failed")
        return analysis

    def spider_closed(self, spider: Spider) -> None:
        self.pool.close()


def analysis_of(request: Request | None) -> PageAnalysis | None:
    """The analysis of the response to `request`, when it was an HTML page."""
    found: Any = request.meta.get(PAGE) if request is not None else None
    return found if isinstance(found, PageAnalysis) else None
