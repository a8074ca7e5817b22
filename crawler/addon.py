"""The one Scrapy add-on that installs Palimpsest's components, each at its place in the chain."""

from __future__ import annotations

from scrapy.settings import BaseSettings

# Extensions: CrawlRun first, it owns the crawl id and the store every other component writes through.
EXTENSIONS = {
    "crawler.run.CrawlRun": 0,
    "crawler.progress.Progress": 900,
}
# Downloader middlewares: the crawl log sits on the engine side of Retry (550) and Redirect (600), so it sees
# each request's final outcome once, and after OffsiteMiddleware (50) so offsite filtering is logged too.
# WARC capture sits closest to the download handler (950): it sees raw bodies and every redirect hop.
DOWNLOADER_MIDDLEWARES = {
    "crawler.crawllog.CrawlLogMiddleware": 60,
    "crawler.capture.WarcCaptureMiddleware": 950,
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
