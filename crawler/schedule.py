"""`scrapy schedule`: every site crawled on its own cron, its archived articles rechecked on theirs.

Each due run is its own `scrapy crawl` process (crawler/runner.py). The rules:

- at most one run per site at a time (a crawl and a recheck of one site write the same history): a slot
  that comes while the site still runs is skipped, logged and recorded;
- at most `SCHEDULE_MAX_RUNS` runs at once: a due run waits its turn (pending), and a newer slot of the
  same job replaces a pending older one;
- slots missed while the scheduler was down are run once at start (`SCHEDULE_MISSED = "once"`) or skipped;
- a failed run (non-zero exit, timeout, a run that vanished) is retried after each step of
  `SCHEDULE_RETRY`, then left until its next slot: a broken site never runs in a hot loop;
- a run past `SCHEDULE_RUN_TIMEOUT` is interrupted, then killed after `SCHEDULE_STOP_TIMEOUT`;
- stopping (SIGTERM, SIGINT) interrupts the runs and waits `SCHEDULE_STOP_TIMEOUT` for them to close
  their files; what is left is killed and its spool left for the next crawl's recovery.

Everything decided is in the state file (crawler/schedulestate.py) before it is acted on, so a scheduler
killed and started again resumes where it was: runs still going are taken over, pending ones started, and
no slot runs twice. The clock is injected: tests run the same rules on a fast one.
"""

from __future__ import annotations

import logging
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from crawler.cronspec import Cadence
from crawler.runner import RUNNING, Process, RunSpec, Started, find_run, log_tail, running_run
from crawler.schedulestate import Run, ScheduleState, iso, parse_iso
from crawler.siteconfig import SiteConfig

logger = logging.getLogger(__name__)

FAILED = ("failed", "timeout", "lost", "killed")


@dataclass(frozen=True)
class Job:
    """One site's crawls, or its rechecks."""

    site: str
    kind: str  # crawl | recheck
    cadence: Cadence

    @property
    def name(self) -> str:
        return f"{self.site}/{self.kind}"


def jobs_of(sites: list[SiteConfig]) -> list[Job]:
    """The scheduled jobs of enabled sites, in name order."""
    jobs = []
    for site in sorted(sites, key=lambda s: s.name):
        if not site.enabled:
            continue
        for kind, expression in (("crawl", site.schedule), ("recheck", site.recheck)):
            if expression:
                jobs.append(Job(site.name, kind, Cadence.of(expression, site.timezone, site.jitter,
                                                            f"{site.name}/{kind}")))
    return jobs


@dataclass(frozen=True)
class Options:
    max_runs: int = 2
    run_timeout: float = 6 * 3600
    stop_timeout: float = 60
    missed: str = "once"  # once | skip
    retry: tuple[float, ...] = (300, 900, 3600)
    grace: float = 300  # a slot noticed this late is still on time (not "missed")
    log_dir: Path = Path("data/schedule/logs")
    settings: tuple[tuple[str, str], ...] = ()  # -s KEY=VALUE given to every run


@dataclass
class Active:
    """A run whose process is going."""

    run: Run
    process: Process
    started: datetime
    crawl_id: str
    log_path: str | None
    stop_sent: datetime | None = None  # when SIGINT went out (timeout or stop)
    stop_reason: str | None = None


@dataclass
class Summary:
    """What one `--once` pass did."""

    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(status in ("ok", "skipped") for status in self.statuses)


Launcher = Callable[[RunSpec], Process]
Outcome = Callable[[str], tuple[str, str]]  # crawl id -> (status, detail), for runs whose exit status is lost


