"""Moving finished files into the store without blocking the reactor, and without losing any.

Each file is put by a worker thread, retried with exponential backoff when the store fails; a file that
still cannot be stored stays in the spool (counted in `store/upload_failed/<Error>` and logged), where the
next run finds it. `wait()` returns when every submitted file is stored or given up on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from archive.store import Store, StoredObject
from crawler.errors import StoreError

logger = logging.getLogger(__name__)


class Uploader:
    """put_file in threads, with retries; `on_stored` and `on_failed` are called from worker threads."""

    def __init__(self, store: Store, on_stored: Callable[[StoredObject], None],
                 on_failed: Callable[[str, Exception], None], workers: int = 4, attempts: int = 5,
                 backoff: float = 0.5) -> None:
        self.store, self.on_stored, self.on_failed = store, on_stored, on_failed
        self.attempts, self.backoff = attempts, backoff
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="upload")
        self.pending: list[Future[None]] = []
        self.lock = threading.Lock()

    def submit(self, key: str, path: Path) -> None:
        with self.lock:
            self.pending.append(self.pool.submit(self._put, key, path))

    def _put(self, key: str, path: Path) -> None:
        for attempt in range(1, self.attempts + 1):
            try:
                self.on_stored(self.store.put_file(key, path))
                return
            except (StoreError, OSError) as exc:
                if attempt == self.attempts:
                    logger.error("giving up on %s after %d attempts (kept in the spool): %s", key, attempt, exc)
                    self.on_failed(key, exc)
                    return
                delay = self.backoff * 2 ** (attempt - 1)
                logger.warning("storing %s failed (attempt %d, retry in %.1fs): %s", key, attempt, delay, exc)
                time.sleep(delay)

    def wait(self) -> None:
        """Block until every submitted file is stored or given up on (call from a thread, not the reactor)."""
        while True:
            with self.lock:
                pending, self.pending = self.pending, []
            if not pending:
                return
            for future in pending:
                future.result()

    def close(self) -> None:
        self.wait()
        self.pool.shutdown(wait=True)
