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
                   earlier: Path | None = None, name: str = "crawl.json") -> None:
    """Merge, store, and keep a copy in `spool` unless the crawl is complete and stored (blocking: call it
    off the reactor). `earlier` is the spooled manifest of an earlier run of the id, if any. `name`: a
    distributed crawl's worker stores its own (`workers/WORKER.json`), merged later, never with earlier runs."""
    if name == "crawl.json":
        merge_earlier(manifest, earlier_manifest(store, prefix, earlier))
    body = json.dumps(manifest, ensure_ascii=False, indent=2, default=str).encode()
    spooled = spool / name
    try:
        store.put_bytes(f"{prefix}/{name}", body)
    except (StoreError, OSError) as exc:
        manifest["complete"] = False
        manifest["waiting"].append(f"{prefix}/{name}")
        body = json.dumps(manifest, ensure_ascii=False, indent=2, default=str).encode()
        logger.error("cannot store the manifest (%s); kept as %s", exc, spooled)
    else:
        if manifest["complete"]:
            spooled.unlink(missing_ok=True)  # an earlier run's copy: merged into this one
            return
    spooled.parent.mkdir(parents=True, exist_ok=True)
    spooled.write_bytes(body)


# --- distributed crawls: one manifest per worker, merged by the last --------------------------------------

def worker_key(prefix: str, worker: str) -> str:
    return f"{prefix}/workers/{worker}.json"


def _sum_numbers(into: dict[str, Any], more: dict[str, Any]) -> None:
    for key, value in more.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        into[key] = into.get(key, 0) + value


def merge_workers(store: Store, prefix: str, lost: list[str] | None = None) -> dict[str, Any]:
    """crawl.json of a distributed crawl from its workers' manifests (`workers/*.json`): objects and waiting
    files of all, counts and numeric stats summed, the first start and the last end. Files in the store that
    no worker manifest lists (those of a worker that died after storing them) are listed too, without a
    sha256. A crawl with a lost worker is not `complete`: what that worker still held in its spool is not
    in the store until `scrapy store-sync` runs on its machine."""
    workers = []
    for key in sorted(k for k in store.keys(f"{prefix}/workers/") if k.endswith(".json")):
        try:
            workers.append(json.loads(store.get_bytes(key)))
        except (StoreError, OSError, ValueError) as exc:
            logger.error("worker manifest %s unreadable (%s): its files are listed from the store", key, exc)
    if not workers:
        raise StoreError(f"no worker manifest under {prefix}/workers/: no worker of this crawl finished")
    merged: dict[str, Any] = {k: v for k, v in workers[0].items() if k not in ("worker", "objects", "waiting")}
    merged["started_at"] = min(str(w.get("started_at")) for w in workers)
    merged["finished_at"] = max(str(w.get("finished_at")) for w in workers)
    reasons = sorted({str(w.get("finish_reason")) for w in workers})
    merged["finish_reason"] = reasons[0] if len(reasons) == 1 else ", ".join(reasons)
    counts: dict[str, Any] = {}
    stats: dict[str, Any] = {}
    objects: dict[str, dict[str, Any]] = {}
    waiting: set[str] = set()
    for worker in workers:
        _sum_numbers(counts, worker.get("counts") or {})
        _sum_numbers(stats, worker.get("stats") or {})
        objects.update({o["key"]: o for o in worker.get("objects", []) if isinstance(o, dict) and "key" in o})
        waiting.update(worker.get("waiting") or [])
    for key, size in store.listing(f"{prefix}/"):
        if key not in objects and not key.startswith(f"{prefix}/workers/") and key != f"{prefix}/crawl.json":
            objects[key] = {"key": key, "size": size, "sha256": None}
    merged.update(counts=counts, stats=stats, objects=[objects[k] for k in sorted(objects)],
                  waiting=sorted(waiting), lost_workers=sorted(lost or []),
                  complete=all(w.get("complete") for w in workers) and not waiting and not lost,
                  workers=[{k: w.get(k) for k in ("worker", *RUN_FIELDS)} for w in workers])
    return merged
