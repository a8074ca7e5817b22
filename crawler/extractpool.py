"""Article extraction off the reactor: a small process pool, because trafilatura is CPU-bound Python.

Run in the reactor thread, extraction (two trafilatura passes, ~10 ms a page) stalls every download while
it runs. In worker processes it overlaps with fetching and uses the other cores. Workers come from a
forkserver, never forked from the running crawler (whose threads and reactor must not be copied).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from zoneinfo import ZoneInfo

from crawler.extract import Extracted, extract_article

logger = logging.getLogger(__name__)


def _extract(html: str, url: str, timezone: str) -> Extracted | None:
    return extract_article(html, url, ZoneInfo(timezone))


def default_workers() -> int:
    """One core stays with the crawler; the rest extract. At least one worker."""
    return max(1, (os.cpu_count() or 2) - 1)


class ExtractionPool:
    """`await pool.extract(html, url, tz)`; with `workers=0` extraction runs inline (for debugging)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: Executor | None = None

    def _pool(self) -> Executor:
        if self._executor is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["crawler.extract"])
            self._executor = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)
        return self._executor

    async def extract(self, html: str, url: str, timezone: str) -> Extracted | None:
        """Extract one page; a worker killed by a hostile page costs that page only, never the pool."""
        if self.workers == 0:
            return _extract(html, url, timezone)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool(), _extract, html, url, timezone)
        except BrokenProcessPool:
            logger.error("an extraction worker died on %s; starting new workers", url)
            self._executor = None  # the broken pool has already shut itself down
            raise

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
