"""`scrapy demo`: the archive's whole story on the bundled sample news web, offline on loopback.

1. crawl the sample web (state 1) with settings/sites/demo.toml;
2. advance it to state 2 (articles deleted, moved, edited, replaced by "not found" pages, published) and
   crawl it again;
3. recheck every archived article while two of them fail transiently (a 503, a timeout), then again once
   they are back;
4. audit the four crawls and write the report.
It prints the first crawl's summary, where every crawl went, the audit's counts and where the report is.
Each step is a `scrapy` subprocess, as a scheduler runs them. `-s STORE_URI=...` sends it all elsewhere;
`--crawl-only` stops after the first crawl.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scrapy.settings import SETTINGS_PRIORITIES

from archive.store import open_store
from crawler.browser import describe
from crawler.cli import QuietCommand
from crawler.config import ReplayConfig, render_config, replay_config, store_config
from crawler.errors import ConfigError
from crawler.preflight import check
from crawler.secrets import redact_config_error, redact_url
from crawler.summary import summarize

# Settings of the command line that the demo's steps pass on (the rest are the project's defaults).
PASSED_ON = ("STORE_URI", "STORE_SPOOL_DIR", "ARCHIVE_DEDUP_INDEX_DIR", "AUDIT_CATALOG", "AUDIT_CATALOG_DIR",
             "AUDIT_CONFIRM_AFTER", "RENDER_ENABLED", "RENDER_BROWSER_PATH")


class Command(QuietCommand):
    def short_desc(self) -> str:
        return "Crawl, change, recheck and audit the bundled sample news web; print where everything went"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--crawl-only", action="store_true", help="only the first crawl, no audit")
        parser.add_argument("--out", default="data/audit", metavar="DIR",
                            help="where the audit report and rows go (default: data/audit)")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        # The sample web and the story live with the tests that define them; only the demo needs them here.
        from tests.auditflow import StepFailedError, run, tell_story  # noqa: PLC0415
        from tests.fixtureweb.process import FixtureWeb  # noqa: PLC0415

        assert self.settings is not None
        try:
            check(self.settings, {"site": "demo"})
        except ConfigError as exc:
            print(f"configuration error:\n{redact_config_error(str(exc))}", file=sys.stderr)
            self.exitcode = 2
            return
        print(describe(render_config(self.settings), self.settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS")),
              file=sys.stderr)
        settings = self._passed_on()
        stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
        ids = (f"demo-{stamp}", f"demo-{stamp}-2", f"demo-recheck-{stamp}", f"demo-recheck-{stamp}-2")
        out = Path(opts.out)
        try:
            with FixtureWeb() as web:
                print(f"sample news web on {web.base_url}", file=sys.stderr)
                if opts.crawl_only:
                    say("crawl of the sample web in state 1")
                    story = tell_story(web, out, settings, ids[:1], say, first_only=True)
                else:
                    story = tell_story(web, out, settings, ids, say)
            store = open_store(store_config(self.settings).uri)
            print(summarize(store, ids[0]))
            if opts.crawl_only:
                return
            for crawl_id in ids[1:]:
                print(f"crawl {crawl_id}: {redact_url(store.uri)}/crawls/{crawl_id}/")
            out.mkdir(parents=True, exist_ok=True)
            report, rows = out / f"demo-{stamp}.html", out / f"demo-{stamp}.jsonl"
            say("audit of the four crawls")
            summary = run(story, ["audit", "--site", "demo", "--from", ids[0], "-o", str(rows), "-o", str(report)])
            midway = run(story, ["audit", "--site", "demo", "--from", ids[0], "--to", ids[2], "--no-update",
                                 "-o", str(out / f"demo-{stamp}-first-recheck.jsonl")])
        except StepFailedError as exc:
            print(f"the demo stopped: {exc}", file=sys.stderr)
            self.exitcode = 1
            return
        print("\n".join(line for line in summary.splitlines() if not line.startswith("wrote ")))
        then = next((line.split(": ", 1)[1] for line in midway.splitlines() if line.startswith("  demo: ")), "")
        print(f"  as of the first recheck (two URLs failing): {then}")
        print(f"  report (open it in a browser): {report.resolve()}")
        print(f"  rows (JSON lines):             {rows.resolve()}")
        print(f"  catalog: `scrapy catalog`; the audit again: `scrapy audit --site demo --from {ids[0]}`")
        print(browse_hint(self.settings.get("STORE_URI"), story_article(rows), replay_config(self.settings)))

    def _passed_on(self) -> dict[str, str]:
        assert self.settings is not None
        passed: dict[str, Any] = {key: self.settings.get(key) for key in PASSED_ON
                                  if (self.settings.getpriority(key) or 0) >= SETTINGS_PRIORITIES["cmdline"]}
        passed.setdefault("STORE_URI", self.settings.get("STORE_URI"))
        passed["LOG_LEVEL"] = self.settings.get("LOG_LEVEL")
        return {k: str(v) for k, v in passed.items()}


def story_article(rows: Path) -> tuple[str, str] | None:
    """An article of the audit rows that changed between the crawls (url, first capture's timestamp)."""
    with rows.open() as fh:
        for line in fh:
            row = json.loads(line)
            if row.get("state") == "changed" and row.get("first_capture"):
                return row["url"], str(row["first_capture"]["fetched_at"])
    return None


def browse_hint(store_uri: str, article: tuple[str, str] | None, replay: ReplayConfig) -> str:
    """How to read back what the demo archived: the replay server and a page to open in it (its addresses
    as REPLAY_BIND / REPLAY_PORT / REPLAY_BROWSE_PORT set them; a port 0 is only known once it runs)."""
    main = f"http://{replay.bind}:{replay.port}" if replay.port else "http://ADDRESS-IT-PRINTS"
    browse = f"http://{replay.bind}:{replay.browse_port}" if replay.browse_port else "http://BROWSE-ADDRESS-IT-PRINTS"
    lines = ["browse what was archived (the sample web is stopped; everything comes from the store):",
             f"  scrapy replay{'' if store_uri == 'file://./data/store' else f' -s STORE_URI={store_uri}'}"
             f"    (then open {main}/ : crawls, search, a calendar per URL)"]
    if article:
        url, fetched = article
        stamp = "".join(ch for ch in fetched if ch.isdigit())[:14]
        lines += [f"  an article that changed between the crawls: {main}/calendar?url={url}",
                  f"  as first archived, in the browser: {browse}/browse/{stamp}/{url}",
                  f"  as served (raw), with Memento headers: {main}/web/{stamp}id_/{url}"]
    return "\n".join(lines)


def say(message: str) -> None:
    """One step of the story, as it starts."""
    print(f"- {message}", file=sys.stderr)
