"""A store that fails must not cost the crawl: the crawl goes on into the spool, says at the end what is still
waiting, exits non-zero, and `scrapy store-sync` later stores it all. Real servers only: moto_server behind
a fault-injecting proxy (500 / 403 on every write), and an endpoint where nothing listens."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from archive.recovery import store_key
from tests.crawling import path_of, scrapy
from tests.fixtureweb.process import FixtureWeb
from tests.servers import CREDENTIALS, FaultyS3, MotoServer, create_bucket, dead_endpoint

BUCKET = "palimpsest-faults"
GIVE_UP = 3.0  # seconds a failing file is retried before it is left in the spool


@pytest.fixture(scope="module")
def moto() -> Iterator[tuple[MotoServer, Any]]:
    with MotoServer() as server:
        yield server, create_bucket(server.endpoint, BUCKET)


def _crawl(web: FixtureWeb, endpoint: str, spool: Path, crawl_id: str) -> Any:
    settings = [f"STORE_URI=s3://{BUCKET}/faults", f"STORE_SPOOL_DIR={spool}", f"CRAWL_ID={crawl_id}",
                "STORE_S3_ADDRESSING=path", f"STORE_S3_GIVE_UP={GIVE_UP}", "STORE_S3_CONNECT_TIMEOUT=1",
                "STORE_S3_TIMEOUT=2", "STORE_UPLOAD_BACKOFF=0.2", "STORE_UPLOAD_MAX_BACKOFF=1",
                "RENDER_ENABLED=False", "ARCHIVE_DEDUP_INDEX_DIR="]
    args = ["crawl", "news", "-a", "site=demo", "-a", f"base_url={web.base_url}/"]
    web.requests(reset=True)
    return scrapy([*args, *[a for s in settings for a in ("-s", s)]], env={**CREDENTIALS, "AWS_ENDPOINT_URL": endpoint})


def _spooled_log(spool: Path, crawl_id: str) -> list[dict[str, Any]]:
    return [json.loads(line) for part in sorted((spool / crawl_id / "log").glob("part-*.jsonl.gz"))
            for line in gzip.decompress(part.read_bytes()).splitlines()]


def _assert_crawled_into_the_spool(proc: Any, web: FixtureWeb, spool: Path, crawl_id: str) -> dict[str, Any]:
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "incomplete: " in proc.stderr and f"crawl {crawl_id}" in proc.stderr
    log = _spooled_log(spool, crawl_id)
    accounted = {path_of(e["url"]) for e in log} | {path_of(e["final_url"]) for e in log if e["final_url"]}
    accounted |= {path_of(h["url"]) for e in log for h in e["redirects"]}
    assert len(log) > 250 and set(web.requests()) <= accounted  # the store's failure cost no page
    manifest: dict[str, Any] = json.loads((spool / crawl_id / "crawl.json").read_text())
    assert manifest["complete"] is False and manifest["finish_reason"] == "finished"
    assert manifest["counts"]["log_entries"] == len(log)
    on_disk = {store_key(crawl_id, p.relative_to(spool / crawl_id)) for p in (spool / crawl_id).rglob("*")
               if p.is_file() and not p.name.startswith(".") and p.name != "crawl.json"}
    assert set(manifest["waiting"]) == on_disk | {f"crawls/{crawl_id}/crawl.json"}  # named, every one
    return manifest


def _store_sync(endpoint: str, spool: Path) -> Any:
    return scrapy(["store-sync", "-s", f"STORE_URI=s3://{BUCKET}/faults", "-s", f"STORE_SPOOL_DIR={spool}",
                   "-s", "STORE_S3_ADDRESSING=path"], env={**CREDENTIALS, "AWS_ENDPOINT_URL": endpoint})


def _stored_log(client: Any, crawl_id: str) -> list[bytes]:
    prefix = f"faults/crawls/{crawl_id}/log/"
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]
    return [line for key in keys
            for line in gzip.decompress(client.get_object(Bucket=BUCKET, Key=key)["Body"].read()).splitlines()]


def test_a_dead_store_endpoint_costs_no_page_and_store_sync_finishes_the_job(
        web: FixtureWeb, moto: tuple[MotoServer, Any], tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    proc = _crawl(web, dead_endpoint(), spool, "dead")
    manifest = _assert_crawled_into_the_spool(proc, web, spool, "dead")
    entries = manifest["counts"]["log_entries"]
    assert any(k.startswith("store/upload_failed/") for k in manifest["stats"])
    server, client = moto
    sync = _store_sync(server.endpoint, spool)
    assert sync.returncode == 0, sync.stdout + sync.stderr[-2000:]
    assert len(_stored_log(client, "dead")) == entries
    stored = json.loads(client.get_object(Bucket=BUCKET, Key="faults/crawls/dead/crawl.json")["Body"].read())
    assert stored["complete"] is True and stored["waiting"] == []  # stored last, brought up to date
    assert not [p for p in spool.rglob("*") if p.is_file() and not p.name.startswith(".")]


@pytest.mark.parametrize("status", ["500", "403"])
def test_s3_errors_on_every_write_are_retried_counted_and_spooled(
        web: FixtureWeb, moto: tuple[MotoServer, Any], tmp_path: Path, status: str) -> None:
    server, client = moto
    spool = tmp_path / "spool"
    with FaultyS3(server.endpoint) as proxy:
        proxy.fault(status)
        proc = _crawl(web, proxy.endpoint, spool, f"err{status}")
        assert proxy.state()["faulted"] > 0
    manifest = _assert_crawled_into_the_spool(proc, web, spool, f"err{status}")
    failed = [k for k in manifest["stats"] if k.startswith("store/upload_failed/")]
    assert failed and "StoreError" not in " ".join(failed)  # counted under the real cause, e.g. ClientError
    assert any(k.startswith("store/upload_retried/") for k in manifest["stats"])
    sync = _store_sync(server.endpoint, spool)
    assert sync.returncode == 0, sync.stdout + sync.stderr[-2000:]
    assert len(_stored_log(client, f"err{status}")) == manifest["counts"]["log_entries"]
