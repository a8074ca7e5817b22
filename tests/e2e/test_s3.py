"""Crawling into S3: a real S3-API server process (moto_server on loopback), boto3 on our side."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.crawling import path_of, scrapy
from tests.fixtureweb.process import ROOT, FixtureWeb
from tests.servers import CREDENTIALS, MotoServer, create_bucket

BUCKET = "palimpsest-test"


def _client(endpoint: str) -> Any:
    return create_bucket(endpoint, BUCKET)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto_server on a free loopback port, stopped by its PID afterwards."""
    with MotoServer() as server:
        yield server.endpoint


@pytest.fixture(scope="module")
def s3(s3_endpoint: str) -> Any:
    return _client(s3_endpoint)


def test_a_crawl_into_s3_leaves_the_store_layout_with_matching_checksums(
        web: FixtureWeb, s3: Any, s3_endpoint: str, tmp_path: Path) -> None:
    env = {**CREDENTIALS, "AWS_ENDPOINT_URL": s3_endpoint}  # the standard boto3 variable, as for the AWS CLI
    proc = scrapy(["crawl", "news", "-a", "site=demo", "-a", f"base_url={web.base_url}/",
                   "-s", f"STORE_URI=s3://{BUCKET}/archive", "-s", f"STORE_SPOOL_DIR={tmp_path / 'spool'}",
                   "-s", "CRAWL_ID=s3-crawl", "-s", "STORE_S3_ADDRESSING=path"], env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    prefix = "archive/crawls/s3-crawl/"
    keys = sorted(obj["Key"].removeprefix(prefix)
                  for obj in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))
    warc = [k for k in keys if k.startswith("warc/")]
    assert len(warc) == 1 and warc[0].endswith(".warc.gz")
    cdxj = "cdxj/" + warc[0].removeprefix("warc/").removesuffix(".warc.gz") + ".cdxj"
    assert keys == sorted(["crawl.json", "log/part-00000.jsonl.gz", "items/part-00000.jsonl.gz",
                           "probes/part-00000.jsonl.gz", cdxj, *warc])
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=prefix + "crawl.json")["Body"].read())
    assert manifest["store_uri"] == f"s3://{BUCKET}/archive" and manifest["counts"]["items"] >= 256
    assert sorted(o["key"] for o in manifest["objects"]) == sorted(prefix.removeprefix("archive/") + k
                                                                  for k in keys if k != "crawl.json")
    for obj in manifest["objects"]:
        head = s3.head_object(Bucket=BUCKET, Key="archive/" + obj["key"])
        body = s3.get_object(Bucket=BUCKET, Key="archive/" + obj["key"])["Body"].read()
        assert len(body) == obj["size"] and hashlib.sha256(body).hexdigest() == obj["sha256"]
        assert head["Metadata"]["sha256"] == obj["sha256"]
    assert not list((tmp_path / "spool").rglob("*.gz"))  # everything left the spool


def _bucket_files(s3: Any, prefix: str, target: Path) -> list[Path]:
    paths = []
    for obj in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []):
        path = target / obj["Key"].removeprefix(prefix)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read())
        paths.append(path)
    return paths


