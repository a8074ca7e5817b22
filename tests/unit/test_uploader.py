"""The Uploader against real failures: FaultyS3 (500 / 403 on PUT) in front of moto_server, a port where
nothing listens, a server that stops answering. Files are retried until stored or `give_up`, given up once,
left in the spool untouched, and `close()` returns within a bound computed from the settings.
Then `scrapy store-sync` when the store is down, and the FileStore's fsyncs."""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from archive.s3store import S3Store, make_client
from archive.store import FileStore, StoreAccessError, StoredObject, failure_name
from archive.uploader import Uploader
from tests.crawling import scrapy
from tests.durability import record_fsyncs_and_renames
from tests.servers import CREDENTIALS, FaultyS3, MotoServer, create_bucket, dead_endpoint

BUCKET = "palimpsest-uploads"
CONNECT, READ = 1.0, 1.0  # the clients' timeouts in these tests
CONTINUE_WAIT = 1.0  # botocore waits this long for "100 Continue" before it sends a PUT's body anyway
REQUEST = CONNECT + CONTINUE_WAIT + READ  # the longest one request can take, by the client's settings
ATTEMPT = 2 * REQUEST  # one put_file of a single-part file: PutObject, then the HeadObject check
BACKOFF, MAX_BACKOFF = 0.05, 0.2


def close_bound(give_up: float) -> float:
    """What the Uploader promises: after close(), at most give_up + backoff + two attempts."""
    return give_up + BACKOFF + 2 * ATTEMPT


def s3_store(endpoint: str, prefix: str) -> S3Store:
    return S3Store(f"s3://{BUCKET}/{prefix}", make_client(endpoint, "us-east-1", "path", CONNECT, READ))


class Outcomes:
    """What the callbacks heard, from the worker threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stored: list[StoredObject] = []
        self.failed: list[tuple[str, Exception]] = []
        self.retried: list[tuple[str, Exception]] = []

    def on_stored(self, obj: StoredObject) -> None:
        with self.lock:
            self.stored.append(obj)

    def on_failed(self, key: str, exc: Exception) -> None:
        with self.lock:
            self.failed.append((key, exc))

    def on_retry(self, key: str, exc: Exception) -> None:
        with self.lock:
            self.retried.append((key, exc))

    def uploader(self, store: Any, give_up: float, workers: int = 2) -> Uploader:
        return Uploader(store, self.on_stored, self.on_failed, workers=workers, give_up=give_up, backoff=BACKOFF,
                        max_backoff=MAX_BACKOFF, on_retry=self.on_retry)


def spool_files(spool: Path, count: int, size: int = 100) -> dict[str, tuple[Path, bytes]]:
    files = {}
    spool.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        path, data = spool / f"part-{n:05d}.jsonl.gz", os.urandom(size)
        path.write_bytes(data)
        files[f"crawls/c/log/{path.name}"] = (path, data)
    return files


def until(condition: Callable[[], bool], timeout: float) -> None:
    """Poll what the uploader has done so far (not a server coming up) until `condition`, or fail."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition was not met in time"
        time.sleep(0.02)


def test_a_500_on_put_is_retried_counted_by_its_cause_and_stored_once_it_clears(
        proxy: FaultyS3, tmp_path: Path) -> None:
    store, outcomes = s3_store(proxy.endpoint, "retried"), Outcomes()
    (key, (path, data)), = spool_files(tmp_path, 1).items()
    proxy.fault("500")
    uploader = outcomes.uploader(store, give_up=60)
    uploader.submit(key, path)
    until(lambda: len(outcomes.retried) >= 3, timeout=60)
    assert uploader.waiting() == [key] and path.read_bytes() == data
    assert {failure_name(exc) for _, exc in outcomes.retried} == {"S3UploadFailedError"}
    assert all(isinstance(exc, StoreAccessError) for _, exc in outcomes.retried)
    proxy.fault("pass")
    assert uploader.close() == []
    assert [o.key for o in outcomes.stored] == [key] and outcomes.failed == []
    assert store.get_bytes(key) == data and not path.exists() and uploader.waiting() == []


def test_a_403_past_give_up_is_given_up_once_and_the_file_stays_in_the_spool(
        proxy: FaultyS3, tmp_path: Path) -> None:
    give_up = 1.5
    store, outcomes = s3_store(proxy.endpoint, "refused"), Outcomes()
    files = spool_files(tmp_path, 3)
    proxy.fault("403")
    started = time.monotonic()
    uploader = outcomes.uploader(store, give_up=give_up)
    for key, (path, _) in files.items():
        uploader.submit(key, path)
    given_up = uploader.close()
    elapsed = time.monotonic() - started
    assert sorted(given_up) == sorted(files)
    assert sorted(key for key, _ in outcomes.failed) == sorted(files)  # once each
    assert {failure_name(exc) for _, exc in outcomes.failed} == {"S3UploadFailedError"}
    assert all(path.read_bytes() == data for path, data in files.values())  # untouched
    assert outcomes.stored == [] and uploader.waiting() == []
    assert proxy.state()["faulted"] >= 2 * len(files)  # retried, not given up at the first 403
    assert give_up <= elapsed < close_bound(give_up)


