"""`scrapy schedule` for real: three sites of the sample web on a cron with a seconds field, each run its own
`scrapy crawl` process; a site that fails; the scheduler killed and started again; stopped with SIGTERM.

What is checked is what the scheduler recorded and what the store holds, never how long anything took: runs
of one site never overlap, each run is a process of its own that stored its crawl, a failing site is
recorded with its exit status and log tail and does not stop the others, a restarted scheduler takes over
the run still going and repeats no slot.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.crawling import SAMPLE_WEB_NETWORK, scrapy
from tests.fixtureweb.process import ROOT, FixtureWeb

SITE = """base_url = "{base}/"
sitemap_from_robots = false
allow_private_networks = true
render = "{render}"
schedule = "{cron}"
jitter = 0
[[sections]]
name = "{section}"
url = "/{section}/"
max_pages = 1
"""


def write_sites(tmp_path: Path, base: str) -> Path:
    sites = tmp_path / "sites"
    sites.mkdir()
    for name, section, cron, render in (("alpha", "world", "* * * * * */6", "never"),
                                        ("beta", "tech", "* * * * * */7", "never"),
                                        ("broken", "china", "* * * * * */10", "always")):  # no browser: exit 2
        (sites / f"{name}.toml").write_text(SITE.format(base=base, section=section, cron=cron, render=render))
    return sites


def settings(tmp_path: Path, sites: Path) -> list[str]:
    values = {"CRAWL_SITES_DIR": sites, "SCHEDULE_STATE": tmp_path / "state" / "schedule.sqlite",
              "SCHEDULE_LOG_DIR": tmp_path / "logs", "STORE_URI": f"file://{tmp_path / 'store'}",
              "STORE_SPOOL_DIR": tmp_path / "spool", "ARCHIVE_DEDUP_INDEX_DIR": tmp_path / "index",
              "AUDIT_CATALOG_DIR": tmp_path / "catalog", "NETWORK_ALLOW": SAMPLE_WEB_NETWORK,
              "SCHEDULE_MAX_RUNS": 3, "SCHEDULE_GRACE": "2s", "SCHEDULE_RETRY": "2s",
              "SCHEDULE_STOP_TIMEOUT": "30s", "RENDER_BROWSER_PATH": "/nonexistent/chromium", "LOG_LEVEL": "INFO"}
    return [arg for key, value in values.items() for arg in ("-s", f"{key}={value}")]


def start(args: list[str], log: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([str(Path(sys.executable).with_name("scrapy")), "schedule", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=log.open("a"), text=True, start_new_session=True)


def runs(state: Path) -> list[dict[str, Any]]:
    if not state.exists():
        return []
    with sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=30) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM runs ORDER BY id")]


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def count(state: Path, site: str, status: str) -> int:
    return sum(1 for r in runs(state) if r["site"] == site and r["status"] == status)


def test_the_scheduler_runs_sites_on_time_one_at_a_time_and_survives_a_kill(web: FixtureWeb, tmp_path: Path) -> None:
    sites = write_sites(tmp_path, web.base_url)
    args = settings(tmp_path, sites)
    state, log = tmp_path / "state" / "schedule.sqlite", tmp_path / "scheduler.log"
    listed = scrapy(["schedule", "--list", *args])
    assert listed.returncode == 0 and "alpha/crawl: * * * * * */6 (UTC, +0 s jitter)" in listed.stdout

    first = start(args, log)
    try:
        wait_until(lambda: count(state, "alpha", "ok") >= 2 and count(state, "beta", "ok") >= 1
                   and count(state, "broken", "failed") >= 2, "two alpha runs, a beta run, two failed broken runs")
        wait_until(lambda: any(r["status"] == "running" and r["site"] != "broken" for r in runs(state)),
                   "a run going on")
        os.kill(first.pid, signal.SIGKILL)  # its runs go on, orphaned
        first.wait(timeout=30)
        orphan = next(r for r in runs(state) if r["status"] == "running" and r["site"] != "broken")
        second = start(args, log)
        try:
            wait_until(lambda: next(r for r in runs(state) if r["id"] == orphan["id"])["status"] != "running",
                       "the orphaned run to be taken over and end")
            wait_until(lambda: sum(1 for r in runs(state) if r["site"] in ("alpha", "beta") and r["status"] == "ok"
                                   and r["id"] > orphan["id"]) >= 2, "runs started by the restarted scheduler")
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=120) == 0
    finally:
        if first.poll() is None:
            first.kill()

    done = runs(state)
    taken_over = next(r for r in done if r["id"] == orphan["id"])
    assert taken_over["status"] == "ok" and taken_over["detail"].startswith("finished"), taken_over
    store = tmp_path / "store" / "crawls"
    pids = set()
    for site in ("alpha", "beta"):
        mine = [r for r in done if r["site"] == site and r["status"] not in ("skipped", "pending")]
        assert len({(r["slot"], r["attempt"]) for r in mine}) == len(mine)  # no slot run twice
        for earlier, later in itertools.pairwise(mine):  # never two of one site at once
            assert later["started_at"] >= earlier["finished_at"], (earlier, later)
        for run in (r for r in mine if r["status"] == "ok"):
            manifest = json.loads((store / run["crawl_id"] / "crawl.json").read_text())
            assert manifest["site"] == site and manifest["complete"] is True
            pids.add(run["pid"])
    assert len(pids) >= 4 and first.pid not in pids and second.pid not in pids  # each run its own process
    broken = [r for r in done if r["site"] == "broken" and r["status"] == "failed"]
    assert all(r["exit_code"] == 2 and "renders some pages always" in r["log_tail"] for r in broken)
    assert any(r["reason"] == "retry" for r in broken)  # retried after SCHEDULE_RETRY, not in a loop
    assert "SIGTERM" in log.read_text()


def test_a_schedule_that_does_not_parse_names_the_file_and_key(tmp_path: Path) -> None:
    sites = tmp_path / "sites"
    sites.mkdir()
    (sites / "bad.toml").write_text('base_url = "http://news.example/"\nschedule = "61 * * * *"\n')
    proc = scrapy(["schedule", "--once", "-s", f"CRAWL_SITES_DIR={sites}"])
    assert proc.returncode == 2
    assert "bad.toml: key 'schedule'" in proc.stderr and "61 * * * *" in proc.stderr
