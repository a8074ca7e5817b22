"""`scrapy reprocess SOURCE... [--site NAME] [--at TIMESTAMP]`: spiders and pipelines re-run over the archive.

SOURCE is a crawl id of the store, or a WARC / ARC / WACZ file (ours or another tool's), or a directory of
them. Nothing goes to the network: every request is answered from the archived captures of the sources
(crawler/replayhandler.py). The run is a crawl of the store like any other (crawl log, items, manifest with
`spider: reprocess` and the sources), with no WARC and no CDXJ of its own: its entries and items point at
the archived records. Its id is SITE-reprocess-YYYYMMDDTHHMMSSZ unless -s CRAWL_ID=... says otherwise.

A crawl of ours is re-run as it ran (its spider and archived site config); archive files with no manifest
get every URL they hold requested once (crawler/reprocessspiders.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from scrapy.commands import ScrapyCommand
from scrapy.crawler import Crawler
from scrapy.exceptions import UsageError

from archive.captureindex import CaptureIndex, CaptureIndexError
from archive.spoollock import SpoolLockedError
from archive.store import Store, open_store
from crawler.config import check_unknown_settings, reprocess_config, store_config
from crawler.errors import ConfigError, StoreError
from crawler.preflight import check, check_spool
from crawler.reprocessing import ReprocessError, ReprocessPlan, build_index, make_plan, split_sources
from crawler.reprocessspiders import SPIDERS
from crawler.run import CrawlRun
from crawler.secrets import redact_config_error, redact_url

ADDON = "crawler.reprocessmw.ReprocessAddon"


class Command(ScrapyCommand):
    requires_project = True

    def syntax(self) -> str:
        return "[options] SOURCE..."

    def short_desc(self) -> str:
        return "Re-run spiders, the soft-404 classifier and the pipelines over archived captures (no network)"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--site", help="site name of the new crawl, for archive files with no manifest "
                            "(default: from the host most of their URLs are on)")
        parser.add_argument("--at", help="answer each URL from its capture nearest to this UTC time, "
                            "YYYYMMDDhhmmss or a prefix (REPROCESS_AT; default: the sources' earliest start)")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if not args:
            raise UsageError("give at least one SOURCE: a crawl id of the store, or WARC / ARC / WACZ files")
        assert self.settings is not None
        try:
            check_unknown_settings(self.settings)
            check(self.settings, {})
            check_spool(self.settings)
            config = reprocess_config(self.settings)
            store_cfg = store_config(self.settings)
            store = open_store(store_cfg.uri, store_cfg.s3_options(), fsync=False)
        except ConfigError as exc:
            print(f"configuration error:\n{redact_config_error(str(exc))}", file=sys.stderr)
            self.exitcode = 2
            return
        except (StoreError, SpoolLockedError) as exc:
            print(f"reprocess: {exc}", file=sys.stderr)
            self.exitcode = 2
            return
        with tempfile.TemporaryDirectory(prefix="reprocess-") as scratch:
            index_path = Path(config.index) if config.index else Path(scratch) / "captures.sqlite"
            try:
                plan = self._plan(store, index_path, bool(config.index), args, opts.site, opts.at or config.at)
            except (ReprocessError, CaptureIndexError, StoreError) as exc:
                print(f"reprocess: {exc}", file=sys.stderr)
                self.exitcode = 2
                return
            self._crawl(plan)

    def _plan(self, store: Store, index_path: Path, kept: bool, args: list[str], site: str | None,
              at: str) -> ReprocessPlan:
        crawls, files = split_sources(args, store)
        index = CaptureIndex(index_path, f"reprocess:{store.uri.rstrip('/')}")
        try:
            update = build_index(index, store, crawls, files)
            plan = make_plan(index, store, crawls, files, at, site, update.problems)
            plan.index_kept = kept
            return plan
        finally:
            index.close()

    def _crawl(self, plan: ReprocessPlan) -> None:
        assert self.settings is not None and self.crawler_process is not None
        self.settings["ADDONS"].set(ADDON, 10, priority="cmdline")
        for key in ("ARCHIVE_ENABLED", "RENDER_ENABLED"):  # before the Palimpsest add-on looks for a browser
            self.settings.set(key, False, priority="cmdline")
        crawler: Crawler = self.crawler_process.create_crawler(SPIDERS[plan.spider])
        self.crawler_process.crawl(crawler, plan=plan)
        self.crawler_process.start()
        if self.crawler_process.bootstrap_failed:
            self.exitcode = 1
            return
        try:
            run = crawler.get_extension(CrawlRun)
        except RuntimeError:  # the crawl never started (Scrapy said why)
            return
        if run is None:
            return
        stats = crawler.stats.get_stats() if crawler.stats is not None else {}
        print(f"reprocessed {', '.join(plan.sources)} into crawl {run.crawl_id} of {redact_url(run.store.uri)}: "
              f"{stats.get('crawllog/entries', 0)} log entries, {stats.get('pipelines/stored', 0)} items; "
              f"{stats.get('reprocess/captures', 0)} captures read, {stats.get('reprocess/not-archived', 0)} "
              f"not archived, {stats.get('reprocess/unreadable', 0)} unreadable")
        if run.outcome is not None and run.outcome.waiting:
            print(f"incomplete: {len(run.outcome.waiting)} files of crawl {run.crawl_id} are still in the spool "
                  f"{run.archive.spool}", file=sys.stderr)
            self.exitcode = 1
