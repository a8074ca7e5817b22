"""Moving finished files into the store without blocking the reactor, and without losing any.

Worker threads put files into the store. A failed file goes back into a schedule with capped, jittered
exponential backoff instead of holding its worker asleep, so during an outage every file gets its turn,
and files submitted later are not stuck behind one that keeps failing. This is the only retry policy:
the S3 client makes one attempt per request (see `archive.s3store.make_client`), because ours spans a
whole outage and can see the deadline, where botocore's per-request retries multiplied with ours.

While the crawl runs, no file is given up: a file that keeps failing stays in the spool and is retried
with capped backoff (every `max_backoff` at most), so a store that comes back after an outage of any
length gets every file. `give_up` bounds the end: once `close()` is called, a file is given up when
`give_up` seconds have passed since its first failed attempt; then `on_failed(key, exc)` is called once
and the file stays in the spool, untouched, where the next run (or `scrapy store-sync`) finds it. One clock
is shared in an outage: a file whose first attempt comes while the store is already failing is timed from
the start of that outage, as it would have failed then too. While closing, files past their deadline are
not each tried again: one of them is (a probe); if the store answers, the others go too, else they are
given up without a request. So once `close()` is called it returns within `give_up + backoff` + two
attempts' time (an attempt: a few requests, each bounded by the client's connect + read timeouts), whatever
the number of files or the kind of failure.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from archive.store import Store, StoreAccessError, StoredObject, failure_name
from crawler.errors import StoreError

logger = logging.getLogger(__name__)


@dataclass
class _Upload:
    """One submitted file and its retry state (guarded by the Uploader's lock)."""

    key: str
    path: Path
    seq: int
    attempts: int = 0
    clock: float | None = None  # when its give_up period started: its first failure, or its outage's start
    error: Exception | None = None
    overdue: bool = False  # failed past its deadline while the crawl ran: retried every max_backoff


class Uploader:
    """put_file in worker threads, retried until stored or `give_up`.

    `on_stored(obj)` once per stored file, `on_failed(key, exc)` once per file given up, and the optional
    `on_retry(key, exc)` for every failed attempt that will be retried (to count an outage that was
    survived). All are called from worker threads (the caller makes them thread-safe), with a
    StoreAccessError whose `cause_name` is what to count (S3UploadFailedError, EndpointConnectionError...).
    """

    def __init__(self, store: Store, on_stored: Callable[[StoredObject], None],
                 on_failed: Callable[[str, Exception], None], workers: int = 4, give_up: float = 600.0,
                 backoff: float = 0.5, max_backoff: float = 30.0, *,
                 on_retry: Callable[[str, Exception], None] | None = None) -> None:
        if workers < 1 or give_up < 0 or backoff <= 0 or max_backoff < backoff:
            raise ValueError(f"Uploader: workers={workers} give_up={give_up} backoff={backoff} "
                             f"max_backoff={max_backoff}: need workers >= 1, give_up >= 0, 0 < backoff <= max_backoff")
        self.store, self.on_stored, self.on_failed, self.on_retry = store, on_stored, on_failed, on_retry
        self.give_up, self.backoff, self.max_backoff = give_up, backoff, max_backoff
        self._cond = threading.Condition()
        self._due: list[tuple[float, int, _Upload]] = []  # heap: (when to try next, submission order, upload)
        self._active: dict[str, _Upload] = {}  # per key, the one upload scheduled or in flight
        self._behind: dict[str, deque[_Upload]] = {}  # later submissions of an active key, run after it
        self._given_up: list[str] = []
        self._outage_since: float | None = None  # first failure since the last success, any file
        self._last_error: Exception | None = None
        self._closing = False
        self._probed = False  # while closing, in an outage past give_up: one overdue file was tried again
        self._seq = itertools.count()
        self._threads = [threading.Thread(target=self._work, name=f"upload-{n}", daemon=True) for n in range(workers)]
        for thread in self._threads:
            thread.start()

    def submit(self, key: str, path: Path) -> None:
        """Queue a complete file for `key` (first come, first tried); returns at once."""
        with self._cond:
            # During close() only a callback of ours may still add work (a CDXJ sent once its WARC is stored).
            if self._closing and threading.current_thread() not in self._threads:
                raise RuntimeError(f"Uploader is closed: cannot store {key}")
            upload = _Upload(key, path, next(self._seq))
            current = self._active.get(key)
            if current is None:
                self._schedule(upload, time.monotonic())
                return
            if current.path == path or any(u.path == path for u in self._behind.get(key, ())):
                logger.debug("%s (%s) is already waiting to be stored", key, path)
                return
            self._behind.setdefault(key, deque()).append(upload)  # one key is never uploaded twice at once

    def waiting(self) -> list[str]:
        """Keys submitted and neither stored nor given up yet, in submission order."""
        with self._cond:
            uploads = [*self._active.values(), *(u for queue in self._behind.values() for u in queue)]
        return list(dict.fromkeys(u.key for u in sorted(uploads, key=lambda u: u.seq)))

    def close(self) -> list[str]:
        """Wait until every file is stored or given up on (bounded: see the module docstring), stop the
        workers, and return the keys given up, whose files are still in the spool. Call it off the reactor."""
        with self._cond:
            self._closing = True
            now = time.monotonic()  # overdue files wait up to max_backoff: their last try is now, not later
            self._due = [(now if upload.overdue else when, seq, upload) for when, seq, upload in self._due]
            heapq.heapify(self._due)
            self._cond.notify_all()
        for thread in self._threads:
            thread.join()
        with self._cond:
            return list(self._given_up)

    def _schedule(self, upload: _Upload, when: float) -> None:
        self._active[upload.key] = upload
        heapq.heappush(self._due, (when, upload.seq, upload))
        self._cond.notify()

    def _next(self) -> _Upload | None:
        """The next upload due, waiting for it; None when closing and nothing is left."""
        with self._cond:
            while True:
                now = time.monotonic()
                if self._due and self._due[0][0] <= now:
                    return heapq.heappop(self._due)[2]
                if self._closing and not self._active:
                    self._cond.notify_all()
                    return None
                self._cond.wait(self._due[0][0] - now if self._due else None)

    def _work(self) -> None:
        while (upload := self._next()) is not None:
            if (expired := self._expired(upload)) is not None:
                self._finish(upload, failed=expired)
                continue
            try:
                stored = self.store.put_file(upload.key, upload.path)
            except (StoreError, OSError) as exc:
                self._failed(upload, exc)
                continue
            except Exception as exc:  # a bug, not an outage: give the file up at once, keep the worker alive
                logger.exception("storing %s failed unexpectedly (kept in the spool)", upload.key)
                self._finish(upload, failed=StoreAccessError(f"storing {upload.key} failed: {exc!r}", exc))
                continue
            with self._cond:
                self._outage_since, upload.error, self._probed = None, None, False
            self._finish(upload, stored=stored)

    def _expired(self, upload: _Upload) -> StoreAccessError | None:
        """While closing, give a file up without a request when the store has been failing for longer than
        its deadline allows, unless the store answered since, or this is the one probe of such files (see
        the module docstring): otherwise N files x one timeout would hold shutdown. Never before closing."""
        now = time.monotonic()
        with self._cond:
            if not self._closing or self._outage_since is None or self._last_error is None:
                return None
            clock = upload.clock if upload.clock is not None else self._outage_since
            if now <= clock + self.give_up + self.backoff:
                return None
            if not self._probed:
                self._probed = True
                return None
            cause = upload.error or self._last_error
            why = f"the store has been failing for {now - self._outage_since:.0f}s (last: {cause})"
        logger.error("giving up on %s (kept in the spool): %s", upload.key, why)
        return StoreAccessError(f"storing {upload.key}: {why}", failure_name(cause))

    def _failed(self, upload: _Upload, exc: Exception) -> None:
        now = time.monotonic()
        with self._cond:
            upload.attempts += 1
            upload.error = exc
            self._last_error = exc
            if self._outage_since is None:
                self._outage_since = now
            if upload.clock is None:
                upload.clock = self._outage_since
            deadline = upload.clock + self.give_up
            delay = min(self.max_backoff, self.backoff * 2 ** (upload.attempts - 1))
            delay = random.uniform(delay / 2, delay)  # jitter: files failed together do not retry together
            retrying = upload.path.exists() and (now < deadline or not self._closing)
            if retrying and now < deadline:
                retry = min(now + delay, deadline)  # the last attempt starts at the deadline, not after it
                level = logging.WARNING if upload.attempts == 1 else logging.INFO  # an outage: one warning a file
                logger.log(level, "storing %s failed (attempt %d, retry in %.1fs, giving up in %.0fs once the "
                           "crawl ends): %s", upload.key, upload.attempts, retry - now, deadline - now, exc)
            elif retrying:  # past its deadline, the crawl still running: it waits in the spool, tried now and then
                retry = now + random.uniform(self.max_backoff / 2, self.max_backoff)
                if not upload.overdue:
                    logger.warning("storing %s has failed for %.0fs: it stays in the spool and is tried every "
                                   "%.0fs while the crawl runs (%s)", upload.key, now - upload.clock,
                                   self.max_backoff, exc)
                upload.overdue = True
            if retrying:
                heapq.heappush(self._due, (retry, upload.seq, upload))
                self._cond.notify()
        failure = exc if isinstance(exc, StoreAccessError) else StoreAccessError(f"storing {upload.key}: {exc}", exc)
        if retrying:
            if self.on_retry is not None:
                self._callback(self.on_retry, upload.key, failure)
            return
        why = "its file is gone" if not upload.path.exists() else f"{now - upload.clock:.0f}s of failures"
        logger.error("giving up on %s after %d attempts, %s (kept in the spool): %s",
                     upload.key, upload.attempts, why, exc)
        self._finish(upload, failed=failure)

    def _finish(self, upload: _Upload, stored: StoredObject | None = None, failed: Exception | None = None) -> None:
        """Report the outcome (before the key stops waiting, so close() returns after every callback), then
        let the next submission of the same key go."""
        if stored is not None:
            self._callback(self.on_stored, stored)
        elif failed is not None:
            self._callback(self.on_failed, upload.key, failed)
        with self._cond:
            if failed is not None:
                self._given_up.append(upload.key)
            del self._active[upload.key]
            behind = self._behind.get(upload.key)
            if behind:
                self._schedule(behind.popleft(), time.monotonic())
                if not behind:
                    del self._behind[upload.key]
            self._cond.notify_all()

    @staticmethod
    def _callback(callback: Callable[..., None], *args: object) -> None:
        """Call the caller's callback; its failure must not kill a worker (close() would then hang)."""
        try:
            callback(*args)
        except Exception:
            logger.exception("upload callback %s%r failed", getattr(callback, "__name__", callback), args)


def store_one(store: Store, key: str, path: Path, **options: float) -> StoredObject:
    """One file through the one retry policy (a WACZ packaged after the crawl's uploads are over); raises
    the StoreAccessError of its last attempt when it was given up (the file stays where it is)."""
    stored: list[StoredObject] = []
    failed: list[Exception] = []
    uploader = Uploader(store, stored.append, lambda key, exc: failed.append(exc),
                        **{**options, "workers": 1})  # type: ignore[arg-type]
    uploader.submit(key, path)
    uploader.close()
    if failed or not stored:
        raise failed[0] if failed else StoreAccessError(f"storing {key}: not stored", "NotStored")
    return stored[0]
