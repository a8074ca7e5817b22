"""`scrapy crawl`, with our settings and the site config checked first: a bad value prints one line
naming the key and the file, and exits with status 2 instead of a traceback from deep inside Scrapy.
A crawl whose files could not all be stored exits with status 1 and says what is still in the spool."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.crawler import Crawler

from archive.spoollock import SpoolLockedError
from crawler.errors import ConfigError
from crawler.preflight import check, check_spool
from crawler.run import CrawlRun
from crawler.secrets import redact_config_error, redact_url


class Command(ScrapyCrawlCommand):
    _run_crawler: Crawler | None = None

    def _create_crawler(self, spname: Any) -> Crawler:
        self._run_crawler = super()._create_crawler(spname)  # kept: after the run it says how the files fared
        return self._run_crawler

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        try:
            check(self.settings, opts.spargs)
            check_spool(self.settings)
        except ConfigError as exc:
            print(f"configuration error:\n{redact_config_error(str(exc))}", file=sys.stderr)
            self.exitcode = 2
            return
        except SpoolLockedError as exc:
            print(f"cannot start: {exc}; a crawl id runs in one process at a time", file=sys.stderr)
            self.exitcode = 2
            return
        super().run(args, opts)
        try:
            run = self._run_crawler.get_extension(CrawlRun) if self._run_crawler is not None else None
        except RuntimeError:  # the crawl never started (Scrapy said why): nothing to report here
            return
        if run is not None and run.outcome is not None and run.outcome.waiting:
            print(f"incomplete: {len(run.outcome.waiting)} files of crawl {run.crawl_id} are still in the spool "
                  f"{run.archive.spool}, not in {redact_url(run.store.uri)} (run `scrapy store-sync` when it is back)",
                  file=sys.stderr)
            self.exitcode = 1
