"""The `news` spider: one site config -> its sections (through pagination), feeds and sitemaps -> articles.

    scrapy crawl news -a site=NAME [-a base_url=http://mirror.example/]

Section listing pages are followed through pagination up to the configured page limit; sub-sections only
when they match `section_patterns`, up to `max_depth` hops. Articles are leaves: their links are not
followed, which (with date-archive detection in discovery) bounds calendar traps by construction.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

import feedparser
from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.robotstxt import RobotParser
from scrapy.utils.defer import deferred_to_future
from scrapy.utils.gz import gunzip
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots
from twisted.internet.threads import deferToThread

from crawler.analyzer import analysis_of
from crawler.browser import uninstall as uninstall_browser
from crawler.config import crawl_config
from crawler.discovery import Discovery, LinkKind
from crawler.items import ArticleItem
from crawler.secrets import cookie_pairs
from crawler.siteconfig import SiteConfig, load_site
from crawler.spiders.articles import build_item

logger = logging.getLogger(__name__)

MAX_SITEMAP_NESTING = 3
SITEMAP_MAX_BYTES = 50 * 1024 * 1024  # the sitemaps.org limit for one uncompressed sitemap
Callback = Callable[[Response], Any]


class NewsSpider(Spider):
    """Crawls one news site section by section."""

    name = "news"

    def __init__(self, site: SiteConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.site = site
        self.site_name = site.name
        self.allowed_domains = site.domains
        self.discovery = Discovery(site)
        self.site_tz = ZoneInfo(site.timezone)
        self._sitemaps_seen: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> NewsSpider:
        """Load the site config and apply its politeness before the settings freeze."""
        name = kwargs.pop("site", None)
        if not name:
            raise ValueError("the news spider needs a site: scrapy crawl news -a site=NAME")
        site = load_site(name, Path(crawl_config(crawler.settings).sites_dir))
        base_url = kwargs.pop("base_url", None)
        if base_url:
            site = site.with_base_url(base_url)
        settings = crawler.settings
        settings.set("ROBOTSTXT_OBEY", site.obey_robots, priority="spider")
        settings.set("DOWNLOAD_DELAY", site.politeness.delay, priority="spider")
        settings.set("CONCURRENT_REQUESTS_PER_DOMAIN", site.politeness.concurrency_per_host, priority="spider")
        settings.set("AUTOTHROTTLE_ENABLED", site.politeness.autothrottle, priority="spider")
        if not site.may_render:
            uninstall_browser(settings)  # no browser driver is started for a site that never renders
        spider = cls(site, *args, **kwargs)
        spider._set_crawler(crawler)
        crawler.signals.connect(spider.robots_parsed, signal=signals.robots_parsed)
        return spider

    async def start(self) -> AsyncIterator[Request]:
        for section in self.site.sections:
            yield self._listing_request(section.url, section.name, 1, hops=0)
        for url in self.site.feeds:
            yield self.request(url, self.parse_feed, {"kind": "feed"})
        for url in self.site.sitemaps:
            yield self._sitemap_request(url, nesting=0)
        if self.site.sitemap_from_robots and not self.settings.getbool("ROBOTSTXT_OBEY"):
            # With robots.txt obeyed, Scrapy fetches it anyway and `robots_parsed` hands us its Sitemap lines.
            robots = self.site.abs("/robots.txt")
            yield self.request(robots, self.parse_robots, {"kind": "other", "dont_obey_robotstxt": True})

    # --- requests ------------------------------------------------------------------------------------------

    def request(self, url: str, callback: Callback, meta: dict[str, Any],
                headers: dict[str, str] | None = None) -> Request:
        """A request of this site: the site config's `headers` first, then this request's own, which win.

        A configured `Cookie` also goes in as the request's cookies: with COOKIES_ENABLED, Scrapy's cookie
        middleware drops a hand-set Cookie header and sends what its jar holds, so the cookies go through
        the jar (with the server's own) and the header only counts when cookies are off."""
        merged = {**self.site.headers, **(headers or {})}
        cookie = next((value for name, value in merged.items() if name.lower() == "cookie"), None)
        return Request(url, callback=callback, meta=meta, headers=merged or None,
                       cookies=dict(cookie_pairs(cookie)) if cookie else None)

    def _listing_request(self, url: str, section: str, page: int, hops: int) -> Request:
        meta = {"kind": "section", "section": section, "page": page, "hops": hops}
        return self.request(url, self.parse_listing, meta)

    def _article_request(self, url: str, section: str | None) -> Request:
        return self.request(url, self.parse_article, {"kind": "article", "section": section})

    def _sitemap_request(self, url: str, nesting: int) -> Request:
        return self.request(url, self.parse_sitemap, {"kind": "sitemap", "nesting": nesting})

    # --- robots.txt ----------------------------------------------------------------------------------------

    def robots_parsed(self, robotparser: RobotParser, request: Request) -> None:
        """Sitemap lines of the robots.txt that Scrapy's RobotsTxtMiddleware fetched for our site."""
        if not self.site.sitemap_from_robots or not self.discovery.on_site(request.url):
            return
        protego = getattr(robotparser, "rp", None)  # ProtegoRobotParser, the default ROBOTSTXT_PARSER
        for url in getattr(protego, "sitemaps", ()):
            self.crawler.engine.crawl(self._sitemap_request(urljoin(request.url, url), nesting=0))

    def parse_robots(self, response: Response) -> Iterator[Request]:
        for url in sitemap_urls_from_robots(response.body, base_url=response.url):
            yield self._sitemap_request(url, nesting=0)

    # --- listings ------------------------------------------------------------------------------------------

    def parse_listing(self, response: Response) -> Iterator[Request]:
        meta = response.meta
        section, hops = meta["section"], meta["hops"]
        analysis = analysis_of(response.request)
        if analysis is None or analysis.links is None:  # not HTML, or nothing lxml could read
            self.crawler.stats.inc_value("discovery/unparsable_listing")
            return
        max_pages = self._max_pages(section)
        articles = 0
        for link in analysis.links:  # read from the page once, in the worker that parsed it
            self.crawler.stats.inc_value(f"discovery/links/{link.kind}")
            if link.kind is LinkKind.ARTICLE:
                articles += 1
                yield self._article_request(link.url, section)
            elif link.kind is LinkKind.PAGINATION and link.page and link.page <= max_pages:
                yield self._listing_request(link.url, section, link.page, hops)
            elif link.kind is LinkKind.SECTION and link.reason == "section-pattern" and hops < self.site.max_depth:
                yield self._listing_request(link.url, link.text or section, 1, hops + 1)
        if not articles:
            self.crawler.stats.inc_value("discovery/empty_listing")
            logger.info("no article links on listing page %s", response.url)

    def _max_pages(self, section_name: str) -> int:
        for section in self.site.sections:
            if section.name == section_name:
                return self.site.section_max_pages(section)
        return self.site.max_pages_per_section

    # --- feeds and sitemaps --------------------------------------------------------------------------------

    async def parse_feed(self, response: Response) -> AsyncIterator[Request]:
        # Parsed in a thread: a feed of thousands of entries holds the reactor for a noticeable while.
        feed = await deferred_to_future(deferToThread(feedparser.parse, response.body))
        if feed.bozo and not feed.entries:
            self.crawler.stats.inc_value("discovery/bad_feed")
            logger.warning("unreadable feed %s: %s", response.url, feed.get("bozo_exception"))
            return
        for entry in feed.entries:
            url = entry.get("link")
            if url and self.discovery.classify_url(url)[0] is not LinkKind.ELSEWHERE:
                yield self._article_request(url, None)

    async def parse_sitemap(self, response: Response) -> AsyncIterator[Request]:
        # Read in a thread: a sitemap holds up to 50,000 URLs (50 MB), gzip included.
        read = await deferred_to_future(deferToThread(self._read_sitemap, response.body, self.site.max_sitemap_urls))
        if read is None:
            self.crawler.stats.inc_value("discovery/bad_sitemap")
            logger.warning("unreadable sitemap %s", response.url)
            return
        kind, locations, truncated = read
        nesting = response.meta.get("nesting", 0)
        if kind == "sitemapindex":
            if nesting >= MAX_SITEMAP_NESTING:
                return
            for loc in locations:
                if loc not in self._sitemaps_seen and self.discovery.on_site(loc):
                    self._sitemaps_seen.add(loc)
                    yield self._sitemap_request(loc, nesting + 1)
            return
        if truncated:
            self.crawler.stats.inc_value("discovery/sitemap_truncated")
        for loc in locations:
            if self.discovery.classify_url(loc)[0] is not LinkKind.ELSEWHERE:
                yield self._article_request(loc, None)

    @classmethod
    def _read_sitemap(cls, raw: bytes, max_urls: int) -> tuple[str, list[str], bool] | None:
        """(type, the first `max_urls` locations, whether there were more), or None when unreadable."""
        body = cls._sitemap_body(raw)
        if body is None:
            return None
        sitemap = Sitemap(body)
        locations: list[str] = []
        for entry in sitemap:
            if len(locations) >= max_urls:
                return sitemap.type, locations, True
            locations.append(entry["loc"])
        return sitemap.type, locations, False

    @staticmethod
    def _sitemap_body(body: bytes) -> bytes | None:
        if body[:2] == b"\x1f\x8b":  # a .xml.gz served as a file, not with Content-Encoding
            try:
                body = gunzip(body, max_size=SITEMAP_MAX_BYTES)
            except OSError:
                return None
        return body if b"<urlset" in body[:2048] or b"<sitemapindex" in body[:2048] else None

    # --- articles ------------------------------------------------------------------------------------------

    async def parse_article(self, response: Response) -> AsyncIterator[ArticleItem]:
        entry = response.meta.get("crawl_log") or {}
        if entry.get("verdict") not in (None, "ok"):
            return  # dead, blocked or failed pages are logged and archived, never items
        if "needs-render" in entry.get("reasons", ()):
            self.crawler.stats.inc_value("extract/unrendered_shell")
            return  # an app shell no browser rendered: its static HTML has chrome and "Loading…", no story
        if entry.get("redirects") and self.discovery.classify_url(response.url)[0] is not LinkKind.ARTICLE:
            self.crawler.stats.inc_value("extract/redirected_off_article")
            return  # asked for an article, landed on a front page or elsewhere: not that article
        analysis = analysis_of(response.request)
        if analysis is not None and analysis.extract_error:
            logger.warning("extraction failed on %s: %s", response.url, analysis.extract_error)
            return  # counted by the page analysis
        item = build_item(self, response, entry, analysis.extracted if analysis is not None else None)
        if item is None:
            self.crawler.stats.inc_value("extract/no_text")
            return
        yield item
