"""The `check` spider: fetch a given list of URLs once each, the way a crawl fetches articles.

Used by `scrapy soft404`; every fetch goes through the same middlewares as a news crawl (robots.txt, proxy
settings from the environment, archiving, the crawl log and its verdicts).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from scrapy import Request, Spider
from scrapy.http import Response


class CheckSpider(Spider):
    name = "check"

    def __init__(self, urls: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.urls = urls

    async def start(self) -> AsyncIterator[Request]:
        for url in self.urls:
            yield Request(url, callback=self.parse, errback=self.failed, meta={"kind": "article"}, dont_filter=True)

    def parse(self, response: Response) -> None:
        """Nothing to extract: the verdict is in the crawl log."""

    def failed(self, failure: Any) -> None:
        """Failures are logged by the crawl log middleware; nothing else to do."""
