"""`scrapy soft404 URL [URL ...]` / `--urls-file FILE`: fetch each URL the way a crawl does and print one
JSON line per URL: url, final_url, status, verdict, score, reasons.

The fetches are archived and logged like any crawl's (a crawl named `check-...` in the store), so the
evidence behind each verdict is kept.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from scrapy.exceptions import UsageError
from w3lib.url import safe_url_string

from crawler.cli import QuietCommand
from crawler.errors import ConfigError
from crawler.preflight import check
from crawler.run import CrawlRun
from crawler.secrets import redact_config_error
from crawler.spiders.check import CheckSpider
from crawler.summary import read_jsonl_parts

FIELDS = ("url", "final_url", "status", "verdict", "score", "reasons")


def read_urls(args: list[str], urls_file: str | None) -> list[str]:
    urls = list(args)
    if urls_file:
        lines = Path(urls_file).read_text(encoding="utf-8").splitlines()
        urls += [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return urls


class Command(QuietCommand):
    def syntax(self) -> str:
        return "[options] URL [URL ...]"

    def short_desc(self) -> str:
        return "Fetch URLs like a crawl and print each one's verdict (ok, not-found, soft-404, blocked, error)"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--urls-file", metavar="FILE", help="one URL per line; blank lines and # comments")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        urls = read_urls(args, opts.urls_file)
        if not urls:
            raise UsageError("give at least one URL, or --urls-file FILE")
        try:
            check(self.settings, {})
        except ConfigError as exc:
            print(f"configuration error:\n{redact_config_error(str(exc))}", file=sys.stderr)
            self.exitcode = 2
            return
        assert self.crawler_process is not None
        crawler = self.crawler_process.create_crawler(CheckSpider)
        self.crawler_process.crawl(crawler, urls=urls)
        self.crawler_process.start()
        run = crawler.get_extension(CrawlRun)
        if run is None:
            self.exitcode = 1
            return
        entries = {e["url"]: e for e in read_jsonl_parts(run.store, f"{run.prefix}/log")}
        for url in urls:
            entry = entries.get(safe_url_string(url)) or entries.get(url) or {"url": url, "reasons": ["not-fetched"]}
            print(json.dumps({name: entry.get(name) for name in FIELDS}, ensure_ascii=False))
        sys.stdout.flush()
