"""Soak test: a crawl of a large generated sample web, watching memory and speed as it goes.

A crawl that leaks shows it only after tens of thousands of pages, which the default sample web (330 pages)
never reaches. This serves a web of `--size` articles (`python -m tests.fixtureweb --size N`), crawls it
with the real `scrapy crawl news` command and a copy of the `demo` site config that follows every listing
page, and every second samples the crawl's process tree (the scrapy process, and its children: extraction
workers, and Chromium when rendering is on) and the number of requests the web has served. It prints a row
every `--every` pages, then the verdicts: RSS after warm-up flat and under the target, pages/s not falling.

    python benchmarks/soak.py [--size 50000] [--every 5000] [-s KEY=VALUE ...] [--keep]

The browser is off unless `-s RENDER_ENABLED=True` (Chromium alone holds ~450 MB, see benchmarks/render.py).
RSS sums each process's VmRSS, so pages shared by the forked extraction workers count more than once; the
PSS column (from /proc/PID/smaps_rollup) counts them once.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.crawling import write_site  # noqa: E402
from tests.fixtureweb.process import FixtureWeb  # noqa: E402

RSS_TARGET_MB = 500.0
FLAT_RATIO = 1.2  # after warm-up, max/min total RSS at most this: memory does not grow with the crawl
SPEED_RATIO = 0.9  # the last window's pages/s at least this share of the second window's
SOAK_SITE = "soak"


@dataclass
class Sample:
    """One look at the crawl, once a second."""

    elapsed: float  # seconds since the crawl command started
    pages: int  # requests the web has served
    crawler_kb: int  # VmRSS of the scrapy process
    children_kb: int  # VmRSS of all its descendants
    pss_kb: int  # PSS of the whole tree
    processes: int
    crawler_cpu: float = 0.0  # CPU seconds (user + system) of the scrapy process so far
    children_cpu: float = 0.0  # the same, summed over its live descendants


def _status_kb(pid: int, field: str) -> int:
    """A `kB` field of /proc/PID/status (0 once the process is gone or a zombie)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match[1]) if match else 0


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """utime + stime of /proc/PID/stat (fields 14 and 15; the name before them may hold spaces)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _pss_kb(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    match = re.search(r"^Pss:\s+(\d+) kB", text, re.MULTILINE)
    return int(match[1]) if match else 0


def _parents() -> dict[int, int]:
    """PID -> parent PID of every process, from /proc/*/stat (its fields after the last ')' are fixed: the
    command name before them may hold spaces and parentheses)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # gone while we looked
    return parents


def descendants(pid: int) -> list[int]:
    """Every process below `pid`: from /proc/PID/task/*/children where the kernel provides it (not all do),
    else from one scan of /proc."""
    if list(Path(f"/proc/{pid}/task").glob("*/children")):
        found, todo = [], [pid]
        while todo:
            for path in Path(f"/proc/{todo.pop()}/task").glob("*/children"):
                try:
                    kids = [int(p) for p in path.read_text().split()]
                except OSError:
                    continue
                found += kids
                todo += kids
        return found
    children: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def sample(pid: int, web: FixtureWeb, began: float) -> Sample:
    tree = descendants(pid)
    return Sample(time.monotonic() - began, web.count(), _status_kb(pid, "VmRSS"),
                  sum(_status_kb(p, "VmRSS") for p in tree), sum(_pss_kb(p) for p in [pid, *tree]), 1 + len(tree),
                  _cpu_seconds(pid), sum(_cpu_seconds(p) for p in tree))


def soak_site(sites_root: Path) -> dict[str, str]:
    """The demo site config, with every listing page followed (the big web's sections run to ~1,500 pages)."""
    demo = (ROOT / "settings" / "sites" / "demo.toml").read_text()
    toml, replaced = re.subn(r"(?m)^max_pages_per_section = \d+$", "max_pages_per_section = 1000000", demo)
    if not replaced:
        raise SystemExit("settings/sites/demo.toml has no max_pages_per_section line to raise")
    return write_site(sites_root, SOAK_SITE, toml)


def parse_settings(pairs: list[str]) -> dict[str, str]:
    """`-s KEY=VALUE` arguments as a dict (benchmarks/hostile.py takes the same)."""
    found = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--settings takes KEY=VALUE, got {pair!r}")
        found[key] = value
    return found


def _mb(kb: int) -> float:
    return kb / 1024


HEADER = (f"{'':>5} {'pages':>7} {'elapsed s':>9} {'pages/s':>8} {'crawler':>8} {'children':>8} {'RSS MB':>7} "
          f"{'PSS MB':>7} {'procs':>5} {'CPU% crawler':>12} {'children':>8}")


def _row(label: str, s: Sample, before: Sample | None) -> str:
    """One line of the table; rates (pages/s, CPU%) are over the window since `before`."""
    span = s.elapsed - before.elapsed if before else 0.0
    if before and span > 0 and s.pages > before.pages:
        rates = (f"{(s.pages - before.pages) / span:>8.1f}",
                 f"{100 * (s.crawler_cpu - before.crawler_cpu) / span:>12.0f}",
                 f"{100 * max(0.0, s.children_cpu - before.children_cpu) / span:>8.0f}")
    else:
        rates = (f"{'':>8}", f"{'':>12}", f"{'':>8}")
    return (f"{label:>5} {s.pages:>7} {s.elapsed:>9.1f} {rates[0]} {_mb(s.crawler_kb):>8.0f} "
            f"{_mb(s.children_kb):>8.0f} {_mb(s.crawler_kb + s.children_kb):>7.0f} {_mb(s.pss_kb):>7.0f} "
            f"{s.processes:>5} {rates[1]} {rates[2]}")


def stop(proc: subprocess.Popen[bytes], grace: float = 60) -> None:
    """Stop the crawl we started, and its children: SIGINT (Scrapy's graceful stop), then SIGKILL."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _reap_group(pgid: int, grace: float = 10) -> None:
    """Processes of the crawl's group still alive `grace` s after it exited are orphans (issue 10): say so,
    end them."""
    deadline = time.monotonic() + grace
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        left = [pid for pid in _parents() if _pgid(pid) == pgid and not _zombie(pid)]
        if not left:
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    print(f"LEFT RUNNING {grace:.0f} s after the crawl exited: {len(left)} processes of its group {left}; "
          "killing them", flush=True)
    os.killpg(pgid, signal.SIGKILL)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def crawl(web: FixtureWeb, work: Path, settings: dict[str, str], every: int, timeout: float
          ) -> tuple[int, list[Sample], list[tuple[Sample, float]]]:
    """Run the crawl, sampling once a second; returns its exit code, every sample and the rows printed."""
    store = work / "store"
    opts = {"STORE_URI": f"file://{store}", "STORE_SPOOL_DIR": str(work / "spool"), "CRAWL_ID": "soak",
            "LOG_LEVEL": "INFO", "CRAWL_PROGRESS": "off", "RENDER_ENABLED": "False",
            **soak_site(work), **settings}
    args = [str(Path(sys.executable).with_name("scrapy")), "crawl", "news", "-a", f"site={SOAK_SITE}",
            "-a", f"base_url={web.base_url}/"]
    for key, value in opts.items():
        args += ["-s", f"{key}={value}"]
    print("settings: " + " ".join(f"{k}={v}" for k, v in opts.items() if k != "CRAWL_SITES_DIR"), flush=True)
    print(HEADER, flush=True)
    web.requests(reset=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    samples: list[Sample] = []
    rows: list[tuple[Sample, float]] = []
    with (work / "crawl.log").open("wb") as log:
        began = time.monotonic()
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # its own process group, so stop() reaches its children
        try:
            next_mark, last = every, Sample(0.0, 0, 0, 0, 0, 1)
            now = last
            while proc.poll() is None:
                if time.monotonic() - began > timeout:
                    print(f"timeout after {timeout:.0f} s: stopping the crawl", flush=True)
                    stop(proc)
                    break
                try:
                    now = sample(proc.pid, web, began)
                except OSError as exc:  # URLError included: the web is gone, the figures would mean nothing
                    code = web.proc.poll() if web.proc else None
                    print(f"the sample web stopped answering ({exc}; its exit code {code}): stopping the crawl",
                          flush=True)
                    stop(proc)
                    break
                samples.append(now)
                if now.pages >= next_mark:
                    rows.append((now, (now.pages - last.pages) / max(now.elapsed - last.elapsed, 1e-9)))
                    print(_row("", now, last), flush=True)
                    last = now
                    next_mark = (now.pages // every + 1) * every
                time.sleep(max(0.0, 1.0 - (time.monotonic() - began - now.elapsed)))
        finally:
            stop(proc)
            _reap_group(proc.pid)
    if samples and samples[-1].pages > last.pages:
        # The partial last window, up to the first sample with the final count (later ones are shutdown).
        done = next(s for s in samples if s.pages == samples[-1].pages)
        print(_row("last", done, last), flush=True)
        print(f"exit {samples[-1].elapsed:>9.1f} s; last sample: RSS {_mb(samples[-1].crawler_kb):.0f} + "
              f"{_mb(samples[-1].children_kb):.0f} MB, {samples[-1].processes} processes", flush=True)
    return proc.returncode, samples, rows


def verdicts(samples: list[Sample], rows: list[tuple[Sample, float]], every: int, wall: float) -> list[str]:
    lines = []
    # After warm-up, while pages still come: the samples after the last page are shutdown (files closed,
    # workers gone), not the steady state.
    final = max((s.pages for s in samples), default=0)
    warm = [s for s in samples if every <= s.pages < final]
    if warm:
        totals = [s.crawler_kb + s.children_kb for s in warm if s.crawler_kb]
        high, low = max(totals), min(totals)
        slope = _slope([s.pages for s in warm if s.crawler_kb], totals) * 10_000 / 1024
        lines.append(f"RSS after warm-up ({every} pages): {_mb(low):.0f}-{_mb(high):.0f} MB, max/min {high / low:.2f} "
                     f"({'flat' if high / low <= FLAT_RATIO else 'GROWS'}: <= {FLAT_RATIO}), "
                     f"trend {slope:+.1f} MB per 10,000 pages; "
                     f"{'under' if _mb(high) < RSS_TARGET_MB else 'OVER'} {RSS_TARGET_MB:.0f} MB "
                     f"(peak PSS {_mb(max(s.pss_kb for s in warm)):.0f} MB)")
    else:
        lines.append(f"RSS after warm-up: n/a (the crawl served fewer than {every} pages)")
    if len(rows) >= 3:
        second, latest = rows[1][1], rows[-1][1]
        lines.append(f"pages/s: last full window {latest:.1f} vs second {second:.1f}: {latest / second:.2f} "
                     f"({'holds' if latest / second >= SPEED_RATIO else 'FALLS'}: >= {SPEED_RATIO})")
    else:
        lines.append(f"pages/s: n/a (needs 3 windows of {every} pages, got {len(rows)}; try a smaller --every)")
    lines.append(f"wall time: {wall:.0f} s")
    return lines


def _slope(xs: list[int], ys: list[int]) -> float:
    """Least-squares slope of ys over xs (0 when xs do not vary)."""
    n = len(xs)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    var = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


def report_crawl(work: Path, returncode: int) -> None:
    manifest_path = work / "store" / "crawls" / "soak" / "crawl.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        stats = manifest.get("stats", {})
        print(f"crawl: exit {returncode}, {manifest.get('finish_reason')}, "
              f"{manifest.get('counts', {}).get('items')} articles stored, "
              f"{stats.get('response_received_count')} responses in {stats.get('elapsed_time_seconds')} s")
    else:
        print(f"crawl: exit {returncode}, no crawl.json; last lines of {work / 'crawl.log'}:")
        lines = (work / "crawl.log").read_text(errors="replace").splitlines()
        print("\n".join(lines[-15:]))


def _load() -> str:
    """Load averages (1, 5, 15 min): a busy machine explains slow figures."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=50_000, help="articles in the generated web (about)")
    parser.add_argument("--every", type=int, default=5_000, help="a row every this many pages; also the warm-up")
    parser.add_argument("-s", "--settings", action="append", default=[], metavar="KEY=VALUE",
                        help="a Scrapy setting for the crawl (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the store and the crawl's log")
    parser.add_argument("--timeout", type=float, default=6 * 3600, help="seconds before the crawl is stopped")
    args = parser.parse_args()
    # `timeout` or a scheduler ends us with SIGTERM: unwind, so the finally clauses stop the crawl (its own
    # process group) and the web instead of leaving them running.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    work = Path(tempfile.mkdtemp(prefix="palimpsest-soak-"))
    began = time.monotonic()
    try:
        with FixtureWeb(size=args.size) as web:
            print(f"sample web of --size {args.size} at {web.base_url}, started in {time.monotonic() - began:.1f} s; "
                  f"{os.cpu_count()} CPUs, load average {_load()}", flush=True)
            returncode, samples, rows = crawl(web, work, parse_settings(args.settings), args.every, args.timeout)
            wall = time.monotonic() - began
            if web.proc and web.proc.poll() is None:
                web_rss = _status_kb(web.proc.pid, "VmRSS")
                print(f"the web served {web.count()} requests and holds {_mb(web_rss):.0f} MB; "
                      f"load average {_load()}")
        report_crawl(work, returncode)
        print("\n".join(verdicts(samples, rows, args.every, wall)))
    finally:
        if args.keep:
            print(f"kept: {work} (store/, crawl.log)")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if returncode:
        raise SystemExit(returncode)


if __name__ == "__main__":
    main()