class Scheduler:
    """The rules above, one `tick` at a time."""

    def __init__(self, jobs: list[Job], state: ScheduleState, options: Options, outcome: Outcome,
                 launcher: Launcher = Started, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.jobs = {job.name: job for job in jobs}
        self.state, self.options, self.outcome = state, options, outcome
        self.launcher, self.clock = launcher, clock
        self.active: dict[int, Active] = {}  # run id -> its process
        self.pending: list[Run] = []
        self.ended: list[tuple[Run, str]] = []  # runs that ended, with their status
        self.stopping = False
        self.deciding = True  # False: only finish what was decided (`--once` after its first tick)
        self.ignore_jitter = False  # `--once`: started by cron at a slot's time, the slot is due now

    # --- start-up ------------------------------------------------------------------------------------------
    def resume(self) -> None:
        """New jobs start looking at their cron `grace` ago; runs an earlier scheduler left are taken over
        (pending ones queued, running ones watched, vanished ones recorded from the store)."""
        now = self.clock()
        for job in self.jobs.values():
            self.state.init_job(job.site, job.kind, now - timedelta(seconds=self.options.grace))
        for run in self.state.open_runs():
            if run.status == "pending":
                self.pending.append(run)
                continue
            process = running_run(run.pid, run.crawl_id) if run.status == "running" else \
                find_run(run.crawl_id or "")  # "starting": the scheduler died as it started it
            if process is None and run.status == "starting":
                self.state.requeue(run.id)
                self.pending.append(replace(run, status="pending", crawl_id=None))
                continue
            if process is not None:
                logger.info("taking over %s run %s (crawl %s, pid %s), still going", run.site, run.kind,
                            run.crawl_id, run.pid)
                started = parse_iso(run.started_at) if run.started_at else now
                self.active[run.id] = Active(run, process, started, run.crawl_id or "", run.log_path)
            else:
                self._finish_vanished(run, now)

    # --- one step ------------------------------------------------------------------------------------------
    def tick(self) -> None:
        """Reap what ended, enforce timeouts, decide what is due, start what may start."""
        now = self.clock()
        self._reap(now)
        self._timeouts(now)
        if self.stopping:
            return
        if self.deciding:
            for job in self.jobs.values():
                self._due(job, now)
        self._start_pending(now)

    def idle(self) -> bool:
        return not self.active and not self.pending

    def _due(self, job: Job, now: datetime) -> None:
        state = self.state.job(job.site, job.kind)
        if state is None:
            self.state.init_job(job.site, job.kind, now - timedelta(seconds=self.options.grace))
            state = self.state.job(job.site, job.kind)
            assert state is not None
        offset = timedelta(0) if self.ignore_jitter else job.cadence.offset
        due = job.cadence.due_between(state.checked_until, now + job.cadence.offset - offset)
        if due.newest is not None:
            late = (now - (due.newest + offset)).total_seconds() > self.options.grace
            missed = due.count - (0 if late else 1)
            if missed:
                logger.warning("%s: %d slot(s) passed while the scheduler was not running (%s)", job.name, missed,
                               "running the newest once" if self.options.missed == "once" else "skipped")
            if late and self.options.missed == "skip":
                self.state.decide(job.site, job.kind, iso(due.newest), 1, "missed", "skipped", now,
                                  checked_until=due.newest, detail=f"{missed} slot(s) missed, SCHEDULE_MISSED=skip")
            else:
                self._want(job, iso(due.newest), 1, "missed" if late else "schedule", now, due.newest)
        elif state.retry_at is not None and now >= state.retry_at and state.retry_slot:
            self._want(job, state.retry_slot, state.retry_attempt or 2, "retry", now, None)

    def _want(self, job: Job, slot: str, attempt: int, reason: str, now: datetime,
              checked_until: datetime | None) -> None:
        """A run is due: skipped when this job is still running (a retry waits for it instead), else pending
        (replacing an older pending one); the site's other job running only makes it wait its turn."""
        busy = next((a for a in self.active.values() if a.run.site == job.site and a.run.kind == job.kind), None)
        if reason == "retry" and (busy is not None or any(p.site == job.site and p.kind == job.kind
                                                            for p in self.pending)):
            return  # asked again at a later tick (a pending run of the job makes the retry moot when it runs)
        if busy is not None:
            detail = f"{job.name} was still running ({busy.crawl_id})"
            if self.state.decide(job.site, job.kind, slot, attempt, reason, "skipped", now, checked_until,
                                 detail) is not None:
                logger.warning("%s: slot %s skipped: %s", job.name, slot, detail)
            return
        run_id = self.state.decide(job.site, job.kind, slot, attempt, reason, "pending", now, checked_until)
        if reason != "retry":
            self.state.cancel_retry(job.site, job.kind)  # the new slot runs instead of the old one's retry
        if run_id is None:
            return  # this slot was decided before (a scheduler restarted within its own tick)
        for older in [p for p in self.pending if p.site == job.site and p.kind == job.kind]:
            self.pending.remove(older)
            self.state.superseded(older.id, now, f"replaced by slot {slot} while waiting for a free run")
        self.pending.append(Run(run_id, job.site, job.kind, slot, attempt, reason, "pending", None, None, None,
                                iso(now), None, None, None, None))

    def _start_pending(self, now: datetime) -> None:
        for run in list(self.pending):
            if len(self.active) >= self.options.max_runs:
                return
            if any(a.run.site == run.site for a in self.active.values()):
                continue  # its site runs (the other job of it): wait
            self.pending.remove(run)
            self._start(run, now)

    def _start(self, run: Run, now: datetime) -> None:
        crawl_id = self._crawl_id(run, now)
        log_path = self.options.log_dir / f"{crawl_id}.log"
        spec = RunSpec(run.site, run.kind, crawl_id, log_path, self.options.settings)
        self.state.starting(run.id, crawl_id, str(log_path), now)  # before the process: see resume()
        try:
            process = self.launcher(spec)
        except OSError as exc:
            logger.error("%s/%s: cannot start %s: %s", run.site, run.kind, crawl_id, exc)
            self.state.finished(run.id, "failed", now, detail=f"cannot start: {exc}")
            self._settle(run, "failed", now)
            return
        self.state.started(run.id, crawl_id, process.pid, str(log_path), now)
        logger.info("%s/%s: started %s (slot %s%s, pid %d, log %s)", run.site, run.kind, crawl_id, run.slot,
                    f", attempt {run.attempt}" if run.attempt > 1 else "", process.pid, log_path)
        self.active[run.id] = Active(run, process, now, crawl_id, str(log_path))

    def _crawl_id(self, run: Run, now: datetime) -> str:
        base = f"{run.site}{'-recheck' if run.kind == 'recheck' else ''}-{now:%Y%m%dT%H%M%SZ}"
        taken = self.state.crawl_ids()
        crawl_id, n = base, 1
        while crawl_id in taken:
            n += 1
            crawl_id = f"{base}-{n}"
        return crawl_id

    # --- runs ending ---------------------------------------------------------------------------------------
    def _reap(self, now: datetime) -> None:
        for run_id, active in list(self.active.items()):
            code = active.process.poll()
            if code == RUNNING:
                continue
            del self.active[run_id]
            seconds = (now - active.started).total_seconds()
            if not isinstance(code, int):  # taken over, gone: its exit status went with the old scheduler
                self._finish_vanished(active.run, now, active)
                continue
            status = active.stop_reason or ("ok" if code == 0 else "failed")
            if code == -signal.SIGKILL and active.stop_reason is None:
                status = "killed"  # by someone else (the OOM killer): a failure, retried
            tail = None if status == "ok" else log_tail(active.log_path)
            self.state.finished(run_id, status, now, exit_code=code, log_tail=tail,
                                detail=None if status == "ok" else f"exit status {code}")
            self._log_end(active, status, code, seconds, tail)
            self._settle(active.run, status, now)

    def _finish_vanished(self, run: Run, now: datetime, active: Active | None = None) -> None:
        status, detail = self.outcome(run.crawl_id) if run.crawl_id else ("lost", "never started")
        if active is not None and active.stop_reason and status != "ok":
            status = active.stop_reason
        self.state.finished(run.id, status, now, detail=detail, log_tail=log_tail(run.log_path))
        logger.log(logging.INFO if status == "ok" else logging.ERROR, "%s/%s: run %s ended while another "
                   "scheduler watched it: %s (%s)", run.site, run.kind, run.crawl_id, status, detail)
        self._settle(run, status, now)

    def _log_end(self, active: Active, status: str, code: int, seconds: float, tail: str | None) -> None:
        run = active.run
        if status == "ok":
            logger.info("%s/%s: %s finished in %.0f s", run.site, run.kind, active.crawl_id, seconds)
            return
        last = (tail or "").strip().splitlines()[-1:] or ["(no output)"]
        logger.error("%s/%s: %s %s (exit status %d) after %.0f s; last line: %s; log %s", run.site, run.kind,
                     active.crawl_id, status, code, seconds, last[0][:300], active.log_path)

    def _settle(self, run: Run, status: str, now: datetime) -> None:
        self.ended.append((run, status))
        if status == "ok":
            self.state.set_failures(run.site, run.kind, 0)
        elif status in FAILED:
            self._failed(run, now)

    def _failed(self, run: Run, now: datetime) -> None:
        """Retry the slot after its next backoff step (each slot has all of SCHEDULE_RETRY), or give up until
        the next slot. `failures` counts failed runs in a row, whatever their slots, for reports."""
        state = self.state.job(run.site, run.kind)
        failures = (state.failures if state else 0) + 1
        steps = self.options.retry
        if run.attempt <= len(steps):
            retry_at = now + timedelta(seconds=steps[run.attempt - 1])
            self.state.set_failures(run.site, run.kind, failures, retry_at, run.slot, run.attempt + 1)
            logger.warning("%s/%s: failed (attempt %d of slot %s, %d in a row); retry at %s", run.site, run.kind,
                           run.attempt, run.slot, failures, iso(retry_at))
        else:
            self.state.set_failures(run.site, run.kind, failures)
            logger.error("%s/%s: slot %s failed %d times; no more retries until its next slot", run.site,
                         run.kind, run.slot, run.attempt)

    def _timeouts(self, now: datetime) -> None:
        for active in self.active.values():
            if active.stop_sent is None:
                if (now - active.started).total_seconds() > self.options.run_timeout:
                    logger.error("%s/%s: %s ran past SCHEDULE_RUN_TIMEOUT (%.0f s): interrupting it",
                                 active.run.site, active.run.kind, active.crawl_id, self.options.run_timeout)
                    self._interrupt(active, now, "timeout")
            elif (now - active.stop_sent).total_seconds() > self.options.stop_timeout:
                logger.error("%s/%s: %s still running %.0f s after SIGINT: killing it (its spool is kept for "
                             "recovery)", active.run.site, active.run.kind, active.crawl_id, self.options.stop_timeout)
                active.process.kill()  # stays "interrupted" (a stop, not a failure) or "timeout"
                active.stop_sent = now + timedelta(days=3650)  # killed once

    @staticmethod
    def _interrupt(active: Active, now: datetime, reason: str) -> None:
        active.stop_sent, active.stop_reason = now, reason
        active.process.interrupt()

    # --- stopping ------------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Start no run, interrupt the running ones (pending ones stay pending for the next start)."""
        if self.stopping:
            return
        self.stopping = True
        now = self.clock()
        for active in self.active.values():
            if active.stop_sent is None:
                logger.info("%s/%s: interrupting %s (pid %d)", active.run.site, active.run.kind, active.crawl_id,
                            active.process.pid)
                self._interrupt(active, now, "interrupted")

    def run(self, should_stop: Callable[[], bool], once: bool = False, interval: float = 1.0,
            sleep: Callable[[float], None] = time.sleep) -> Summary:
        """Tick until told to stop, then stop the runs. With `once`: decide what is due now, run it (and
        what earlier schedulers left pending), and return when all of it has ended."""
        self.resume()
        if once:
            self.ignore_jitter = True
            self.tick()
            self.deciding = False
        while True:
            if should_stop():
                self.stop()
            self.tick()
            if (self.stopping and not self.active) or (once and self.idle()):
                return Summary(dict(Counter(status for _, status in self.ended)))
            sleep(interval)
