"""scrapy-playwright over a fixed URL list, every page through Chromium, no parsing, no pipelines.

`plain`: nothing archived, no page actions: the baseline for render.py. `archive`: the same spider with our
RenderMiddleware, capture middleware and CrawlRun only, so the difference is what archiving what the browser
saw costs (exchanges, DOM, screenshot), without the crawl log, classifier and extraction of a full crawl.
Same browser, launch options and pages in flight either way.

    python benchmarks/bare_render.py URLS_FILE OUT_JSON MAX_PAGES plain|archive STORE_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.bare_crawl import BareSpider  # noqa: E402
from crawler.browser import CHROMIUM_ARGS, find_browser, launch_options  # noqa: E402
from crawler.config import RenderConfig  # noqa: E402
from crawler.siteconfig import SiteConfig  # noqa: E402


class BareRenderSpider(BareSpider):
    name = "bare-render"

    def __init__(self, urls: list[str], out: str, archive: bool, **kwargs: Any) -> None:
        super().__init__(urls, out, **kwargs)
        self.archive = archive
        # RenderMiddleware reads the render mode from the spider's site config: everything, always.
        self.site = SiteConfig(name="bench", base_url=urls[0], render="always", sections=[{"name": "x", "url": "/"}])

    def request_meta(self) -> dict[str, Any]:
        return {"kind": "article"} if self.archive else {"playwright": True}


def main() -> None:
    urls = Path(sys.argv[1]).read_text().split()
    max_pages, mode, store = int(sys.argv[3]), sys.argv[4], Path(sys.argv[5])
    config = RenderConfig.model_validate({
        "RENDER_ENABLED": True, "RENDER_BROWSER_PATH": "", "RENDER_MAX_PAGES": max_pages,
        "RENDER_CONTEXT_PAGES": 50, "RENDER_TIMEOUT": 30, "RENDER_SUBRESOURCE_MAX_BYTES": 5 * 1024 * 1024,
        "RENDER_SCREENSHOT": True})
    options = launch_options(find_browser(config), {})
    assert options["args"][:len(CHROMIUM_ARGS)] == CHROMIUM_ARGS
    handler = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"
    settings = Settings()
    if mode == "archive":
        settings.setmodule("settings.base", priority="project")
        settings.set("ADDONS", {}, priority="cmdline")
        settings.set("EXTENSIONS", {"crawler.run.CrawlRun": 0}, priority="cmdline")
        settings.set("DOWNLOADER_MIDDLEWARES", {"crawler.render.RenderMiddleware": 70,
                                                "crawler.capture.WarcCaptureMiddleware": 950}, priority="cmdline")
        settings.set("STORE_URI", f"file://{store}/store", priority="cmdline")
        settings.set("STORE_SPOOL_DIR", str(store / "spool"), priority="cmdline")
        settings.set("RENDER_MAX_PAGES", max_pages, priority="cmdline")
        settings.set("RENDER_SCREENSHOT", "noshot" not in sys.argv[6:], priority="cmdline")
    settings.setdict({
        "LOG_LEVEL": "WARNING", "TELNETCONSOLE_ENABLED": False, "REMOTE_CONTROL_ENABLED": False,
        "ROBOTSTXT_OBEY": False, "CONCURRENT_REQUESTS": 16, "CONCURRENT_REQUESTS_PER_DOMAIN": 8,
        "DOWNLOAD_DELAY": 0, "HTTPERROR_ALLOW_ALL": True,
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "DOWNLOAD_HANDLERS": {"http": handler, "https": handler},
        "PLAYWRIGHT_LAUNCH_OPTIONS": options, "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": max_pages,
        "PLAYWRIGHT_ABORT_REQUEST": "crawler.recorder.abort_request",
    }, priority="cmdline")
    process = CrawlerProcess(settings=settings)
    process.crawl(BareRenderSpider, urls=urls, out=sys.argv[2], archive=mode == "archive")
    process.start()


if __name__ == "__main__":
    main()
