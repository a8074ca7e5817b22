"""`scrapy catalog [--rebuild]`: bring the store's catalog up to date and print what it holds.

The catalog (archive/catalog.py) is a local cache of the capture history of every URL in the store; it can
be deleted at any time, and `--rebuild` starts it over from the store alone.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys

from scrapy.settings import BaseSettings

from archive.catalog import Catalog
from archive.store import open_store
from crawler.cli import QuietCommand
from crawler.config import audit_config, check_unknown_settings, store_config
from crawler.errors import ConfigError, StoreError
from crawler.secrets import redact_config_error, redact_url


def open_catalog(settings: BaseSettings) -> Catalog:
    """The catalog of STORE_URI, at AUDIT_CATALOG (or its default under AUDIT_CATALOG_DIR)."""
    check_unknown_settings(settings)
    store_cfg, audit_cfg = store_config(settings), audit_config(settings)
    store = open_store(store_cfg.uri, store_cfg.s3_options(), fsync=False)
    return Catalog(audit_cfg.catalog_path(store.uri), store, audit_cfg.workers)


class Command(QuietCommand):
    def short_desc(self) -> str:
        return "Update the catalog of every capture in the store (incremental) and print what it holds"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--rebuild", action="store_true", help="forget everything and index the store again")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        try:
            catalog = open_catalog(self.settings)
        except ConfigError as exc:
            print(f"configuration error:\n{redact_config_error(str(exc))}", file=sys.stderr)
            self.exitcode = 2
            return
        except StoreError as exc:
            print(f"catalog: {exc}", file=sys.stderr)
            self.exitcode = 2
            return
        with catalog:
            try:
                update = catalog.update(rebuild=opts.rebuild, progress=lambda m: print(m, file=sys.stderr))
            except StoreError as exc:
                print(f"catalog: cannot read the store: {exc}", file=sys.stderr)
                self.exitcode = 1
                return
            except sqlite3.Error as exc:  # disk full, a file locked past the busy timeout
                print(f"catalog {catalog.path} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
                self.exitcode = 1
                return
            if update.rebuilt:
                print(f"catalog {catalog.path}: {update.rebuilt}", file=sys.stderr)
            print(f"catalog {catalog.path} of {redact_url(catalog.store.uri)}")
            print(f"  this update: {len(update.crawls_indexed)} crawls indexed ({update.captures} captures, "
                  f"{update.items} items), {len(update.crawls_removed)} gone from the store, {update.seconds:.1f} s")
            for problem in update.problems:
                print(f"  problem: {problem}")
            summary = catalog.summary()
            if not summary:
                print("  the store holds no crawls")
            for site in summary:
                states = ", ".join(f"{n} {state}" for state, n in sorted(site["crawl_states"].items()))
                print(f"  {site['site']}: {site['crawls']} crawls ({states}), {site['urls']} URLs "
                      f"({site['article_urls']} articles), {site['captures']} captures")