def test_an_outage_longer_than_give_up_mid_crawl_loses_nothing_once_the_store_is_back(
        proxy: FaultyS3, tmp_path: Path) -> None:
    """give_up bounds the end of a crawl, not its middle: files that failed for longer than give_up while
    the crawl ran wait in the spool and are stored when the store answers again."""
    give_up = 0.5
    store, outcomes = s3_store(proxy.endpoint, "outage"), Outcomes()
    files = spool_files(tmp_path, 4)
    proxy.fault("500")
    uploader = outcomes.uploader(store, give_up=give_up)
    for key, (path, _) in list(files.items())[:2]:
        uploader.submit(key, path)
    until(lambda: len(outcomes.retried) >= 8, timeout=60)
    time.sleep(give_up + MAX_BACKOFF)  # well past every file's deadline, the crawl still running
    for key, (path, _) in list(files.items())[2:]:
        uploader.submit(key, path)  # files of a store that has been failing for longer than give_up
    assert outcomes.failed == [] and sorted(uploader.waiting()) == sorted(files)
    proxy.fault("pass")
    until(lambda: len(outcomes.stored) == len(files), timeout=60)
    assert uploader.close() == [] and outcomes.failed == []
    assert all(store.get_bytes(key) == data for key, (_, data) in files.items())


def test_a_dead_endpoint_costs_close_no_more_than_give_up(aws_env: None, tmp_path: Path) -> None:
    give_up = 1.0
    store, outcomes = s3_store(dead_endpoint(), "dead"), Outcomes()
    files = spool_files(tmp_path, 10)
    started = time.monotonic()
    uploader = outcomes.uploader(store, give_up=give_up)
    for key, (path, _) in files.items():
        uploader.submit(key, path)
    assert uploader.waiting() == list(files)
    assert sorted(uploader.close()) == sorted(files)
    elapsed = time.monotonic() - started
    assert give_up <= elapsed < close_bound(give_up)
    assert {failure_name(exc) for _, exc in outcomes.failed} == {"EndpointConnectionError"}
    assert len(outcomes.failed) == len(files) and all(path.exists() for path, _ in files.values())


def test_a_store_that_stops_answering_holds_close_for_give_up_not_for_every_file(
        aws_env: None, tmp_path: Path) -> None:
    """40 files, 2 workers, each attempt a read timeout: trying them all once would take 40 / 2 attempts."""
    give_up, count, workers = 2.0, 40, 2
    assert count / workers * (CONTINUE_WAIT + READ) > close_bound(give_up)  # the test can tell the two apart
    outcomes = Outcomes()
    files = spool_files(tmp_path, count)
    with MotoServer() as server:
        create_bucket(server.endpoint, BUCKET)
        store = s3_store(server.endpoint, "paused")
        server.pause()
        started = time.monotonic()
        uploader = outcomes.uploader(store, give_up=give_up, workers=workers)
        for key, (path, _) in files.items():
            uploader.submit(key, path)
        given_up = uploader.close()
        elapsed = time.monotonic() - started
    assert sorted(given_up) == sorted(files) and len(outcomes.failed) == count
    assert elapsed < close_bound(give_up)
    assert {failure_name(exc) for _, exc in outcomes.failed} == {"ReadTimeoutError"}
    assert all(path.exists() for path, _ in files.values())


class GatedStore:
    """A FileStore whose put_file waits until the test opens the gate, noting any key put twice at once."""

    def __init__(self, root: Path) -> None:
        self.inner = FileStore(root)
        self.uri = self.inner.uri
        self.gate = threading.Event()
        self.lock = threading.Lock()
        self.calls: list[tuple[str, Path]] = []
        self.running: set[str] = set()
        self.overlaps: list[str] = []

    def put_file(self, key: str, path: Path) -> StoredObject:
        with self.lock:
            if key in self.running:
                self.overlaps.append(key)
            self.running.add(key)
            self.calls.append((key, path))
        try:
            assert self.gate.wait(timeout=30), "the test never opened the gate"
            return self.inner.put_file(key, path)
        finally:
            with self.lock:
                self.running.discard(key)

    def put_bytes(self, key: str, data: bytes) -> StoredObject:
        return self.inner.put_bytes(key, data)

    def get_bytes(self, key: str) -> bytes:
        return self.inner.get_bytes(key)

    def get_range(self, key: str, start: int, length: int) -> bytes:
        return self.inner.get_range(key, start, length)

    def keys(self, prefix: str = "") -> Iterator[str]:
        return self.inner.keys(prefix)

    def children(self, prefix: str) -> Iterator[str]:
        return self.inner.children(prefix)

    def listing(self, prefix: str) -> Iterator[tuple[str, int]]:
        return self.inner.listing(prefix)


