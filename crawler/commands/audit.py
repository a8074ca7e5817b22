"""`scrapy audit`: what became of every article URL of a site between two points in time.

    scrapy audit [--site NAME] [--from CRAWL_ID|DATE] [--to CRAWL_ID|DATE] [-o audit.jsonl|.csv|report.html]

JSON lines on stdout unless `-o` says otherwise (several `-o` allowed); a summary goes to stderr. The
catalog is updated first (`--no-update` skips that). An empty store or an unknown site exits with status 2.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

from archive.audit import AuditOptions, run_audit
from archive.auditout import output_format, summary_lines, write, write_jsonl
from crawler.cli import QuietCommand
from crawler.commands.catalog import open_catalog
from crawler.config import audit_config
from crawler.errors import ConfigError, StoreError
from crawler.secrets import redact_config_error


class Command(QuietCommand):
    def short_desc(self) -> str:
        return "Audit a site's archived articles: deleted, soft-deleted, moved, changed, unreachable, new"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--site", help="the site to audit (default: every site of the store)")
        parser.add_argument("--from", dest="window_from", metavar="CRAWL_ID|DATE",
                            help="start of the window (default: the first crawl)")
        parser.add_argument("--to", dest="window_to", metavar="CRAWL_ID|DATE",
                            help="end of the window (default: the latest capture)")
        parser.add_argument("-o", "--output", action="append", default=[], metavar="FILE",
                            help="write to FILE: .jsonl, .csv or .html (a self-contained report); repeatable")
        parser.add_argument("--timeline", action="store_true", help="every capture of each URL in the JSON rows")
        parser.add_argument("--no-update", action="store_true", help="audit the catalog as it is")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        try:
            kinds = [output_format(path) for path in opts.output]
            for path in opts.output:  # said now, not after the whole audit has run
                if not Path(path).resolve().parent.is_dir():
                    raise ConfigError(f"-o {path}: no directory {Path(path).resolve().parent}")
            catalog = open_catalog(self.settings)
            options = AuditOptions.from_config(audit_config(self.settings), series="html" in kinds,
                                               texts="html" in kinds)
        except (ConfigError, StoreError) as exc:
            print(f"audit: {redact_config_error(str(exc))}", file=sys.stderr)
            self.exitcode = 2
            return
        with catalog:
            try:
                if not opts.no_update:
                    update = catalog.update()
                    for problem in update.problems:
                        print(f"catalog: {problem}", file=sys.stderr)
                report = run_audit(catalog, opts.site, opts.window_from, opts.window_to, options)
            except ConfigError as exc:  # AuditError: empty store, unknown site, a bad --from/--to
                print(f"audit: {exc}", file=sys.stderr)
                self.exitcode = 2
                return
            except StoreError as exc:
                print(f"audit: cannot read the store: {exc}", file=sys.stderr)
                self.exitcode = 1
                return
            except sqlite3.Error as exc:  # disk full, a file locked past the busy timeout
                print(f"audit: the catalog {catalog.path} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
                self.exitcode = 1
                return
        for path in opts.output:
            try:
                write(report, path, opts.timeline)
            except OSError as exc:
                print(f"audit: cannot write {path}: {exc}", file=sys.stderr)
                self.exitcode = 1
                continue
            print(f"wrote {path}", file=sys.stderr)
        if not opts.output:
            write_jsonl(report, sys.stdout, opts.timeline)
        for line in summary_lines(report):
            print(line, file=sys.stderr)
