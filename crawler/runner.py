"""One scheduled run as an operating-system process: started, watched, stopped, or taken over after a restart.

Each run is its own `scrapy crawl` process (a Twisted reactor cannot be restarted, and a crawl that crashes
must not take the scheduler down), in a session of its own: the scheduler's terminal signals reach the
scheduler only, which stops runs in order (SIGINT, the crawl closes its files; SIGKILL to the whole process
group, page workers and browser included, once the stop timeout has passed). Output goes to a log file
per run, whose tail is kept with the run when it fails.

A scheduler killed outright leaves its runs going. Started again, it takes them over (`Adopted`): a process
whose command line still names the run's crawl id is that run (a PID alone could have been reused), and
once it is gone the run's outcome is read from the store, since its exit status went with the old
scheduler.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SPIDERS = {"crawl": "news", "recheck": "recheck"}
RUNNING, GONE = "running", "gone"  # Process.poll() besides an exit status
TAIL_LINES = 40


@dataclass(frozen=True)
class RunSpec:
    """What to start: `scrapy crawl SPIDER -a site=SITE -s CRAWL_ID=...` with the scheduler's own settings."""

    site: str
    kind: str
    crawl_id: str
    log_path: Path
    settings: tuple[tuple[str, str], ...] = ()

    def argv(self) -> list[str]:
        args = [sys.executable, "-m", "scrapy", "crawl", SPIDERS[self.kind], "-a", f"site={self.site}",
                "-s", f"CRAWL_ID={self.crawl_id}"]
        for key, value in self.settings:
            args += ["-s", f"{key}={value}"]
        return args


class Process:
    """A run's process as the scheduler sees it: alive or not, its exit status if known, how to stop it."""

    pid: int

    def poll(self) -> int | str:
        """RUNNING; else the exit status (a run this scheduler started), or GONE (one it took over)."""
        raise NotImplementedError

    def interrupt(self) -> None:
        """SIGINT to the crawl itself: Scrapy's graceful stop (files closed, manifest written)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid, signal.SIGINT)

    def kill(self) -> None:
        """SIGKILL to the run's whole process group (its page workers and browser go with it)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)


class Started(Process):
    """A run this scheduler started: its exit status is ours to read."""

    def __init__(self, spec: RunSpec, cwd: Path | None = None, argv: Sequence[str] | None = None) -> None:
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        with spec.log_path.open("ab") as log:
            self.proc = subprocess.Popen(list(argv or spec.argv()), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True)
        self.pid = self.proc.pid

    def poll(self) -> int | str:
        code = self.proc.poll()
        return RUNNING if code is None else code


class Adopted(Process):
    """A run left going by an earlier scheduler: watched through /proc until it is gone (its PID is checked
    to still be that run at every look: a PID can be reused once the run has ended)."""

    def __init__(self, pid: int, crawl_id: str) -> None:
        self.pid, self.crawl_id = pid, crawl_id

    def poll(self) -> int | str:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return GONE
        except PermissionError:
            return RUNNING
        if _zombie(self.pid) or not _names(self.pid, self.crawl_id):
            return GONE
        return RUNNING

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid, signal.SIGKILL)


def running_run(pid: int | None, crawl_id: str | None) -> Adopted | None:
    """The process of a run an earlier scheduler started, if it is still that run (its command line names
    the crawl id); None when it is gone, or when the PID now belongs to something else."""
    if not pid or not crawl_id:
        return None
    if not _names(pid, crawl_id) or _zombie(pid):
        return None
    return Adopted(pid, crawl_id)


def find_run(crawl_id: str) -> Adopted | None:
    """The process of a run whose PID was never recorded (the scheduler died just as it started it): the one
    whose command line names its crawl id."""
    try:
        pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    except OSError:
        return None
    for pid in pids:
        if _names(pid, crawl_id) and not _zombie(pid):
            return Adopted(pid, crawl_id)
    return None


def _names(pid: int, crawl_id: str) -> bool:
    """The process's command line says `-s CRAWL_ID=crawl_id` (without /proc: assumed, the best there is)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return f"CRAWL_ID={crawl_id}".encode() in args


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def log_tail(path: Path | str | None, lines: int = TAIL_LINES) -> str | None:
    """The last lines of a run's log (read from the end: a crawl's log can be large)."""
    if not path:
        return None
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read()
    except OSError:
        return None
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])
