"""The spiders `scrapy reprocess` runs, every one named `reprocess` (kept out of crawler/spiders/, whose every
spider class Scrapy registers by name).

- a crawl of ours is re-run as it ran: `ReprocessNewsSpider` (sections, feeds, sitemaps, robots.txt, with the
  site config of its manifest) or `ReprocessRecheckSpider` (the URLs its log rechecked, with their sections);
- archive files with no manifest (other tools' WARCs, ARCs, WACZs): `ReprocessArchiveSpider` requests every
  http(s) URL they hold once, `kind: article` when crawler/discovery.py takes the URL for an article (its
  page is classified, probed and extracted as an article's) and `kind: other` otherwise (classified and
  logged). No link is followed: the archive is the frontier.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.http import Response

from crawler.discovery import LinkKind
from crawler.reprocessing import ReprocessPlan
from crawler.siteconfig import SiteConfig
from crawler.spiders.news import NewsSpider
from crawler.spiders.recheck import RecheckSpider

logger = logging.getLogger(__name__)

NAME = "reprocess"


def _prepare(crawler: Crawler, plan: ReprocessPlan) -> None:
    """What the news spider takes from its site config before the settings freeze, but politeness: nothing
    goes to the network (ReprocessAddon sets delay and concurrency). What indexing the sources found
    unreadable is counted with the captures found unreadable while answering (`reprocess/unreadable`)."""
    crawler.settings.set("ROBOTSTXT_OBEY", plan.site.obey_robots, priority="spider")

    def opened() -> None:
        for problem in plan.problems:
            logger.warning("unreadable archive: %s", problem)
        if plan.problems:
            crawler.stats.inc_value("reprocess/unreadable", len(plan.problems))
            crawler.stats.inc_value("reprocess/unreadable/indexing", len(plan.problems))

    crawler.signals.connect(opened, signal=signals.spider_opened, weak=False)


class ReprocessNewsSpider(NewsSpider):
    """The news spider over the archive: what the live crawl discovered, discovered again."""

    name = NAME
    crawl_id_tag = NAME

    def __init__(self, site: SiteConfig, plan: ReprocessPlan, **kwargs: Any) -> None:
        super().__init__(site, **kwargs)
        self.plan = plan
        self.manifest_fields = plan.manifest_fields()

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> ReprocessNewsSpider:
        plan: ReprocessPlan = kwargs.pop("plan")
        _prepare(crawler, plan)
        spider = cls(plan.site, plan, **kwargs)
        spider._set_crawler(crawler)
        crawler.signals.connect(spider.robots_parsed, signal=signals.robots_parsed)
        return spider


class ReprocessRecheckSpider(RecheckSpider):
    """The recheck spider over the archive: the URLs the source recheck fetched, nothing chosen anew."""

    name = NAME
    crawl_id_tag = NAME

    def __init__(self, site: SiteConfig, plan: ReprocessPlan, **kwargs: Any) -> None:
        super().__init__(site, **kwargs)
        self.plan = plan
        self.manifest_fields = plan.manifest_fields()

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> ReprocessRecheckSpider:
        plan: ReprocessPlan = kwargs.pop("plan")
        _prepare(crawler, plan)
        spider = cls(plan.site, plan, **kwargs)
        spider._set_crawler(crawler)
        return spider

    def choose(self) -> list[str]:
        self.sections = dict(self.plan.sections)
        return list(self.plan.urls)


class ReprocessArchiveSpider(ReprocessNewsSpider):
    """Every URL of the archive files, requested once."""

    def __init__(self, site: SiteConfig, plan: ReprocessPlan, **kwargs: Any) -> None:
        super().__init__(site, plan, **kwargs)
        self.allowed_domains = []  # every host of the archive is this run's

    async def start(self) -> AsyncIterator[Request]:
        """A 2xx HTML page is requested as an article (the classifier and the extractor decide what it is;
        a home page, or a URL discovery takes for a section or pagination, stays `other`), the rest as other."""
        self.crawler.stats.set_value("reprocess/urls", len(self.plan.urls))
        for url in self.plan.urls:
            kind = self.discovery.classify_url(url)[0]
            if url in self.plan.pages and urlsplit(url).path not in ("", "/") and \
                    kind not in (LinkKind.SECTION, LinkKind.PAGINATION):
                yield self.request(url, self.parse_article, {"kind": "article"})
            else:
                yield self.request(url, self.parse_other, {"kind": "other"})

    def parse_other(self, response: Response) -> Iterator[Any]:
        """Logged and classified by the middlewares; nothing to follow."""
        return iter(())

    def robots_parsed(self, robotparser: Any, request: Request) -> None:
        """Sitemaps are not followed: the archive is the frontier."""


SPIDERS: dict[str, type[NewsSpider]] = {"news": ReprocessNewsSpider, "recheck": ReprocessRecheckSpider,
                                        "archive": ReprocessArchiveSpider}