def test_a_killed_crawl_s_spool_is_stored_completely_by_store_sync(
        web: FixtureWeb, s3: Any, s3_endpoint: str, tmp_path: Path) -> None:
    env = {**CREDENTIALS, "AWS_ENDPOINT_URL": s3_endpoint, "PYTHONPATH": str(ROOT)}
    spool = tmp_path / "spool"
    settings = [f"STORE_URI=s3://{BUCKET}/killed", f"STORE_SPOOL_DIR={spool}", "CRAWL_ID=k",
                "STORE_S3_ADDRESSING=path", "STORE_PART_MAX_RECORDS=25", "ARCHIVE_MAX_FILE_SIZE=60000",
                "DOWNLOAD_DELAY=0.02", "CONCURRENT_REQUESTS=2", "RENDER_ENABLED=False"]
    cmd = [str(Path(sys.executable).with_name("scrapy")), "crawl", "news", "-a", "site=demo",
           "-a", f"base_url={web.base_url}/", *[arg for s in settings for arg in ("-s", s)]]
    web.requests(reset=True)
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="killed/crawls/k/log/").get("KeyCount", 0)
        if listed >= 3:
            break
        time.sleep(0.05)  # polling the bucket for the crawl's progress, not waiting on a server
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    served = set(web.requests())
    left = [p for p in spool.rglob("*") if p.is_file()]
    assert left, "the kill left nothing in the spool: the test did not interrupt anything"
    sync = scrapy(["store-sync", "-s", settings[0], "-s", settings[1], "-s", settings[3]], env=env)
    assert sync.returncode == 0, sync.stdout + sync.stderr[-2000:]
    assert not [p for p in spool.rglob("*") if p.is_file()]
    files = _bucket_files(s3, "killed/crawls/k/", tmp_path / "bucket")
    log = [json.loads(line) for p in files if "/log/" in p.as_posix()
           for line in gzip.decompress(p.read_bytes()).splitlines()]
    accounted = {path_of(e["url"]) for e in log} | {path_of(e["final_url"]) for e in log if e["final_url"]}
    accounted |= {path_of(h["url"]) for e in log for h in e["redirects"]}
    accounted |= {path_of(u) for e in log for u in (e["render"] or {}).get("subresources", [])}
    # Only requests still active at the kill may be missing. Scrapy counts a request active from its download
    # until its last middleware is done (the crawl log waits there until the writer has the entry), at most
    # CONCURRENT_REQUESTS of them, and each served at most one redirect hop besides its final URL on this web.
    # (Without the browser: a rendered page in flight would add its subresources.)
    assert len(log) > 25 and len(served - accounted) <= 2 * 2
    warcs = [p for p in files if p.name.endswith(".warc.gz")]
    assert warcs and not (tmp_path / "bucket" / "crawl.json").exists()  # a partial crawl stays marked partial
    for warc in warcs:
        check = subprocess.run([str(Path(sys.executable).with_name("warcio")), "check", str(warc)],
                               capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stdout
        assert (tmp_path / "bucket" / "cdxj" / warc.name.replace(".warc.gz", ".cdxj")).is_file()


@pytest.fixture
def stoppable_s3() -> Iterator[tuple[MotoServer, Any]]:
    """A moto_server of this test's own, so pausing it leaves the other tests' server alone."""
    with MotoServer() as server:
        yield server, _client(server.endpoint)


def test_an_s3_outage_mid_crawl_loses_nothing(
        web: FixtureWeb, stoppable_s3: tuple[MotoServer, Any], tmp_path: Path) -> None:
    server, s3 = stoppable_s3
    endpoint = server.endpoint
    env = {**os.environ, **CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, "PYTHONPATH": str(ROOT)}
    settings = [f"STORE_URI=s3://{BUCKET}/outage", f"STORE_SPOOL_DIR={tmp_path / 'spool'}", "CRAWL_ID=o",
                "STORE_S3_ADDRESSING=path", "STORE_S3_TIMEOUT=1", "STORE_S3_CONNECT_TIMEOUT=1",
                "STORE_PART_MAX_RECORDS=25",
                "ARCHIVE_MAX_FILE_SIZE=100000", "DOWNLOAD_DELAY=0.05"]  # ~15 s: uploads all through the outage
    cmd = [str(Path(sys.executable).with_name("scrapy")), "crawl", "news", "-a", "site=demo",
           "-a", f"base_url={web.base_url}/", *[arg for s in settings for arg in ("-s", s)]]
    crawl = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while s3.list_objects_v2(Bucket=BUCKET, Prefix="outage/").get("KeyCount", 0) < 1 and crawl.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.05)  # polling the bucket for the crawl's progress
    server.pause()  # the store stops answering in the middle of the crawl ...
    time.sleep(8)  # ... for longer than one attempt (a 1 s timeout takes ~4 s to fail): uploads must be retried
    server.resume()
    _, stderr = crawl.communicate(timeout=300)
    assert crawl.returncode == 0, stderr[-3000:]
    assert "retry in" in stderr  # the outage was felt: uploads failed and were retried
    files = _bucket_files(s3, "outage/crawls/o/", tmp_path / "bucket")
    manifest = json.loads((tmp_path / "bucket" / "crawl.json").read_text())
    assert not [k for k in manifest["stats"] if k.startswith("store/upload_failed")]
    log = [json.loads(line) for p in files if "/log/" in p.as_posix()
           for line in gzip.decompress(p.read_bytes()).splitlines()]
    items = [line for p in files if "/items/" in p.as_posix() for line in gzip.decompress(p.read_bytes()).splitlines()]
    assert len(log) == manifest["counts"]["log_entries"] == 330  # the sample web's pages, with 6 host probes
    assert len(items) == manifest["counts"]["items"] == 280
    assert sorted(o["key"].removeprefix("crawls/o/") for o in manifest["objects"]) == sorted(
        p.relative_to(tmp_path / "bucket").as_posix() for p in files if p.name != "crawl.json")
    assert not [p for p in (tmp_path / "spool").rglob("*") if p.is_file()]
