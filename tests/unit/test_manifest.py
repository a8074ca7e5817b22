"""The crawl manifest: merged with earlier runs of a reused crawl id, kept in the spool while incomplete."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from archive.manifest import store_manifest
from archive.recovery import store_spooled_manifest
from archive.store import FileStore, StoreAccessError, StoredObject

PREFIX = "crawls/c1"


def manifest(started: str, objects: list[str], waiting: list[str] | None = None) -> dict[str, Any]:
    return {"crawl_id": "c1", "started_at": started, "finished_at": started, "finish_reason": "finished",
            "complete": not waiting, "waiting": list(waiting or []), "counts": {"log_entries": len(objects)},
            "objects": [{"key": f"{PREFIX}/{k}", "size": 1, "sha256": "x"} for k in objects]}


def stored(store: FileStore) -> dict[str, Any]:
    return dict(json.loads(store.get_bytes(f"{PREFIX}/crawl.json")))


def test_a_reused_crawl_id_keeps_the_earlier_runs_objects_and_says_what_each_run_was(tmp_path: Path) -> None:
    store, spool = FileStore(tmp_path / "store"), tmp_path / "spool" / "c1"
    store_manifest(store, PREFIX, spool, manifest("2026-12-01T00:00:00Z", ["log/part-00000.jsonl.gz"]))
    store_manifest(store, PREFIX, spool, manifest("2026-12-02T00:00:00Z", ["log/part-00001.jsonl.gz"]))
    second = stored(store)
    assert [o["key"] for o in second["objects"]] == [f"{PREFIX}/log/part-00000.jsonl.gz",
                                                      f"{PREFIX}/log/part-00001.jsonl.gz"]
    assert [r["started_at"] for r in second["previous_runs"]] == ["2026-12-01T00:00:00Z"]
    assert second["started_at"] == "2026-12-02T00:00:00Z" and not spool.exists()


def test_an_incomplete_manifest_is_stored_and_kept_in_the_spool_until_store_sync_updates_it(tmp_path: Path) -> None:
    """Uploads gave up but the store took the manifest: without the spooled copy, the store would say
    `complete: false` for good, and `scrapy wacz` and the catalog would refuse the crawl."""
    store, spool = FileStore(tmp_path / "store"), tmp_path / "spool" / "c1"
    waiting = f"{PREFIX}/warc/W-00000-host.warc.gz"
    store_manifest(store, PREFIX, spool, manifest("2026-12-01T00:00:00Z", ["log/part-00000.jsonl.gz"], [waiting]))
    assert stored(store)["complete"] is False
    copy = spool / "crawl.json"
    assert json.loads(copy.read_text())["waiting"] == [waiting]
    # store-sync, once the WARC is stored: nothing it lists is waiting any more
    assert store_spooled_manifest(store, f"{PREFIX}/crawl.json", copy, waiting=set())
    assert stored(store)["complete"] is True and stored(store)["waiting"] == [] and not copy.exists()


class DownStore(FileStore):
    def put_bytes(self, key: str, data: bytes) -> StoredObject:
        raise StoreAccessError(f"cannot write {key}: the store is down", "EndpointConnectionError")


def test_a_manifest_the_store_refuses_waits_in_the_spool_saying_so(tmp_path: Path) -> None:
    spool = tmp_path / "spool" / "c1"
    store_manifest(DownStore(tmp_path / "store"), PREFIX, spool, manifest("2026-12-01T00:00:00Z", ["log/a"]))
    copy = json.loads((spool / "crawl.json").read_text())
    assert copy["complete"] is False and copy["waiting"] == [f"{PREFIX}/crawl.json"]
