"""Writing a crawl's manifest (`crawl.json`): last, merged with earlier runs of its id, never lost.

The manifest goes to the store after every file it lists, so its presence marks a finished crawl. A reused
crawl id overwrites nothing: the earlier runs' objects stay listed and what each run was is kept under
`previous_runs`. When the store cannot take it, it waits in the crawl's spool for `scrapy store-sync` (or
the next crawl's recovery); an incomplete crawl's manifest waits there too even when the store took it, so
that the store's copy is brought up to date once the files it lists as waiting are stored.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from archive.store import Store
from crawler.errors import StoreError

logger = logging.getLogger(__name__)

RUN_FIELDS = ("started_at", "finished_at", "finish_reason", "complete", "counts")


def earlier_manifest(store: Store, prefix: str, spooled: Path | None) -> dict[str, Any] | None:
    """The manifest an earlier run of this crawl id left: its spooled copy, else the store's; None for a
    new crawl id (or an unreadable one: nothing to merge)."""
    try:
        if spooled is not None:
            return dict(json.loads(spooled.read_text(encoding="utf-8")))
        return dict(json.loads(store.get_bytes(f"{prefix}/crawl.json")))
    except (StoreError, OSError, ValueError, TypeError):
        return None


def merge_earlier(manifest: dict[str, Any], earlier: dict[str, Any] | None) -> None:
    if not earlier:
        return
    run = {k: earlier.get(k) for k in RUN_FIELDS}
    manifest["previous_runs"] = [*earlier.get("previous_runs", []), run]
    objects = {o["key"]: o for o in earlier.get("objects", []) if isinstance(o, dict) and "key" in o}
    objects.update({o["key"]: o for o in manifest["objects"]})
    manifest["objects"] = [objects[k] for k in sorted(objects)]


def store_manifest(store: Store, prefix: str, spool: Path, manifest: dict[str, Any],
                   earlier: Path | None = None) -> None:
    """Merge, store, and keep a copy in `spool` unless the crawl is complete and stored (blocking: call it
    off the reactor). `earlier` is the spooled manifest of an earlier run of the id, if any."""
    merge_earlier(manifest, earlier_manifest(store, prefix, earlier))
    body = json.dumps(manifest, ensure_ascii=False, indent=2, default=str).encode()
    spooled = spool / "crawl.json"
    try:
        store.put_bytes(f"{prefix}/crawl.json", body)
    except (StoreError, OSError) as exc:
        manifest["complete"] = False
        manifest["waiting"].append(f"{prefix}/crawl.json")
        body = json.dumps(manifest, ensure_ascii=False, indent=2, default=str).encode()
        logger.error("cannot store the manifest (%s); kept as %s", exc, spooled)
    else:
        if manifest["complete"]:
            spooled.unlink(missing_ok=True)  # an earlier run's copy: merged into this one
            return
    spooled.parent.mkdir(parents=True, exist_ok=True)
    spooled.write_bytes(body)
