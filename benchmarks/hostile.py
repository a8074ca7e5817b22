"""The hostile web (tests/hostileweb/) crawled, then checked with `scrapy soft404`, watching memory and time.

Bombs, million-link pages, 100k-deep nesting and the rest must cost bounded memory and time. This starts the
hostile web, runs the real `scrapy crawl news` over it with the plan the end-to-end test uses
(tests/hostileweb/crawlplan.py), then `scrapy soft404` of every case URL, and every 0.5 s sums the RSS of
the command's whole process tree (the scrapy process, its page workers and their forkserver). It prints
each run's wall time and peak RSS, the table of every case (expected verdict and reason against what the
run reported), and the verdicts against the targets: peak under 1 GB and wall under 10 minutes, per run.

    python benchmarks/hostile.py [--bomb-mib 1024] [--timeout 900] [--only NAME,...] [-s KEY=VALUE ...] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from archive.store import FileStore  # noqa: E402
from benchmarks.soak import descendants, parse_settings, stop  # noqa: E402
from crawler.summary import read_jsonl_parts  # noqa: E402
from tests.crawling import SAMPLE_WEB_NETWORK, write_site  # noqa: E402
from tests.hostileweb.crawlplan import SITE, crawl_settings, outcomes, site_toml, table  # noqa: E402
from tests.hostileweb.process import HostileWeb  # noqa: E402

PEAK_TARGET = 1_000_000_000  # bytes of RSS, summed over the process tree
WALL_TARGET = 600.0  # seconds, per run
INTERVAL = 0.5  # seconds between two samples


@dataclass
class Run:
    """One command, sampled until it exits."""

    label: str
    returncode: int = 0
    wall: float = 0.0
    peak: int = 0  # bytes: the highest sum of VmRSS over the tree in one sample
    peak_at: float = 0.0  # seconds into the run
    peak_processes: int = 0
    peak_split: tuple[int, list[int]] = (0, [])  # at the peak: the scrapy process's RSS, and each child's
    samples: int = 0
    stdout: str = ""
    timed_out: bool = False
    stats: dict[str, Any] = field(default_factory=dict)


def rss_bytes(pid: int) -> int:
    """VmRSS of one process (0 once it is gone or a zombie)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0
    return 0


def run_sampled(label: str, args: list[str], work: Path, timeout: float) -> Run:
    """Run a scrapy command in its own process group, sampling its tree every INTERVAL until it exits."""
    run = Run(label)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [str(Path(sys.executable).with_name("scrapy")), *args]
    with (work / f"{label}.log").open("wb") as log, (work / f"{label}.out").open("wb") as out:
        began = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=log, start_new_session=True)
        try:
            while proc.poll() is None:
                elapsed = time.monotonic() - began
                if elapsed > timeout:
                    print(f"{label}: still running after {timeout:.0f} s: stopping it", flush=True)
                    run.timed_out = True
                    stop(proc)
                    break
                sizes = [rss_bytes(pid) for pid in [proc.pid, *descendants(proc.pid)]]
                run.samples += 1
                if sum(sizes) > run.peak:
                    run.peak, run.peak_at, run.peak_processes = sum(sizes), elapsed, len(sizes)
                    run.peak_split = (sizes[0], sorted(sizes[1:], reverse=True))
                time.sleep(max(0.0, INTERVAL - (time.monotonic() - began - elapsed)))
        finally:
            stop(proc)
        run.wall = time.monotonic() - began
    run.returncode = proc.returncode
    run.stdout = (work / f"{label}.out").read_text(errors="replace")
    return run


def _args(pairs: dict[str, str]) -> list[str]:
    return [arg for key, value in pairs.items() for arg in ("-s", f"{key}={value}")]


def crawl(web: HostileWeb, work: Path, extra: dict[str, str], timeout: float) -> tuple[Run, list[dict[str, Any]]]:
    store = work / "store"
    settings = {"STORE_URI": f"file://{store}", "STORE_SPOOL_DIR": str(work / "spool"), "CRAWL_ID": "hostile",
                "LOG_LEVEL": "INFO", "NETWORK_ALLOW": SAMPLE_WEB_NETWORK,
                **write_site(work, SITE, site_toml(web.base_url)), **crawl_settings(), **extra}
    run = run_sampled("crawl", ["crawl", "news", "-a", f"site={SITE}", "-a", f"base_url={web.base_url}/",
                                *_args(settings)], work, timeout)
    manifest = store / "crawls" / "hostile" / "crawl.json"
    if manifest.exists():
        run.stats = json.loads(manifest.read_text())
    return run, read_jsonl_parts(FileStore(store), "crawls/hostile/log")


