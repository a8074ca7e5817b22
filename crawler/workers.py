"""CPU-bound work on pages, off the reactor: a small process pool (parsing, classification, extraction).

Run in the reactor thread, reading a page (an lxml parse, the classifier, two trafilatura passes: tens of
milliseconds) stalls every download while it runs. In worker processes it overlaps with fetching and uses
the other cores. Workers come from a forkserver, never forked from the running crawler (whose threads and
reactor must not be copied), and each ends when the crawler does, even a crawler killed with SIGKILL.

Left alone a worker would outlive a killed crawler for good: it blocks reading the pool's call queue, whose
write end it holds itself (a pickled `multiprocessing.Queue` carries both ends), so the crawler's death never
reaches it; and it holds the write ends of the forkserver's "alive" pipe and of the resource tracker's pipe,
so those two (which exit at EOF on their pipe) live on with it. So each worker watches its parent's sentinel,
the data pipe whose write end only the crawler holds (`multiprocessing.parent_process().sentinel`), and exits
at its EOF; the forkserver and the resource tracker then see their EOF and exit by themselves.
PR_SET_PDEATHSIG does not fit: a worker's parent is the forkserver, which outlives the crawler.

Work on one page is bounded in time, measured in the worker from when the page starts there (a page's wait
in the pool's queue is not its own doing): past `timeout` an interval timer interrupts it, the caller gets
`PageTimeoutError`, and the worker goes on with the next page. A page stuck where no timer reaches (inside
one C call) is caught by a backstop on the caller's side, `BACKSTOP` times the bound: then the pool's
workers are killed and replaced, and pages that were waiting in it are tried again on the new pool.
"""

from __future__ import annotations

import asyncio
import heapq
import importlib
import itertools
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import wait
from typing import Any, TypeVar

from crawler.errors import PalimpsestError

logger = logging.getLogger(__name__)
T = TypeVar("T")
ORPHANED_EXIT = 3  # a worker's exit status when it ended because the crawler had gone
BACKSTOP = 20  # times the page bound, on the caller's side: a page's queue wait plus its own time


def _alarm(signum: int, frame: object) -> None:
    raise PageTimeoutError("page work took longer than its time bound")


def _timed(timeout: float, fn: Callable[..., T], *args: Any) -> T:
    """In the worker: `fn(*args)` under an interval timer, so one page cannot hold the worker for good."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return fn(*args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _start_worker(modules: list[str]) -> None:
    """Pool initializer: follow the crawler, and import the page readers now rather than on the first page.
    Imported here, not preloaded in the forkserver: a preloaded forkserver keeps its own copy of every module
    for the whole crawl (copy-on-write pages come apart as reference counts change), ~90 MB for nothing
    once its one worker has started."""
    _exit_with_crawler()
    for module in modules:
        importlib.import_module(module)


def _exit_with_crawler() -> None:
    """Start the thread that ends this worker when the crawler process is gone."""
    parent = multiprocessing.parent_process()
    if parent is None:  # not a multiprocessing child: nothing to follow
        return
    threading.Thread(target=_await_crawler_exit, args=(parent.sentinel,), name="crawler-watch", daemon=True).start()


def _await_crawler_exit(sentinel: int) -> None:
    """Block (no polling) until the crawler's end of the sentinel pipe closes, then leave at once.
    `os._exit`, not `sys.exit`: the main thread may be inside a page, and nobody is left to answer."""
    wait([sentinel])
    os._exit(ORPHANED_EXIT)


class PriorityGate:
    """At most `limit` pages inside the pool at once; the others wait here, the highest priority first.

    A process pool's own queue is first come, first served: behind a burst of articles from a sitemap, a
    listing page (whose links feed the frontier, and whose browser decision holds up the pages it links to)
    waited its turn for half a second. Keeping only a few pages in the pool's queue lets the gate choose."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.inside = 0
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    async def enter(self, priority: int = 0) -> None:
        if self.inside < self.limit and not self._waiting:
            self.inside += 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (-priority, next(self._order), turn))
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.leave()  # given a place as it was cancelled: pass the place on
            raise

    def leave(self) -> None:
        while self._waiting:
            turn = heapq.heappop(self._waiting)[2]
            if not turn.done():
                turn.set_result(None)  # the place goes straight to the next page: `inside` is unchanged
                return
        self.inside -= 1


