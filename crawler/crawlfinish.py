"""Finishing a distributed crawl: the last worker (or `scrapy crawl-finish CRAWL_ID`) writes `crawl.json`.

Each worker stores its own manifest as `crawls/CRAWL_ID/workers/WORKER.json` when it ends. The last one to
leave the crawl then stores, on its machine, what workers that died there left in their spools (their
`CRAWL_ID@WORKER` directories: the kernel dropped their locks), merges every worker manifest into
`crawl.json` (archive/manifest.py) and clears the crawl's frontier from Redis, keeping a marker so that a
worker started late does not crawl it again. A worker lost on another machine leaves the crawl
`complete: false` until `scrapy store-sync` runs there (and `scrapy crawl-finish` again).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from archive.leftovers import Leftovers
from archive.manifest import merge_workers, store_manifest
from archive.recovery import recover
from archive.spoollock import SpoolLock
from archive.store import Store, StoredObject
from archive.uploader import Uploader
from crawler.frontier import Frontier

logger = logging.getLogger(__name__)


def store_dead_workers(store: Store, spool_root: Path, crawl_id: str, uploads: dict[str, Any]) -> tuple[list[str],
                                                                                                           list[str]]:
    """Store what dead workers of `crawl_id` left in this machine's spool: (their names, keys still waiting)."""
    lock = threading.Lock()
    box: dict[str, Leftovers] = {}

    def stored(obj: StoredObject) -> None:
        box["leftovers"].done(obj.key, failed=False)

    def failed(key: str, exc: Exception) -> None:
        with lock:
            logger.error("cannot store %s left by a dead worker: %s", key, exc)
        box["leftovers"].done(key, failed=True)

    uploader = Uploader(store, stored, failed, **uploads)
    leftovers = box["leftovers"] = Leftovers(store, uploader.submit, spool_root)
    held: list[SpoolLock] = []
    recover(spool_root, leftovers.submit, hold=held, only=lambda name: name.startswith(f"{crawl_id}@"))
    workers = sorted(lock_.directory.name.split("@", 1)[1] for lock_ in held)
    leftovers.hold(held)
    waiting = uploader.close() + leftovers.close()
    if workers:
        logger.warning("crawl %s: stored what %d dead workers left in %s: %s", crawl_id, len(workers), spool_root,
                       ", ".join(workers))
    return workers, waiting


def finish_crawl(store: Store, frontier: Frontier, spool_root: Path, uploads: dict[str, Any],
                 spool: Path) -> dict[str, Any]:
    """Merge the worker manifests into crawl.json (stored; kept in `spool` too while incomplete) and clear
    the crawl's frontier. Blocking: call it off the reactor."""
    crawl_id = frontier.options.crawl_id
    prefix = f"crawls/{crawl_id}"
    recovered, waiting = store_dead_workers(store, spool_root, crawl_id, uploads)
    lost = [w for w in frontier.lost_workers() if w not in recovered]
    manifest = merge_workers(store, prefix, lost)
    manifest["recovered_workers"] = recovered
    if waiting:
        manifest["waiting"] = sorted({*manifest["waiting"], *waiting})
        manifest["complete"] = False
    store_manifest(store, prefix, spool, manifest)
    frontier.finish()
    if lost:
        logger.error("crawl %s: workers %s were lost on other machines; run `scrapy store-sync` there, then "
                     "`scrapy crawl-finish %s`", crawl_id, ", ".join(lost), crawl_id)
    return manifest
