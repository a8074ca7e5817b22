# ruff: noqa: N999 (scrapy names commands after their module: this one is `scrapy store-sync`)
"""`scrapy store-sync`: store everything earlier runs left in the spool (a killed crawl, a store that was
down), salvaging half-written files, and say what happened. A crawl does the same before new work."""

from __future__ import annotations

import argparse
import threading

from scrapy.commands import ScrapyCommand

from archive.recovery import recover
from archive.store import StoredObject, open_store
from archive.uploader import Uploader
from crawler.config import store_config


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = False

    def short_desc(self) -> str:
        return "Upload files left in the spool by interrupted crawls"

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        config = store_config(self.settings)
        store = open_store(config.uri, config.s3_options())
        stored: list[StoredObject] = []
        failed: list[str] = []
        lock = threading.Lock()

        def done(obj: StoredObject) -> None:
            with lock:
                stored.append(obj)

        def gave_up(key: str, exc: Exception) -> None:
            with lock:
                failed.append(f"{key}: {exc}")

        uploader = Uploader(store, done, gave_up)
        found = recover(config.spool_dir, uploader.submit)
        uploader.close()
        print(f"{found} files found in {config.spool_dir}, {len(stored)} stored in {store.uri}, {len(failed)} failed")
        for line in failed:
            print(f"  failed: {line}")
        self.exitcode = 1 if failed else 0