def check(web: HostileWeb, cases: list[dict[str, Any]], work: Path, extra: dict[str, str], timeout: float
          ) -> tuple[Run, list[dict[str, Any]]]:
    urls = work / "urls.txt"
    urls.write_text("".join(f"{web.base_url}{case['path']}\n" for case in cases))
    settings = {"STORE_URI": f"file://{work / 'check'}", "STORE_SPOOL_DIR": str(work / "check-spool"),
                "NETWORK_ALLOW": SAMPLE_WEB_NETWORK, **crawl_settings(), **extra}
    run = run_sampled("soft404", ["soft404", "--urls-file", str(urls), *_args(settings)], work, timeout)
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    return run, lines


def _still_up(web: HostileWeb, run: Run) -> None:
    """A web that died mid-run turns every later case into a connection failure: say so, loudly."""
    code = web.proc.poll() if web.proc else None
    if code is not None:
        print(f"THE HOSTILE WEB EXITED (code {code}) during the {run.label} run: its later outcomes are "
              "connection failures, not the crawler's doing", flush=True)


def _mb(size: int) -> str:
    return f"{size / 1e6:,.0f} MB"


def report(run: Run, rows_table: str, matched: int, total: int) -> list[str]:
    manifest = run.stats
    lines = [f"\n== {run.label}: exit {run.returncode}{' (stopped: timeout)' if run.timed_out else ''}, "
             f"wall {run.wall:.1f} s, peak RSS {_mb(run.peak)} over {run.peak_processes} processes "
             f"at {run.peak_at:.1f} s ({run.samples} samples): scrapy {_mb(run.peak_split[0])}, children "
             f"{', '.join(_mb(size) for size in run.peak_split[1]) or 'none'}"]
    if manifest:
        lines.append(f"   crawl.json: {manifest.get('finish_reason')}, complete {manifest.get('complete')}, "
                     f"{manifest.get('stats', {}).get('response_received_count')} responses")
    lines += [rows_table, f"   {matched}/{total} cases as expected"]
    return lines


def verdicts(runs: list[Run]) -> list[str]:
    lines = []
    for run in runs:
        lines.append(f"{run.label}: peak {_mb(run.peak)} "
                     f"({'under' if run.peak < PEAK_TARGET else 'OVER'} the 1 GB target), "
                     f"wall {run.wall:.0f} s ({'under' if run.wall < WALL_TARGET and not run.timed_out else 'OVER'} "
                     f"the {WALL_TARGET / 60:.0f} min target)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bomb-mib", type=int, default=1024, help="what each decompression bomb inflates to")
    parser.add_argument("--timeout", type=float, default=900, help="seconds before a run is stopped")
    parser.add_argument("-s", "--settings", action="append", default=[], metavar="KEY=VALUE",
                        help="a Scrapy setting for both runs (repeatable)")
    parser.add_argument("--only", default="", metavar="NAME,...", help="crawl only these cases (to see what one costs)")
    parser.add_argument("--keep", action="store_true", help="keep the stores and the logs")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))  # unwind: stop what we started
    extra = parse_settings(args.settings)
    work = Path(tempfile.mkdtemp(prefix="palimpsest-hostile-"))
    lines: list[str] = []
    try:
        with HostileWeb(bomb_mib=args.bomb_mib, only=[n for n in args.only.split(",") if n]) as web:
            cases = web.cases()
            print(f"hostile web at {web.base_url}: {len(cases)} cases, bombs of {args.bomb_mib} MiB; "
                  f"{os.cpu_count()} CPUs, load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}",
                  flush=True)
            print("settings: " + " ".join(f"{k}={v}" for k, v in {**crawl_settings(), **extra}.items()), flush=True)
            crawl_run, log = crawl(web, work, extra, args.timeout)
            _still_up(web, crawl_run)
            rows = outcomes(cases, web.base_url, log)
            lines += report(crawl_run, table(rows), sum(r.matches for r in rows), len(rows))
            print("\n".join(lines), flush=True)
            check_run, answers = check(web, cases, work, extra, args.timeout)
            _still_up(web, check_run)
            rows = outcomes(cases, web.base_url, answers)
            more = report(check_run, table(rows), sum(r.matches for r in rows), len(rows))
            print("\n".join(more), flush=True)
        print("\n" + "\n".join(verdicts([crawl_run, check_run])))
    finally:
        if args.keep:
            print(f"kept: {work} (store/, check/, crawl.log, soft404.log)")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if crawl_run.returncode or check_run.returncode:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
