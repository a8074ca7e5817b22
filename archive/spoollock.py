"""A per-crawl spool lock: `SPOOL/CRAWL_ID/.lock`, held with flock(2) while the crawl (or a recovery) uses it.

flock rather than a PID file alone: the kernel drops the lock when the holder dies however it dies (SIGKILL,
OOM killer, power cut), so a dead crawl's spool is recoverable at once, and a live one is never mistaken for
dead because its PID was reused. The PID written into the file only says who holds it, for messages.

A process forked (without exec) from the holder shares the locked open file; left alone, an orphaned worker
would keep a killed crawl's spool locked for good. Such children close their copy at fork, so the lock lives
exactly as long as the process that took it. (Children started with exec never get it: Python opens files
non-inheritable.)
"""

from __future__ import annotations

import fcntl
import os
import weakref
from pathlib import Path
from types import TracebackType

from crawler.errors import PalimpsestError

LOCK_NAME = ".lock"


class SpoolLockedError(PalimpsestError):
    """The crawl's spool is locked by another running process (the same crawl id started twice)."""

    def __init__(self, directory: Path, pid: int | None) -> None:
        holder = f"process {pid}" if pid is not None else "another process"
        super().__init__(f"spool {directory} is in use by {holder} (its lock is {directory / LOCK_NAME})")
        self.directory, self.pid = directory, pid


_held: weakref.WeakSet[SpoolLock] = weakref.WeakSet()


def _close_in_child() -> None:
    """After fork: drop the child's copy of every held lock (closing it does not unlock the parent's)."""
    for lock in list(_held):
        lock._forget()


os.register_at_fork(after_in_child=_close_in_child)


class SpoolLock:
    """Exclusive, non-blocking lock on one crawl directory of the spool."""

    def __init__(self, directory: Path, name: str = LOCK_NAME) -> None:
        self.directory = directory
        self.path = directory / name
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        """Take the lock and write our PID; False if another live process (or another SpoolLock of this
        process) holds it. Idempotent while held."""
        if self._fd is not None:
            return True
        self.directory.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            except OSError:
                os.close(fd)
                raise
            # The holder we waited on may have removed the file between our open and our flock: then we
            # locked an orphaned inode that a third process would not see. Lock the file that is there.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        _held.add(self)
        return True

    def release(self) -> None:
        """Remove the lock file, then unlock (in that order, see `acquire`). Idempotent."""
        fd, self._fd = self._fd, None
        _held.discard(self)
        if fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(fd)  # closing the last descriptor of the open file releases the flock

    def _forget(self) -> None:
        fd, self._fd = self._fd, None
        _held.discard(self)
        if fd is not None:
            os.close(fd)

    def busy(self) -> bool:
        """Another running process holds this lock (probed without leaving a trace: no directory is made,
        a free lock is taken and released at once)."""
        if self._fd is not None or not self.path.exists():
            return False
        if self.acquire():
            self.release()
            return False
        return True

    def holder(self) -> int | None:
        """PID written in the lock file, if any (the holder's, while it is held)."""
        try:
            text = self.path.read_text(encoding="ascii").strip()
        except (FileNotFoundError, UnicodeDecodeError):
            return None
        return int(text) if text.isdigit() else None

    def __enter__(self) -> SpoolLock:
        if not self.acquire():
            raise SpoolLockedError(self.directory, self.holder())
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
