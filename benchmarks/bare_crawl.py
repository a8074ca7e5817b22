"""A bare Scrapy crawl of a fixed URL list: no add-on, no pipelines, no parsing. The baseline for crawl.py.

    python benchmarks/bare_crawl.py URLS_FILE OUT_JSON
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from scrapy import Request, Spider
from scrapy.crawler import CrawlerProcess
from scrapy.http import Response


class BareSpider(Spider):
    name = "bare"

    def __init__(self, urls: list[str], out: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.urls, self.out, self.count, self.began = urls, out, 0, 0.0

    def request_meta(self) -> dict[str, Any]:
        return {}

    async def start(self) -> AsyncIterator[Request]:
        self.began = time.perf_counter()
        for url in self.urls:
            yield Request(url, callback=self.parse, dont_filter=True, meta=self.request_meta())

    def parse(self, response: Response) -> None:
        self.count += 1

    def closed(self, reason: str) -> None:
        elapsed = time.perf_counter() - self.began
        Path(self.out).write_text(json.dumps({"pages": self.count, "elapsed": elapsed}))


def main() -> None:
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")  # as settings/base.py: no download attempt
    urls = Path(sys.argv[1]).read_text().split()
    process = CrawlerProcess(settings={
        "LOG_LEVEL": "WARNING", "TELNETCONSOLE_ENABLED": False, "REMOTE_CONTROL_ENABLED": False,
        "ROBOTSTXT_OBEY": False, "CONCURRENT_REQUESTS": 16, "CONCURRENT_REQUESTS_PER_DOMAIN": 8,
        "DOWNLOAD_DELAY": 0, "HTTPERROR_ALLOW_ALL": True, "REDIRECT_ENABLED": False,
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    })
    process.crawl(BareSpider, urls=urls, out=sys.argv[2])
    process.start()


if __name__ == "__main__":
    main()
