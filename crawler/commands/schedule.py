"""`scrapy schedule [--list] [--once]`: crawl and recheck every site on its own cron (crawler/schedule.py).

    scrapy schedule                     # long-running; SIGTERM or Ctrl-C stops it gracefully
    scrapy schedule --list              # every job's next runs, last outcome and failures
    scrapy schedule --once              # run what is due now, wait for it, exit (for cron, Kubernetes CronJobs)
    scrapy schedule -s STORE_URI=s3://bucket/news   # -s settings are passed on to every run

Site configs are read and checked at start: a schedule that does not parse names the file and the key and
exits with status 2. `--once` exits 1 when a run it started failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from scrapy.commands import ScrapyCommand
from scrapy.utils.log import configure_logging

from archive.spoollock import SpoolLock
from archive.store import Store, open_store
from crawler.config import ScheduleConfig, check_unknown_settings, crawl_config, schedule_config, store_config
from crawler.errors import ConfigError, StoreError
from crawler.schedule import Job, Options, Outcome, Scheduler, jobs_of
from crawler.schedulestate import ScheduleState
from crawler.secrets import redact_config_error
from crawler.siteconfig import SiteConfig, load_site

logger = logging.getLogger(__name__)


def load_sites(sites_dir: Path, names: tuple[str, ...]) -> list[SiteConfig]:
    """The named site configs, or every one in `sites_dir`; ConfigError with a line per broken file."""
    paths = [sites_dir / f"{n}.toml" for n in names] if names else sorted(sites_dir.glob("*.toml"))
    sites, problems = [], []
    for path in paths:
        try:
            sites.append(load_site(str(path) if path.is_file() else path.stem, sites_dir))
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError("\n".join(problems))
    return sites


def manifest_outcome(store: Store) -> Outcome:
    """How a run ended, read from its crawl.json (for runs whose exit status is not ours to read)."""
    def outcome(crawl_id: str) -> tuple[str, str]:
        try:
            manifest = json.loads(store.get_bytes(f"crawls/{crawl_id}/crawl.json"))
        except (StoreError, OSError, ValueError) as exc:
            return "lost", f"no readable crawl.json: it was killed, or never got going ({exc})"
        if manifest.get("complete") is False:
            return "failed", f"incomplete: {len(manifest.get('waiting') or [])} files still in the spool"
        return "ok", f"finished ({manifest.get('finish_reason')})"
    return outcome


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = False

    def syntax(self) -> str:
        return "[--list [--count N]] [--once]"

    def short_desc(self) -> str:
        return "Run every site's crawls and rechecks on their cron (site config: schedule, recheck)"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--list", action="store_true", help="print every job's next runs and last outcome")
        parser.add_argument("--count", type=int, default=3, help="next runs printed per job by --list (3)")
        parser.add_argument("--once", action="store_true", help="run what is due now, wait for it and exit")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        try:
            check_unknown_settings(self.settings)
            config = schedule_config(self.settings)
            store_cfg = store_config(self.settings)
            sites = load_sites(crawl_config(self.settings).sites_dir, config.sites)
            jobs = jobs_of(sites)
        except ConfigError as exc:
            print(f"configuration error:\n{redact_config_error(str(exc))}", file=sys.stderr)
            self.exitcode = 2
            return
        if not jobs:
            print("schedule: no enabled site has a `schedule` or a `recheck` (add schedule = \"0 */6 * * *\" "
                  "to a site config in CRAWL_SITES_DIR)", file=sys.stderr)
            self.exitcode = 2
            return
        if opts.list:
            self._list(jobs, {s.name: s for s in sites}, config, max(1, opts.count))
            return
        lock = SpoolLock(config.state.parent, name=f".{config.state.name}.lock")
        if not lock.acquire():
            print(f"schedule: another scheduler (process {lock.holder()}) uses {config.state}; one scheduler "
                  "per state file (SCHEDULE_STATE)", file=sys.stderr)
            self.exitcode = 2
            return
        configure_logging(self.settings)
        try:
            self.exitcode = self._schedule(jobs, config, store_cfg.uri, store_cfg.s3_options(), opts)
        finally:
            lock.release()

    def _schedule(self, jobs: list[Job], config: ScheduleConfig, store_uri: str, s3: dict[str, object],
                  opts: argparse.Namespace) -> int:
        forwarded = tuple((key, value) for key, _, value in (item.partition("=") for item in opts.set)
                          if not key.upper().startswith("SCHEDULE_"))
        options = Options(config.max_runs, config.run_timeout, config.stop_timeout, config.missed, config.retry,
                          config.grace, config.log_dir, forwarded)
        stop = {"requested": False}

        def request_stop(signum: int, frame: object) -> None:
            if not stop["requested"]:
                logger.info("stopping (%s): interrupting running crawls, up to SCHEDULE_STOP_TIMEOUT (%.0f s)",
                            signal.Signals(signum).name, config.stop_timeout)
            stop["requested"] = True

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        state = ScheduleState(config.state)
        try:
            scheduler = Scheduler(jobs, state, options, manifest_outcome(open_store(store_uri, s3, fsync=False)))
            logger.info("scheduling %d jobs of %d sites (state %s, at most %d runs at once)", len(jobs),
                        len({j.site for j in jobs}), config.state, config.max_runs)
            summary = scheduler.run(lambda: stop["requested"], once=opts.once)
        finally:
            state.close()
        if opts.once:
            done = ", ".join(f"{k} {v}" for k, v in sorted(summary.statuses.items()))
            print(f"schedule --once: {done or 'nothing was due'}")
            return 0 if summary.ok else 1
        return 0

    @staticmethod
    def _list(jobs: list[Job], sites: dict[str, SiteConfig], config: ScheduleConfig, count: int) -> None:
        state = ScheduleState(config.state) if config.state.exists() else None
        now = datetime.now(UTC)
        for job in jobs:
            zone = ZoneInfo(sites[job.site].timezone)
            job_state = state.job(job.site, job.kind) if state else None
            after = max(now, job_state.checked_until) if job_state else now
            starts, cursor = [], after
            for _ in range(count):
                start = job.cadence.next_start(cursor)
                starts.append(start)
                cursor = start - job.cadence.offset
            print(f"{job.name}: {job.cadence.expression} ({sites[job.site].timezone}, "
                  f"+{job.cadence.offset.total_seconds():.0f} s jitter)")
            print("  next: " + ", ".join(f"{s.astimezone(zone):%Y-%m-%d %H:%M:%S %Z}" for s in starts))
            if state is None:
                continue
            last = next((r for r in state.runs(job.site, limit=50) if r.kind == job.kind), None)
            counts = state.counts(job.site, job.kind)
            if last is not None:
                print(f"  last: {last.status} {last.crawl_id or ''} (slot {last.slot}"
                      f"{', exit status ' + str(last.exit_code) if last.exit_code is not None else ''})")
            if counts:
                print("  runs: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
            if job_state and job_state.failures:
                retry = f", retry at {job_state.retry_at:%Y-%m-%d %H:%M:%S}Z" if job_state.retry_at else ""
                print(f"  failing: {job_state.failures} in a row{retry}")
        if state:
            state.close()
