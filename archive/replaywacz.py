"""A crawl as a WACZ on local disk, for ReplayWeb.page to read by range.

The store's own WACZ (ARCHIVE_WACZ) is copied down once; a crawl without one is packaged on first use. Files
are named after the crawl's index signature, so a crawl whose files changed (a partial crawl finishing) is
packaged again, and a request never waits on another's half-written file.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from archive.captureindex import CaptureIndex
from archive.store import Store
from archive.wacz import WaczError, wacz_key, write_wacz
from archive.waczindex import chunks
from crawler.errors import StoreError

logger = logging.getLogger(__name__)


class WaczCache:
    def __init__(self, store: Store, index: CaptureIndex, directory: Path) -> None:
        self.store = store
        self.index = index
        self.directory = directory
        self._locks: dict[str, asyncio.Lock] = {}

    async def path(self, crawl_id: str, run: Callable[..., Awaitable[Any]]) -> Path | None:
        """The local WACZ of `crawl_id`, made when missing; None for a crawl the store does not have."""
        signature = await run(self.index.signature, crawl_id)
        if signature is None:
            return None
        target = self.directory / f"{crawl_id}-{signature[:12]}.wacz"
        if target.is_file():
            return target
        lock = self._locks.setdefault(crawl_id, asyncio.Lock())
        async with lock:
            if not target.is_file():
                await run(self._make, crawl_id, target)
        return target

    def _make(self, crawl_id: str, target: Path) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.part")
        key = wacz_key(crawl_id)
        stored = dict(self.store.listing(key.rsplit("/", 1)[0] + "/")).get(key)
        try:
            if stored is not None:
                with partial.open("wb") as out:
                    for data in chunks(self.store, key, stored):
                        out.write(data)
            else:
                write_wacz(self.store, crawl_id, partial, partial=True)
            partial.replace(target)
        except (OSError, StoreError, WaczError):
            partial.unlink(missing_ok=True)
            raise
        for old in self.directory.glob(f"{crawl_id}-*.wacz"):  # this crawl's older packages, not crawl-2's
            tag = old.name[len(crawl_id) + 1:-len(".wacz")]
            if old != target and len(tag) == 12 and all(c in "0123456789abcdef" for c in tag):
                old.unlink(missing_ok=True)
        logger.info("WACZ of %s ready for browsing: %s", crawl_id, target)