def test_submit_never_waits_and_waiting_lists_keys_until_they_are_stored_in_order(tmp_path: Path) -> None:
    store, outcomes = GatedStore(tmp_path / "store"), Outcomes()
    files = spool_files(tmp_path / "spool", 4)
    uploader = outcomes.uploader(store, give_up=10, workers=1)
    for key, (path, _) in files.items():
        uploader.submit(key, path)  # the one worker is held by the gate: submit must not wait for it
    assert uploader.waiting() == list(files)
    store.gate.set()
    assert uploader.close() == [] and uploader.waiting() == []
    assert [key for key, _ in store.calls] == list(files) == [o.key for o in outcomes.stored]  # first in, first out
    with pytest.raises(RuntimeError, match="closed"):
        uploader.submit("late", tmp_path / "late")


def test_one_key_is_never_uploaded_twice_at_once(tmp_path: Path) -> None:
    store, outcomes = GatedStore(tmp_path / "store"), Outcomes()
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_bytes(b"first")
    second.write_bytes(b"second")
    uploader = outcomes.uploader(store, give_up=10, workers=4)
    uploader.submit("k", first)
    uploader.submit("k", second)  # same key, another file: after the first
    uploader.submit("k", first)  # the same file again: already waiting
    uploader.submit("other", tmp_path / "missing")
    assert uploader.waiting() == ["k", "other"]
    store.gate.set()
    assert uploader.close() == ["other"]
    assert store.overlaps == []
    assert [(key, path) for key, path in store.calls if key == "k"] == [("k", first), ("k", second)]
    assert store.get_bytes("k") == b"second"


def test_a_bug_gives_the_file_up_at_once_and_a_failing_callback_stops_nothing(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    class BrokenStore(GatedStore):
        def put_file(self, key: str, path: Path) -> StoredObject:
            self.calls.append((key, path))
            raise RuntimeError("a bug, not an outage")

    store = BrokenStore(tmp_path)
    failed: list[tuple[str, Exception]] = []

    def on_failed(key: str, exc: Exception) -> None:
        failed.append((key, exc))
        raise ValueError("the caller's callback is broken too")

    (key, (path, _)), = spool_files(tmp_path / "spool", 1).items()
    uploader = Uploader(store, lambda obj: None, on_failed, give_up=60, backoff=BACKOFF)
    uploader.submit(key, path)
    with caplog.at_level(logging.ERROR, logger="archive.uploader"):
        assert uploader.close() == [key]  # at once: a bug is not retried for give_up seconds
    assert len(store.calls) == 1 and [failure_name(exc) for _, exc in failed] == ["RuntimeError"]
    assert "callback" in caplog.text and path.exists()


def test_store_sync_exits_1_and_lists_what_is_still_waiting_when_the_store_is_down(
        aws_env: None, moto: MotoServer, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    (spool / "c1" / "log").mkdir(parents=True)
    (spool / "c1" / "items").mkdir(parents=True)
    parts = [spool / "c1" / "log" / "part-00000.jsonl.gz", spool / "c1" / "items" / "part-00000.jsonl.gz"]
    for part in parts:
        part.write_bytes(gzip.compress(b'{"n": 1}\n'))
    settings = [f"STORE_URI=s3://{BUCKET}/sync", f"STORE_SPOOL_DIR={spool}", "STORE_S3_ADDRESSING=path",
                "STORE_S3_GIVE_UP=1", f"STORE_S3_TIMEOUT={READ}"]
    args = ["store-sync", *[arg for s in settings for arg in ("-s", s)]]
    down = scrapy([*args, "-s", f"STORE_S3_ENDPOINT_URL={dead_endpoint()}"], env=CREDENTIALS, timeout=120)
    assert down.returncode == 1, down.stdout + down.stderr[-2000:]
    assert "2 files found" in down.stdout and "0 stored" in down.stdout and "2 still waiting" in down.stdout
    for part in parts:
        key = f"crawls/c1/{part.parent.name}/{part.name}"
        assert f"  waiting: {part} -> {key} (EndpointConnectionError: " in down.stdout
        assert part.exists()
    assert "could not be stored" in down.stderr
    back = scrapy([*args, "-s", f"STORE_S3_ENDPOINT_URL={moto.endpoint}"], env=CREDENTIALS, timeout=120)
    assert back.returncode == 0, back.stdout + back.stderr[-2000:]
    assert "2 stored" in back.stdout and not any(part.exists() for part in parts)


def test_a_file_store_fsyncs_the_file_before_the_rename_and_the_directory_after(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events = record_fsyncs_and_renames(monkeypatch)
    local = tmp_path / "spool" / "part.jsonl.gz"
    local.parent.mkdir()
    local.write_bytes(b"x")
    store = FileStore(tmp_path / "store")
    obj = store.put_file("crawls/c/log/part.jsonl.gz", local)
    dest = tmp_path / "store" / "crawls" / "c" / "log"
    rename = events.index(("rename", str(dest / "part.jsonl.gz")))
    assert ("fsync", str(local)) in events[:rename]
    assert ("fsync", str(dest)) in events[rename:]
    assert ("fsync", str(tmp_path / "store" / "crawls")) in events[:rename]  # a new directory's entry too
    assert obj == StoredObject(obj.key, 1, hashlib.sha256(b"x").hexdigest())
    events.clear()
    FileStore(tmp_path / "fast", fsync=False).put_bytes("a/b", b"y")
    assert [kind for kind, _ in events] == ["rename"]
