"""`scrapy demo`: start the bundled sample news web, crawl it with settings/sites/demo.toml, summarise.

Everything runs offline on loopback; `-s STORE_URI=...` sends the crawl elsewhere.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from scrapy.commands import ScrapyCommand
from scrapy.settings import SETTINGS_PRIORITIES

from archive.store import open_store
from crawler.browser import describe
from crawler.config import render_config, store_config
from crawler.errors import ConfigError
from crawler.preflight import check
from crawler.run import CrawlRun
from crawler.secrets import redact_config_error
from crawler.spiders.news import NewsSpider
from crawler.summary import summarize


class Command(ScrapyCommand):
    requires_project = True

    def short_desc(self) -> str:
        return "Crawl the bundled sample news web into the store and print where everything went"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--state", type=int, choices=(1, 2), default=1, help="state of the sample web")

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        assert self.settings is not None
        if (self.settings.getpriority("LOG_LEVEL") or 0) < SETTINGS_PRIORITIES["cmdline"]:
            # The demo's output is its summary; Scrapy's INFO chatter stays available with -L INFO.
            self.settings.set("LOG_LEVEL", "WARNING", priority="cmdline")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        # The sample web lives with the tests that define it; only the demo needs it.
        from tests.fixtureweb.process import FixtureWeb  # noqa: PLC0415

        assert self.crawler_process is not None
        try:
            check(self.settings, {"site": "demo"})
        except ConfigError as exc:
            print(f"configuration error:\n{redact_config_error(str(exc))}", file=sys.stderr)
            self.exitcode = 2
            return
        with FixtureWeb(state=opts.state) as web:
            print(f"sample news web on {web.base_url} (state {opts.state})", file=sys.stderr)
            settings = self.crawler_process.settings
            print(describe(render_config(settings), settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS")), file=sys.stderr)
            crawler = self.crawler_process.create_crawler(NewsSpider)
            self.crawler_process.crawl(crawler, site="demo", base_url=web.base_url + "/")
            self.crawler_process.start()
        run: Any = crawler.get_extension(CrawlRun) if crawler.extensions else None
        if run is None or run.manifest is None:
            self.exitcode = 1
            print("the demo crawl did not finish; see the log above", file=sys.stderr)
            return
        store = open_store(store_config(self.settings).uri)
        print(summarize(store, run.crawl_id))
