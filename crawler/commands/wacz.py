"""`scrapy wacz CRAWL_ID [-o FILE.wacz] [--partial]`: package one stored crawl as a WACZ 1.1.1 file.

The WACZ opens in ReplayWeb.page and pywb and passes `wacz validate` (archive/wacz.py). An unknown crawl id,
or a crawl that did not finish storing its files (no crawl.json, or `complete: false`), exits with status 2;
`--partial` packages what the store holds of it anyway.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from archive.store import open_store
from archive.wacz import WaczError, write_wacz
from crawler.cli import QuietCommand
from crawler.config import check_unknown_settings, store_config
from crawler.errors import ConfigError, StoreError
from crawler.secrets import redact_config_error


class Command(QuietCommand):
    def syntax(self) -> str:
        return "CRAWL_ID [-o FILE.wacz] [--partial]"

    def short_desc(self) -> str:
        return "Package a stored crawl as a WACZ file (ReplayWeb.page, pywb)"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("-o", "--output", metavar="FILE", help="where to write it (default: ./CRAWL_ID.wacz)")
        parser.add_argument("--partial", action="store_true",
                            help="package a crawl that has no crawl.json or is incomplete, as far as it is stored")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        if len(args) != 1:
            print("wacz: give one crawl id (see `scrapy catalog` for the crawls of the store)", file=sys.stderr)
            self.exitcode = 2
            return
        crawl_id = args[0]
        out = Path(opts.output or f"{crawl_id}.wacz")
        try:
            if "/" in crawl_id or crawl_id in ("", ".", ".."):
                raise ConfigError(f"{crawl_id!r} is not a crawl id")
            if not out.resolve().parent.is_dir():
                raise ConfigError(f"-o {out}: no directory {out.resolve().parent}")
            check_unknown_settings(self.settings)
            store_cfg = store_config(self.settings)
            store = open_store(store_cfg.uri, store_cfg.s3_options(), fsync=False)
            summary = write_wacz(store, crawl_id, out, partial=opts.partial)
        except (ConfigError, WaczError) as exc:
            print(f"wacz: {redact_config_error(str(exc))}", file=sys.stderr)
            self.exitcode = 2
            return
        except (StoreError, OSError) as exc:
            print(f"wacz: cannot package {crawl_id}: {exc}", file=sys.stderr)
            self.exitcode = 1
            return
        for problem in summary.problems:
            print(f"wacz: {crawl_id}: {problem}", file=sys.stderr)
        print(f"wrote {out}")
        print(f"  {crawl_id}: {summary.line()}")
