"""Other crawls' leftovers in the spool, stored by a running crawl, each released as soon as it is done.

A crawl starting up salvages what killed or failed runs left in the spool and uploads it beside its own
files. Each such crawl directory stays locked while its files are on their way (so no second process
submits them too), but only that long: once its last file is stored (or given up), its manifest goes to
the store after them (a manifest never claims files the store does not have) and its lock is released, so
the crawl id can be restarted at once, not only when the recovering crawl ends hours later.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from archive.recovery import store_spooled_manifest
from archive.spoollock import SpoolLock
from archive.store import Store

logger = logging.getLogger(__name__)


@dataclass
class _Crawl:
    pending: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    manifest: tuple[str, Path] | None = None
    lock: SpoolLock | None = None
    registered: bool = False  # recovery has submitted everything of it: an empty `pending` means done
    done: bool = False


def _remove_if_empty(directory: Path) -> None:
    """A recovered spool that holds no file any more (only empty folders): gone, as a finished crawl's is."""
    try:
        if directory.is_dir() and not any(p.is_file() for p in directory.rglob("*")):
            for sub in sorted((p for p in directory.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                sub.rmdir()
            directory.rmdir()
    except OSError as exc:  # another process started using it: left as it is
        logger.debug("spool %s kept: %s", directory, exc)


class Leftovers:
    """Tracks recovered crawls: `submit` (recovery's callback), `hold` (the locks recovery kept), `done`
    (from upload callbacks), `close` (what is left when the recovering crawl ends)."""

    def __init__(self, store: Store, upload: Callable[[str, Path], None], spool_root: Path) -> None:
        self.store, self.upload, self.spool_root = store, upload, spool_root
        self._lock = threading.Lock()
        self._crawls: dict[str, _Crawl] = {}  # by spool directory (CRAWL_ID, or CRAWL_ID@WORKER)
        self._owner: dict[str, str] = {}  # key -> spool directory of its file
        self.waiting: list[str] = []  # manifests that could not be stored

    def submit(self, key: str, path: Path) -> None:
        directory = path.relative_to(self.spool_root).parts[0]
        with self._lock:
            crawl = self._crawls.setdefault(directory, _Crawl())
            self._owner[key] = directory
            if key.endswith("/crawl.json"):
                crawl.manifest = (key, path)  # stored after the files it lists
                return
            crawl.pending.add(key)
        self.upload(key, path)

    def hold(self, locks: list[SpoolLock]) -> None:
        """Recovery is over: these directories' locks are ours until their files are done."""
        ready = []
        with self._lock:
            for lock in locks:
                crawl = self._crawls.setdefault(lock.directory.name, _Crawl())
                crawl.lock, crawl.registered = lock, True
                if not crawl.pending:
                    ready.append(crawl)
        for crawl in ready:
            self._finish(crawl)

    def done(self, key: str, failed: bool) -> bool:
        """An upload of `key` ended; False when the key is not a leftover's (this crawl's own)."""
        with self._lock:
            crawl = self._crawls.get(self._owner.get(key, ""))
            if crawl is None or key not in crawl.pending:
                return False
            crawl.pending.discard(key)
            if failed:
                crawl.failed.add(key)
            ready = crawl.registered and not crawl.pending
        if ready:
            self._finish(crawl)
        return True

    def _finish(self, crawl: _Crawl) -> None:
        with self._lock:
            if crawl.done:
                return
            crawl.done = True
            failed = set(crawl.failed) | set(crawl.pending)
        if crawl.manifest is not None:
            key, path = crawl.manifest
            if not store_spooled_manifest(self.store, key, path, failed):
                with self._lock:
                    self.waiting.append(key)
        if crawl.lock is not None:
            directory = crawl.lock.directory
            crawl.lock.release()
            _remove_if_empty(directory)

    def close(self) -> list[str]:
        """Finish every recovered crawl not finished yet (its failed files stay in the spool); the keys of
        manifests still waiting."""
        with self._lock:
            left = [c for c in self._crawls.values() if not c.done]
        for crawl in left:
            self._finish(crawl)
        return list(self.waiting)
