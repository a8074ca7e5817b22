"""The scheduler's rules on a fast clock, with real processes standing in for crawls.

Each run is a real child process (`python -c`) that waits until the test lets it go, then exits with the
status the test chose, so being busy, overlapping, failing, taking over and stopping are what the scheduler
really sees from the operating system; only the clock is the test's.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crawler.cronspec import Cadence
from crawler.runner import Process, RunSpec, Started
from crawler.schedule import Job, Options, Scheduler
from crawler.schedulestate import ScheduleState

T0 = datetime(2026, 12, 7, 10, 0, 30, tzinfo=UTC)
# Waits for its release file, then exits with the status written in it; CRAWL_ID=... names the run in its
# command line, as a real run's does (what a restarted scheduler checks before taking a process over).
CHILD = """
import os, signal, sys, time
if sys.argv[2] == "ignore-sigint":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.01)
sys.exit(int(open(sys.argv[1]).read() or 0))
"""


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Children:
    """Launches CHILD for each run; `finish(site, status)` lets that site's running child exit."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path / "children"
        self.dir.mkdir()
        self.started: list[tuple[RunSpec, Process]] = []
        self.ignore_sigint: set[str] = set()

    def __call__(self, spec: RunSpec) -> Process:
        release = self.dir / spec.crawl_id
        mode = "ignore-sigint" if spec.site in self.ignore_sigint else "-"
        process = Started(spec, argv=[sys.executable, "-c", CHILD, str(release), mode, f"CRAWL_ID={spec.crawl_id}"])
        self.started.append((spec, process))
        return process

    def finish(self, site: str, status: int = 0) -> None:
        for spec, process in self.started:
            if spec.site == site and process.poll() == "running" and not (self.dir / spec.crawl_id).exists():
                (self.dir / spec.crawl_id).write_text(str(status))
                wait_for(lambda p=process: p.poll() != "running")  # type: ignore[misc]

    def sites(self) -> list[str]:
        return [spec.site for spec, _ in self.started]

    def release_all(self) -> None:
        for spec, _ in self.started:
            path = self.dir / spec.crawl_id
            if not path.exists():
                path.write_text("0")


