"""Plain scrapy-playwright over a fixed URL list: every page through Chromium, nothing archived, no page
actions, no parsing. The baseline for render.py; same browser, launch options and pages in flight as ours.

    python benchmarks/bare_render.py URLS_FILE OUT_JSON MAX_PAGES
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from scrapy import Request, Spider
from scrapy.crawler import CrawlerProcess
from scrapy.http import Response

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from crawler.browser import CHROMIUM_ARGS, find_browser, launch_options  # noqa: E402
from crawler.config import RenderConfig  # noqa: E402


class BareRenderSpider(Spider):
    name = "bare-render"

    def __init__(self, urls: list[str], out: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.urls, self.out, self.count, self.began = urls, out, 0, 0.0

    async def start(self) -> AsyncIterator[Request]:
        self.began = time.perf_counter()
        for url in self.urls:
            yield Request(url, callback=self.parse, dont_filter=True, meta={"playwright": True})

    def parse(self, response: Response) -> None:
        self.count += 1

    def closed(self, reason: str) -> None:
        elapsed = time.perf_counter() - self.began
        Path(self.out).write_text(json.dumps({"pages": self.count, "elapsed": elapsed}))


def main() -> None:
    urls = Path(sys.argv[1]).read_text().split()
    max_pages = int(sys.argv[3])
    config = RenderConfig.model_validate({
        "RENDER_ENABLED": True, "RENDER_BROWSER_PATH": "", "RENDER_MAX_PAGES": max_pages,
        "RENDER_CONTEXT_PAGES": 50, "RENDER_TIMEOUT": 30, "RENDER_SUBRESOURCE_MAX_BYTES": 0,
        "RENDER_SCREENSHOT": False})
    options = launch_options(find_browser(config), {})
    assert options["args"][:len(CHROMIUM_ARGS)] == CHROMIUM_ARGS
    handler = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"
    process = CrawlerProcess(settings={
        "LOG_LEVEL": "WARNING", "TELNETCONSOLE_ENABLED": False, "REMOTE_CONTROL_ENABLED": False,
        "ROBOTSTXT_OBEY": False, "CONCURRENT_REQUESTS": 16, "CONCURRENT_REQUESTS_PER_DOMAIN": 8,
        "DOWNLOAD_DELAY": 0, "HTTPERROR_ALLOW_ALL": True,
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "DOWNLOAD_HANDLERS": {"http": handler, "https": handler},
        "PLAYWRIGHT_LAUNCH_OPTIONS": options, "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": max_pages,
    })
    process.crawl(BareRenderSpider, urls=urls, out=sys.argv[2])
    process.start()


if __name__ == "__main__":
    main()
