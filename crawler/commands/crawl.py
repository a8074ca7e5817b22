"""`scrapy crawl`, with our settings and the site config checked first: a bad value prints one line
naming the key and the file, and exits with status 2 instead of a traceback from deep inside Scrapy."""

from __future__ import annotations

import argparse
import sys

from scrapy.commands.crawl import Command as ScrapyCrawlCommand

from crawler.errors import ConfigError
from crawler.preflight import check


class Command(ScrapyCrawlCommand):
    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        try:
            check(self.settings, opts.spargs)
        except ConfigError as exc:
            print(f"configuration error:\n{exc}", file=sys.stderr)
            self.exitcode = 2
            return
        super().run(args, opts)
