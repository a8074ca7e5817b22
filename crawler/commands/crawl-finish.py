# ruff: noqa: N999 (scrapy names commands after their module: this one is `scrapy crawl-finish`)
"""`scrapy crawl-finish CRAWL_ID`: write the crawl.json of a distributed crawl whose last worker could not.

The last worker to leave a distributed crawl writes its `crawl.json` itself (crawler/crawlfinish.py). When
that worker died too, or Redis was away when it ended, run this on any machine (on the one where workers
died, to store what they left in the spool): it merges the workers' manifests, lists the workers that were
lost, and clears the crawl's frontier from Redis. Workers still running are left to finish it themselves.
"""

from __future__ import annotations

import argparse
import sys

from scrapy.commands import ScrapyCommand
from scrapy.utils.log import configure_logging

from archive.store import open_store
from crawler.config import check_unknown_settings, crawl_config, store_config
from crawler.crawlfinish import finish_crawl
from crawler.errors import ConfigError, StoreError
from crawler.frontier import REDIS_ERRORS, Frontier, FrontierOptions
from crawler.secrets import redact_config_error, redact_url


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = False

    def syntax(self) -> str:
        return "CRAWL_ID [--force]"

    def short_desc(self) -> str:
        return "Write the crawl.json of a distributed crawl (CRAWL_FRONTIER = redis) whose last worker could not"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--force", action="store_true", help="even while workers still send heartbeats")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        if len(args) != 1:
            print("usage: scrapy crawl-finish CRAWL_ID", file=sys.stderr)
            self.exitcode = 2
            return
        crawl_id = args[0]
        try:
            check_unknown_settings(self.settings)
            config, store_cfg = crawl_config(self.settings), store_config(self.settings)
            if not config.redis_url:
                raise ConfigError("REDIS_URL: the crawl's Redis is needed (redis://HOST:PORT/DB)")
        except ConfigError as exc:
            print(f"configuration error:\n{redact_config_error(str(exc))}", file=sys.stderr)
            self.exitcode = 2
            return
        configure_logging(self.settings)
        frontier = Frontier(FrontierOptions(config.redis_url, crawl_id, "crawl-finish"))
        store = open_store(store_cfg.uri, store_cfg.s3_options(), fsync=store_cfg.fsync)
        try:
            frontier.reap()  # workers whose heartbeat lapsed are lost: their requests go back to the queue
            live, work = frontier.live_workers(), frontier.remaining_work()
            if (live or work) and not opts.force:
                why = f"workers {', '.join(live)} still run" if live else f"{work} requests still wait"
                print(f"crawl-finish: {why} in {crawl_id}; start workers to finish it (the last writes crawl.json), "
                      "or --force to end it here", file=sys.stderr)
                self.exitcode = 1
                return
            manifest = finish_crawl(store, frontier, store_cfg.spool_dir, store_cfg.uploader_options(),
                                    store_cfg.spool_dir / f"{crawl_id}@crawl-finish")
        except REDIS_ERRORS as exc:
            print(f"crawl-finish: cannot reach Redis at {redact_url(config.redis_url)}: {exc}", file=sys.stderr)
            self.exitcode = 1
            return
        except StoreError as exc:
            print(f"crawl-finish: {exc}", file=sys.stderr)
            self.exitcode = 1
            return
        workers = ", ".join(w["worker"] for w in manifest["workers"])
        print(f"crawl {crawl_id}: crawl.json written in {redact_url(store.uri)} from workers {workers}"
              f"{'; lost: ' + ', '.join(manifest['lost_workers']) if manifest['lost_workers'] else ''}"
              f"{'; complete' if manifest['complete'] else '; incomplete'}")
        self.exitcode = 0 if manifest["complete"] else 1