def wait_for(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def job(site: str, expression: str = "* * * * *", kind: str = "crawl") -> Job:
    return Job(site, kind, Cadence.of(expression, "UTC", 0, f"{site}/{kind}"))


@pytest.fixture
def children(tmp_path: Path) -> Iterator[Children]:
    launched = Children(tmp_path)
    yield launched
    launched.release_all()
    for _, process in launched.started:
        process.kill()


def scheduler(tmp_path: Path, jobs: list[Job], children: Children, clock: Clock,
              outcome: Callable[[str], tuple[str, str]] = lambda crawl_id: ("lost", "no crawl.json"),
              **options: object) -> Scheduler:
    opts = Options(log_dir=tmp_path / "logs", grace=30, **options)  # type: ignore[arg-type]
    made = Scheduler(jobs, ScheduleState(tmp_path / "state.sqlite"), opts, outcome, launcher=children, clock=clock)
    made.resume()
    return made


def statuses(sched: Scheduler, site: str | None = None) -> list[tuple[str, str, str]]:
    return sorted((r.slot, r.site, r.status) for r in sched.state.runs(site))


def ticked(sched: Scheduler, condition: Callable[[], bool]) -> Callable[[], bool]:
    """`condition`, checked after a tick."""
    def check() -> bool:
        sched.tick()
        return condition()
    return check


def settle(sched: Scheduler) -> None:
    """Tick until every run that was let go has been reaped."""
    wait_for(ticked(sched, lambda: all(a.process.poll() == "running" for a in sched.active.values())))


def test_two_sites_run_on_their_slots_in_separate_processes(tmp_path: Path, children: Children) -> None:
    clock = Clock(T0)
    sched = scheduler(tmp_path, [job("alpha"), job("beta", "*/2 * * * *")], children, clock)
    sched.tick()
    assert children.started == []  # 10:00 was 30 s ago: looked at from `grace` (30 s) back, it is not due
    clock.advance(30)  # 10:01
    sched.tick()
    assert children.sites() == ["alpha"]
    children.finish("alpha")
    clock.advance(60)  # 10:02: both
    sched.tick()
    assert sorted(children.sites()) == ["alpha", "alpha", "beta"]
    pids = {process.pid for _, process in children.started}
    assert len(pids) == 3 and os.getpid() not in pids
    children.finish("alpha")
    children.finish("beta", 0)
    settle(sched)
    assert [s for _, site, s in statuses(sched)] == ["ok", "ok", "ok"]
    crawl_ids = [spec.crawl_id for spec, _ in children.started]
    assert len(set(crawl_ids)) == 3 and crawl_ids[0].startswith("alpha-20261207T1001")


def test_a_site_still_running_at_its_next_slot_is_skipped_not_doubled(tmp_path: Path, children: Children) -> None:
    clock = Clock(T0 + timedelta(seconds=30))
    sched = scheduler(tmp_path, [job("alpha"), job("alpha", "* * * * *", kind="recheck")], children, clock)
    sched.tick()
    assert children.sites() == ["alpha"]  # the crawl; the recheck of the same site waits (one run per site)
    for _ in range(3):
        clock.advance(60)
        sched.tick()
    assert len(children.started) == 1
    skipped = [r for r in sched.state.runs("alpha") if r.kind == "crawl" and r.status == "skipped"]
    assert len(skipped) == 3 and all("still running" in (r.detail or "") for r in skipped)
    waiting = [r for r in sched.pending if r.kind == "recheck"]
    assert len(waiting) == 1  # the recheck waits its turn, its newest slot only (the older ones replaced)
    children.finish("alpha")
    settle(sched)
    assert [spec.kind for spec, _ in children.started] == ["crawl", "recheck"]  # then the recheck runs


def test_runs_beyond_max_runs_wait_for_a_free_one(tmp_path: Path, children: Children) -> None:
    clock = Clock(T0 + timedelta(seconds=30))
    sched = scheduler(tmp_path, [job("alpha"), job("beta"), job("gamma")], children, clock, max_runs=2)
    sched.tick()
    assert sorted(children.sites()) == ["alpha", "beta"]
    assert [r.site for r in sched.pending] == ["gamma"]
    children.finish("alpha")
    settle(sched)
    assert sorted(children.sites()) == ["alpha", "beta", "gamma"]


def test_a_failing_site_is_retried_with_backoff_then_left_to_its_next_slot(tmp_path: Path,
                                                                        children: Children) -> None:
    clock = Clock(T0 - timedelta(seconds=30))  # 10:00:00
    sched = scheduler(tmp_path, [job("broken", "0 * * * *"), job("fine", "0 * * * *")], children, clock,
                      retry=(60.0, 120.0), max_runs=4)
    sched.tick()
    assert sorted(children.sites()) == ["broken", "fine"]
    children.finish("fine")
    for expected_runs in (1, 2, 3):  # the slot, then one retry per step of SCHEDULE_RETRY
        children.finish("broken", 2)
        settle(sched)
        assert children.sites().count("broken") == expected_runs
        for _ in range(50):  # no hot loop: ticking without the clock moving starts nothing
            sched.tick()
        assert children.sites().count("broken") == expected_runs
        clock.advance(61 if expected_runs == 1 else 121)
        sched.tick()
    assert children.sites().count("broken") == 3  # two retries spent: nothing until the next slot
    runs = [r for r in sched.state.runs("broken")]
    assert [r.attempt for r in reversed(runs)] == [1, 2, 3]
    assert all(r.status == "failed" and r.exit_code == 2 for r in runs)
    assert sched.state.job("broken", "crawl").failures == 3  # type: ignore[union-attr]
    assert children.sites().count("fine") == 1 and statuses(sched, "fine")[0][2] == "ok"
    clock.now = datetime(2026, 12, 7, 11, 0, 0, tzinfo=UTC)  # the next slot runs again, with all its retries
    sched.tick()
    assert children.sites().count("broken") == 4
    children.finish("broken", 2)
    settle(sched)
    clock.advance(61)
    sched.tick()
    assert children.sites().count("broken") == 5  # attempt 2 of the 11:00 slot


def test_a_killed_scheduler_restarted_takes_over_its_runs_and_repeats_no_slot(tmp_path: Path,
                                                                          children: Children) -> None:
    clock = Clock(T0 + timedelta(seconds=30))
    first = scheduler(tmp_path, [job("alpha"), job("beta")], children, clock, max_runs=1)
    first.tick()
    assert children.sites() == ["alpha"] and [r.site for r in first.pending] == ["beta"]
    first.state.close()  # the scheduler dies here: its run goes on, beta is still pending in the state
    second = scheduler(tmp_path, [job("alpha"), job("beta")], children, clock,
                       outcome=lambda crawl_id: ("ok", "finished (finished)"), max_runs=1)
    assert [a.crawl_id for a in second.active.values()] == [children.started[0][0].crawl_id]
    assert [r.site for r in second.pending] == ["beta"]
    for _ in range(5):
        second.tick()
    assert children.sites() == ["alpha"]  # the same slot is never started again
    children.finish("alpha")
    settle(second)
    assert children.sites() == ["alpha", "beta"]
    alpha = second.state.runs("alpha")
    assert len(alpha) == 1 and alpha[0].status == "ok" and alpha[0].detail == "finished (finished)"


def test_a_run_whose_process_is_gone_after_a_restart_is_read_from_the_store(tmp_path: Path,
                                                                            children: Children) -> None:
    clock = Clock(T0 + timedelta(seconds=30))
    first = scheduler(tmp_path, [job("alpha")], children, clock)
    first.tick()
    first.state.close()
    children.finish("alpha", 0)
    seen: list[str] = []

    def outcome(crawl_id: str) -> tuple[str, str]:
        seen.append(crawl_id)
        return "lost", "no readable crawl.json"

    second = scheduler(tmp_path, [job("alpha")], children, clock, outcome=outcome)
    assert seen == [children.started[0][0].crawl_id] and not second.active
    assert second.state.runs("alpha")[0].status == "lost"
    assert second.state.job("alpha", "crawl").retry_at is not None  # type: ignore[union-attr]


@pytest.mark.parametrize(("policy", "started"), [("once", 1), ("skip", 0)])
def test_slots_missed_while_down_run_once_or_are_skipped(tmp_path: Path, children: Children, policy: str,
                                                        started: int) -> None:
    clock = Clock(T0)
    first = scheduler(tmp_path, [job("alpha", "*/5 * * * *")], children, clock, missed=policy)
    first.tick()
    first.state.close()
    clock.advance(3 * 3600 + 120)  # down for three hours: 36 slots passed, the newest 150 s ago
    second = scheduler(tmp_path, [job("alpha", "*/5 * * * *")], children, clock, missed=policy)
    second.tick()
    assert len(children.started) == started
    runs = second.state.runs("alpha")
    assert len(runs) == 1 and runs[0].reason == "missed"
    assert runs[0].slot == "2026-12-07T13:00:00Z"
    if policy == "skip":
        assert runs[0].status == "skipped" and "36 slot(s) missed" in (runs[0].detail or "")


def test_stopping_interrupts_runs_and_kills_what_outlives_the_timeout(tmp_path: Path, children: Children) -> None:
    clock = Clock(T0 + timedelta(seconds=30))
    children.ignore_sigint.add("stubborn")
    sched = scheduler(tmp_path, [job("polite"), job("stubborn")], children, clock, stop_timeout=10)
    sched.tick()
    wait_for(lambda: all(Path(f"/proc/{p.pid}/cmdline").exists() for _, p in children.started))
    time.sleep(0.3)  # the children reach their signal set-up (an interpreter start) before the stop
    sched.stop()
    wait_for(ticked(sched, lambda: "polite" not in {a.run.site for a in sched.active.values()}))
    assert sched.state.runs("polite")[0].status == "interrupted"
    clock.advance(11)
    sched.tick()  # past SCHEDULE_STOP_TIMEOUT: SIGKILL to the stubborn run's process group
    wait_for(ticked(sched, lambda: not sched.active))
    stubborn = sched.state.runs("stubborn")[0]
    assert stubborn.status == "interrupted" and stubborn.exit_code == -signal.SIGKILL  # stopped, not failed
    assert sched.state.job("stubborn", "crawl").retry_at is None  # type: ignore[union-attr]


def test_a_run_past_its_timeout_is_interrupted_and_retried(tmp_path: Path, children: Children) -> None:
    clock = Clock(T0 - timedelta(seconds=30))
    sched = scheduler(tmp_path, [job("slow", "0 * * * *")], children, clock, run_timeout=600, stop_timeout=5)
    sched.tick()
    time.sleep(0.3)
    clock.advance(601)
    sched.tick()
    wait_for(ticked(sched, lambda: not sched.active))
    run = sched.state.runs("slow")[0]
    assert run.status == "timeout" and run.exit_code is not None
    assert sched.state.job("slow", "crawl").retry_at is not None  # type: ignore[union-attr]


def test_once_runs_what_is_due_and_returns(tmp_path: Path, children: Children) -> None:
    clock = Clock(T0 + timedelta(seconds=30))
    opts = Options(log_dir=tmp_path / "logs", grace=30)
    sched = Scheduler([job("alpha"), job("beta", "0 0 1 1 *")], ScheduleState(tmp_path / "state.sqlite"), opts,
                      lambda c: ("lost", ""), launcher=children, clock=clock)

    def sleep(seconds: float) -> None:
        children.release_all()
        time.sleep(0.01)

    summary = sched.run(lambda: False, once=True, sleep=sleep)
    assert children.sites() == ["alpha"] and summary.statuses == {"ok": 1} and summary.ok


def test_once_runs_a_slot_at_its_cron_time_whatever_the_jitter(tmp_path: Path, children: Children) -> None:
    """`--once` started by cron at 10:00 runs the 10:00 slot, though the site's jitter would start it later."""
    clock = Clock(datetime(2026, 12, 7, 10, 0, 1, tzinfo=UTC))
    jittered = Job("alpha", "crawl", Cadence.of("0 * * * *", "UTC", 3000, "alpha/crawl"))
    assert jittered.cadence.offset.total_seconds() > 1
    sched = Scheduler([jittered], ScheduleState(tmp_path / "state.sqlite"), Options(log_dir=tmp_path / "logs",
                      grace=30), lambda c: ("lost", ""), launcher=children, clock=clock)

    def sleep(seconds: float) -> None:
        children.release_all()
        time.sleep(0.01)

    assert sched.run(lambda: False, once=True, sleep=sleep).statuses == {"ok": 1}
    assert sched.state.runs("alpha")[0].slot == "2026-12-07T10:00:00Z"


def test_a_run_whose_scheduler_died_as_it_started_it_is_found_by_its_crawl_id(tmp_path: Path,
                                                                               children: Children) -> None:
    """The state says `starting` (no PID yet): a restarted scheduler finds the process by its command line
    and takes it over, instead of starting the site a second time."""
    clock = Clock(T0 + timedelta(seconds=30))
    first = scheduler(tmp_path, [job("alpha")], children, clock)
    first.tick()
    run = first.state.runs("alpha")[0]
    first.state.db.execute("UPDATE runs SET status = 'starting', pid = NULL WHERE id = ?", (run.id,))
    first.state.close()
    second = scheduler(tmp_path, [job("alpha")], children, clock, outcome=lambda c: ("ok", "finished"))
    assert [a.crawl_id for a in second.active.values()] == [run.crawl_id] and not second.pending
    children.finish("alpha")
    settle(second)
    assert len(children.started) == 1 and second.state.runs("alpha")[0].status == "ok"
