"""The per-crawl spool lock: one holder at a time, named in the error, gone with its process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from archive.spoollock import SpoolLock, SpoolLockedError

ROOT = Path(__file__).resolve().parents[2]
# Takes the lock, says its PID (and its forked child's, when asked to fork), then waits on stdin.
HOLDER = """
import os, sys
from pathlib import Path
from archive.spoollock import SpoolLock
lock = SpoolLock(Path(sys.argv[1]))
if not lock.acquire():
    sys.exit(3)
child = 0
if len(sys.argv) > 2:
    ready, told = os.pipe()
    child = os.fork()
    if child == 0:  # the lock's at-fork hook has run by now: say so, then wait
        os.write(told, b"x")
        sys.stdin.read()
        os._exit(0)
    os.read(ready, 1)  # on a busy machine the child may not have run at all yet
print(os.getpid(), child, flush=True)
sys.stdin.read()
"""


@contextmanager
def held_elsewhere(directory: Path, fork: bool = False) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """A process holding `directory`'s lock until killed; yields it and its forked child's PID (or 0)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-c", HOLDER, str(directory), *(["fork"] if fork else [])]
    with subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
                          env=env) as proc:
        child = 0
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()  # the lock is held once the PIDs are printed
            assert line, f"lock holder exited with {proc.wait()}"
            pid, child = (int(word) for word in line.split())
            assert pid == proc.pid
            yield proc, child
        finally:
            for pid in (proc.pid, child):
                if pid:
                    with suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            # (the forked child, killed too, is its parent's or init's to reap; `with` waits for the parent)


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_one_holder_at_a_time_and_release_removes_the_file(tmp_path: Path) -> None:
    directory = tmp_path / "spool" / "crawl-1"
    lock = SpoolLock(directory)
    assert lock.acquire()  # parents are made
    assert lock.acquire()  # idempotent while held
    assert lock.holder() == os.getpid()
    assert (directory / ".lock").read_text().strip() == str(os.getpid())
    other = SpoolLock(directory)
    assert not other.acquire()  # a second lock of the same process is refused too
    lock.release()
    assert not (directory / ".lock").exists()
    assert lock.holder() is None
    lock.release()  # idempotent
    assert other.acquire()
    other.release()


def test_the_error_names_the_directory_and_the_holder(tmp_path: Path) -> None:
    directory = tmp_path / "crawl-1"
    with held_elsewhere(directory) as (proc, _), pytest.raises(SpoolLockedError) as raised:  # noqa: SIM117
        with SpoolLock(directory):
            pytest.fail("entered a lock another process holds")
    assert str(directory) in str(raised.value)
    assert str(proc.pid) in str(raised.value)
    assert raised.value.pid == proc.pid


def test_the_kernel_releases_the_lock_of_a_killed_holder(tmp_path: Path) -> None:
    directory = tmp_path / "crawl-1"
    with held_elsewhere(directory) as (proc, _):
        lock = SpoolLock(directory)
        assert not lock.acquire()
        assert lock.holder() == proc.pid
        kill(proc)  # SIGKILL: no handler, no cleanup runs
        assert (directory / ".lock").exists()  # the file stays, its lock does not
        assert lock.acquire()
        assert lock.holder() == os.getpid()
        lock.release()


def test_a_forked_child_does_not_keep_a_killed_holder_s_lock(tmp_path: Path) -> None:
    """An orphaned worker (forked, not exec'd) must not keep a killed crawl's spool locked for good."""
    directory = tmp_path / "crawl-1"
    with held_elsewhere(directory, fork=True) as (proc, child):
        assert child
        assert not SpoolLock(directory).acquire()
        kill(proc)
        os.kill(child, 0)  # still alive
        lock = SpoolLock(directory)
        assert lock.acquire()
        lock.release()


def test_context_manager_releases(tmp_path: Path) -> None:
    with SpoolLock(tmp_path / "c") as lock:
        assert lock.held
        assert not SpoolLock(tmp_path / "c").acquire()
    assert not lock.held
    assert SpoolLock(tmp_path / "c").acquire()


def test_busy_tells_a_running_holder_from_a_free_or_dead_one_and_leaves_no_trace(tmp_path: Path) -> None:
    directory = tmp_path / "crawl"
    assert not SpoolLock(directory).busy() and not directory.exists()  # probing makes no directory
    with held_elsewhere(directory) as (proc, _):
        assert SpoolLock(directory).busy()
        kill(proc)
    assert not SpoolLock(directory).busy()  # the holder died: its stale lock file is not a running crawl
    assert not (directory / ".lock").exists()