class PageTimeoutError(PalimpsestError):
    """A page kept a worker busy for longer than the pool's time bound."""


def default_workers() -> int:
    """One core stays with the crawler (reactor, archive writer); the rest read pages. At least one."""
    return max(1, (os.cpu_count() or 2) - 1)


class WorkerPool:
    """`await pool.run(fn, arg)`; `workers=0` runs inline, in the caller's thread (for debugging)."""

    def __init__(self, workers: int, preload: list[str], timeout: float = 60.0) -> None:
        self.workers, self.preload, self.timeout = workers, preload, timeout
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()  # the pool is started by the warm-up thread or by the first page
        self._ready: Future[None] | None = None  # set when the warm-up thread has started every worker
        self._gate = PriorityGate(2 * workers)  # one page read, one waiting for each worker

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                context = multiprocessing.get_context("forkserver")
                self._executor = ProcessPoolExecutor(max_workers=self.workers, mp_context=context,
                                                     initializer=_start_worker, initargs=(self.preload,))
            return self._executor

    async def run(self, fn: Callable[..., T], *args: Any, priority: int = 0) -> T:
        """`fn(*args)` in a worker, higher `priority` first; a worker that dies or hangs on a page costs that
        page, never the pool."""
        if self.workers == 0:
            return fn(*args)
        if self._ready is not None and not self._ready.done():
            await asyncio.wrap_future(self._ready)  # starting a worker blocks its caller: never the reactor
        await self._gate.enter(priority)
        try:
            return await self._run(fn, *args)
        finally:
            self._gate.leave()

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            executor = self._pool()
            try:
                return await asyncio.wait_for(loop.run_in_executor(executor, _timed, self.timeout, fn, *args),
                                              self.timeout * BACKSTOP)
            except TimeoutError:
                self._replace(executor, f"a page kept a worker busy past every bound ({self.timeout:.0f} s)")
                raise PageTimeoutError(f"page work took longer than {self.timeout:.0f} s") from None
            except (BrokenProcessPool, asyncio.CancelledError):
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # this page itself is being cancelled, not the pool under it
                if self._executor is not executor and attempt == 1:
                    continue  # the pool was replaced for another page while this one waited: try again
                self._replace(executor, "a worker died")
                raise BrokenProcessPool("a page worker died") from None
        raise AssertionError("unreachable")

    def warm_up(self) -> None:
        """Start the forkserver and the workers now, in a thread, rather than when the first page arrives.
        Starting them takes about a second (an interpreter, the page readers' imports) and blocks whoever
        starts them until each worker answers: done on the reactor, that second is lost to every fetch."""
        if self.workers and self._ready is None:
            self._ready = Future()
            threading.Thread(target=self._start_workers, args=(self._ready,), name="page-workers-start",
                             daemon=True).start()

    def _start_workers(self, ready: Future[None]) -> None:
        try:
            for _ in range(self.workers):
                self._pool().submit(os.getpid)
        except Exception as exc:  # the first page meets the same failure and reports it as its own
            logger.warning("starting the page workers failed: %s: %s", type(exc).__name__, exc)
        finally:
            ready.set_result(None)

    def _replace(self, executor: ProcessPoolExecutor, why: str) -> None:
        """Kill the pool's workers (one of them is stuck or gone) and start afresh on the next page."""
        if self._executor is not executor:
            return  # another page already replaced it
        logger.error("%s; starting new workers", why)
        self._executor = None
        for process in list(getattr(executor, "_processes", {}).values()):
            if process.is_alive():
                process.kill()
        executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
