"""The one Scrapy add-on that installs Palimpsest's components, each at its place in the chain."""

from __future__ import annotations

from scrapy.settings import BaseSettings

from crawler import browser, distributed
from crawler.config import render_config

# Extensions: CrawlRun first, it owns the crawl id and the store every other component writes through.
EXTENSIONS = {
    "crawler.run.CrawlRun": 0,
    "crawler.progress.Progress": 900,
}
# Downloader middlewares, each with one job. On the engine side of Retry (550) and Redirect (600), so they
# see each request's final outcome once, and after OffsiteMiddleware (50) so offsite filtering is logged too.
# A response passes them from the highest order to the lowest: WARC capture closest to the download handler
# (950: raw bodies, every redirect hop); rendering (70: the browser's records); the page analysis (66: the
# page parsed once, in a worker process); the verdict (64: redirects, page, host probes); the render decision
# (62: the page again through the browser, before anything is logged); the crawl log (60: one entry).
# Four of Scrapy's are replaced by subclasses or equivalents at their orders (crawler/limits.py): robots.txt
# failures in one line (100), redirect loops and over-long chains answered instead of dropped (580, 600), and
# content decoding bounded by DOWNLOAD_MAXSIZE as a stream (590).
DOWNLOADER_MIDDLEWARES: dict[str, int | None] = {
    "crawler.crawllog.CrawlLogMiddleware": 60,
    "crawler.render.AutoRenderMiddleware": 62,
    "crawler.soft404.judge.VerdictMiddleware": 64,
    "crawler.analyzer.PageAnalysisMiddleware": 66,
    "crawler.render.RenderMiddleware": 70,
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "crawler.robots.QuietRobotsTxtMiddleware": 100,
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
    "crawler.redirects.BoundedMetaRefreshMiddleware": 580,
    "scrapy.downloadermiddlewares.httpcompression.HttpCompressionMiddleware": None,
    "crawler.compression.ContentDecodingMiddleware": 590,
    "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": None,
    "crawler.redirects.BoundedRedirectMiddleware": 600,
    "crawler.capture.WarcCaptureMiddleware": 950,
    "crawler.guard.NetworkGuardMiddleware": 990,  # last before the handler: after proxies (750) are known
}
ITEM_PIPELINES = {
    "pipelines.clean.CleanPipeline": 100,
    "pipelines.validate.ValidatePipeline": 200,
    "pipelines.dedup.DedupPipeline": 300,
    "pipelines.store.StorePipeline": 900,
}


class PalimpsestAddon:
    """Enable with ADDONS = {"crawler.addon.PalimpsestAddon": 0} (settings/base.py does)."""

    def update_settings(self, settings: BaseSettings) -> None:
        for name, components in (("EXTENSIONS", EXTENSIONS), ("DOWNLOADER_MIDDLEWARES", DOWNLOADER_MIDDLEWARES),
                                 ("ITEM_PIPELINES", ITEM_PIPELINES)):
            for path, order in components.items():
                settings[name].set(path, order, priority="addon")
        if settings.get("CRAWL_FRONTIER") == "redis":  # a distributed crawl (crawler/distributed.py)
            settings.set("SCHEDULER", distributed.SCHEDULER, priority="addon")
            settings["EXTENSIONS"].set(distributed.EXTENSION, 10, priority="addon")
        install_browser(settings)


def install_browser(settings: BaseSettings) -> None:
    """scrapy-playwright's download handler, when rendering is on and a Chromium is there to launch."""
    config = render_config(settings)
    if not config.enabled:
        return
    try:
        found = browser.find_browser(config, settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS"))
    except browser.BrowserNotFoundError:
        return  # RenderMiddleware says so once, and the crawl log marks the pages it could not render
    browser.install(settings, config, found)
