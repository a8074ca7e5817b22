# ruff: noqa: N999 (scrapy names commands after their module: this one is `scrapy store-sync`)
"""`scrapy store-sync`: store everything earlier runs left in the spool (a killed crawl, a store that was
down), salvaging half-written files, and say what happened. A crawl does the same before new work.

Uploads are retried for STORE_S3_GIVE_UP seconds; what is still not stored then stays in the spool, is
listed one file a line, and the command exits 1, so a script or a scheduler sees that the store is down.
A crawl's `crawl.json` left in the spool (its crawl could not store it) goes last, once the files it
lists as waiting are stored, with `complete` and `waiting` brought up to date.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from scrapy.commands import ScrapyCommand

from archive.recovery import recover, store_spooled_manifest
from archive.spoollock import SpoolLock
from archive.store import StoredObject, failure_name, open_store
from archive.uploader import Uploader
from crawler.config import check_unknown_settings, store_config
from crawler.errors import ConfigError
from crawler.secrets import redact_config_error, redact_text, redact_url


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = False

    def short_desc(self) -> str:
        return "Upload files left in the spool by interrupted crawls"

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        try:
            assert self.settings is not None
            check_unknown_settings(self.settings)
            config = store_config(self.settings)
        except ConfigError as exc:
            print(f"configuration error:\n{redact_config_error(str(exc))}", file=sys.stderr)
            self.exitcode = 2
            return
        store = open_store(config.uri, config.s3_options(), fsync=config.fsync)
        stored: list[StoredObject] = []
        paths: dict[str, Path] = {}
        causes: dict[str, str] = {}
        unsalvageable: list[str] = []
        lock = threading.Lock()

        def done(obj: StoredObject) -> None:
            with lock:
                stored.append(obj)

        def gave_up(key: str, exc: Exception) -> None:
            with lock:
                causes[key] = redact_text(f"{failure_name(exc)}: {exc}")

        def unreadable(path: Path, why: str) -> None:
            unsalvageable.append(f"{path}: {why}")

        uploader = Uploader(store, done, gave_up, **config.uploader_options())
        manifests: dict[str, Path] = {}

        def submit(key: str, path: Path) -> None:
            paths[key] = path  # recovery submits from this thread only
            if key.endswith("/crawl.json"):
                manifests[key] = path  # last: it must not claim files the store does not have yet
            else:
                uploader.submit(key, path)

        held: list[SpoolLock] = []  # the spools being stored stay ours until their uploads are done
        found = recover(config.spool_dir, submit, failed=unreadable, hold=held)
        waiting = uploader.close()
        for key, path in sorted(manifests.items()):
            if not store_spooled_manifest(store, key, path, set(waiting)):
                waiting.append(key)
        for spool_lock in held:
            spool_lock.release()
        shown = redact_url(store.uri)
        print(f"{found} files found in {config.spool_dir}, {len(stored)} stored in {shown}, "
              f"{len(waiting)} still waiting in the spool")
        for key in waiting:
            print(f"  waiting: {paths.get(key, key)} -> {key} ({causes.get(key, 'not stored')})")
        for line in unsalvageable:
            print(f"  cannot salvage: {line}")
        if waiting:
            print(f"store-sync: {len(waiting)} files could not be stored in {shown} within "
                  f"{config.s3_give_up:g}s; they are still in {config.spool_dir} (run store-sync again)",
                  file=sys.stderr)
        self.exitcode = 1 if waiting or unsalvageable else 0
