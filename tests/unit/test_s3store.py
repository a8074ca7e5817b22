"""S3Store against real S3-API servers on loopback: moto_server, FaultyS3 in front of it answering writes with
S3 errors, a port where nothing listens, a server that stops answering. Every failure is a StoreError that
names its cause, each request is made once (the Uploader is the only retry policy), listing is lazy."""

from __future__ import annotations

import hashlib
import inspect
import os
import time
from collections.abc import Callable
from concurrent.futures import CancelledError
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.exceptions import RetriesExceededError, S3TransferFailedError, S3UploadFailedError
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    FlexibleChecksumError,
    NoCredentialsError,
    ReadTimeoutError,
)
from s3transfer import exceptions as transfer_errors  # type: ignore[import-untyped]

from archive.s3store import S3Store, make_client
from archive.store import StoreAccessError, failure_name, open_store
from crawler.errors import StoreError
from tests.servers import FaultyS3, MotoServer, create_bucket, dead_endpoint

BUCKET = "palimpsest-unit"
CONNECT, READ = 2.0, 1.0  # the clients' timeouts in these tests
CONTINUE_WAIT = 1.0  # botocore waits this long for "100 Continue" before it sends a PUT's body anyway
MULTIPART = 5 * 1024 * 1024  # S3's smallest part: a file above it goes up as a multipart upload


def store_at(endpoint: str, prefix: str, **options: Any) -> S3Store:
    client = make_client(endpoint, "us-east-1", "path", connect_timeout=CONNECT, read_timeout=READ)
    return S3Store(f"s3://{BUCKET}/{prefix}", client, multipart_threshold=MULTIPART, **options)


def local_file(tmp_path: Path, size: int, name: str = "file") -> tuple[Path, bytes]:
    path = tmp_path / name
    data = os.urandom(size)
    path.write_bytes(data)
    return path, data


def test_the_client_makes_one_attempt_per_request_with_a_short_connect_timeout(aws_env: None) -> None:
    config = make_client("http://127.0.0.1:9", "us-east-1", "path").meta.config
    assert config.retries == {"total_max_attempts": 1, "mode": "standard"}
    assert (config.connect_timeout, config.read_timeout) == (10.0, 60.0)
    assert config.request_checksum_calculation == "when_supported"
    assert config.s3 == {"addressing_style": "path"}


@pytest.mark.parametrize("mode", ["500", "503", "403"])
@pytest.mark.parametrize("size", [1000, MULTIPART + 1], ids=["single", "multipart"])
def test_s3_errors_on_put_are_store_errors_named_after_their_cause(
        proxy: FaultyS3, tmp_path: Path, mode: str, size: int) -> None:
    store = store_at(proxy.endpoint, f"put-{mode}-{size}")
    path, data = local_file(tmp_path, size)
    proxy.fault(mode)
    with pytest.raises(StoreError) as raised:
        store.put_file("crawls/c/warc/a.warc.gz", path)
    assert isinstance(raised.value, StoreAccessError)
    assert raised.value.cause_name == failure_name(raised.value) == "S3UploadFailedError"
    assert proxy.state()["faulted"] == 1  # one request: botocore did not retry it
    assert path.read_bytes() == data  # the spool's file is untouched
    proxy.fault("pass")
    assert list(store.keys()) == []
    stored = store.put_file("crawls/c/warc/a.warc.gz", path)  # once the fault clears, it goes up
    assert (stored.size, stored.sha256) == (size, hashlib.sha256(data).hexdigest())
    assert store.get_bytes(stored.key) == data and not path.exists()


def test_a_fault_in_the_middle_of_a_multipart_upload_is_a_store_error(proxy: FaultyS3, tmp_path: Path) -> None:
    store = store_at(proxy.endpoint, "parts")
    path, data = local_file(tmp_path, MULTIPART + 1)
    proxy.fault("500", scope="parts")  # the upload begins; its part is refused
    with pytest.raises(StoreAccessError) as raised:
        store.put_file("big", path)
    assert raised.value.cause_name == "S3UploadFailedError" and path.read_bytes() == data


def test_a_connection_closed_without_an_answer_is_a_store_error(proxy: FaultyS3, tmp_path: Path) -> None:
    store = store_at(proxy.endpoint, "drop")
    path, _ = local_file(tmp_path, 1000)
    proxy.fault("drop")
    with pytest.raises(StoreAccessError) as raised:
        store.put_file("x", path)
    assert raised.value.cause_name == "ConnectionClosedError" and path.exists()


def test_a_dead_endpoint_fails_at_once_without_retries(aws_env: None, tmp_path: Path) -> None:
    store = store_at(dead_endpoint(), "dead")
    path, _ = local_file(tmp_path, 10)
    with pytest.raises(StoreAccessError):
        store.put_bytes("warm-up", b"")  # the client's first request loads its endpoint rules: not timed
    started = time.monotonic()
    with pytest.raises(StoreAccessError) as raised:
        store.put_file("x", path)
    assert raised.value.cause_name == "EndpointConnectionError" and path.exists()
    assert time.monotonic() - started < CONNECT  # refused once; standard retries would back off and retry
    calls: list[Callable[[], object]] = [lambda: store.put_bytes("y", b"y"), lambda: store.get_bytes("y"),
                                         lambda: list(store.keys())]
    for call in calls:
        with pytest.raises(StoreAccessError, match="EndpointConnectionError"):
            call()


def test_a_server_that_stops_answering_is_a_read_timeout_after_one_attempt(aws_env: None, tmp_path: Path) -> None:
    with MotoServer() as server:
        create_bucket(server.endpoint, BUCKET)
        store = store_at(server.endpoint, "paused")
        path, _ = local_file(tmp_path, 1000)
        store.put_bytes("warm-up", b"")  # the client's first request loads its endpoint rules: not timed
        server.pause()  # connections are accepted, nothing answers
        started = time.monotonic()
        with pytest.raises(StoreAccessError) as raised:
            store.put_file("x", path)
        elapsed = time.monotonic() - started
    assert raised.value.cause_name == "ReadTimeoutError" and path.exists()
    assert elapsed < 2 * (CONTINUE_WAIT + READ)  # one attempt of the PUT; a second would take as long again


def test_keys_are_a_lazy_paginated_generator_in_s3_s_sorted_order(proxy: FaultyS3, moto: MotoServer) -> None:
    names = ["a/B", "a/b", "a/z", "a/é", "a/中", "b"]
    client = boto3.client("s3", endpoint_url=moto.endpoint)
    for name in names:
        client.put_object(Bucket=BUCKET, Key=f"listed/{name}", Body=b"x")
    client.put_object(Bucket=BUCKET, Key="listed2/not-under-the-prefix", Body=b"x")
    store = store_at(proxy.endpoint, "listed", page_size=2)
    listing = store.keys()
    assert inspect.isgenerator(listing)
    before = proxy.state()["passed"]
    assert next(listing) == "a/B"
    assert proxy.state()["passed"] - before == 1  # one page asked for, not the whole listing
    assert ["a/B", *listing] == names == sorted(names)  # code point order is S3's UTF-8 byte order
    assert proxy.state()["passed"] - before == 3  # 6 keys, 2 a page
    assert list(store.keys("a/")) == names[:-1]


def test_listing_failures_are_store_errors_raised_while_iterating(proxy: FaultyS3) -> None:
    store = store_at(proxy.endpoint, "listed")
    proxy.fault("503", scope="all")
    listing = store.keys()  # a generator: nothing is asked until it is iterated
    with pytest.raises(StoreAccessError) as raised:
        next(listing)
    assert raised.value.cause_name == "ClientError"


def test_the_store_a_crawl_opens_retries_reads_and_the_manifest_but_not_uploads(
        proxy: FaultyS3, tmp_path: Path) -> None:
    """Only put_file has a retry loop of ours (the Uploader); a manifest put, a read or a listing that
    meets one 503 (SlowDown) is retried by botocore instead of failing the crawl's manifest or catch-up."""
    store = open_store(f"s3://{BUCKET}/retried", {"endpoint_url": proxy.endpoint, "region": "us-east-1",
                                                   "addressing": "path", "timeout": READ, "connect_timeout": CONNECT})
    assert isinstance(store, S3Store)
    proxy.fault("503", scope="all", count=1)
    store.put_bytes("crawls/c/crawl.json", b"{}")
    assert proxy.state()["faulted"] == 1
    proxy.fault("503", scope="all", count=1)
    assert store.get_bytes("crawls/c/crawl.json") == b"{}"
    proxy.fault("503", scope="all", count=1)
    assert list(store.keys("crawls/")) == ["crawls/c/crawl.json"]
    path, _ = local_file(tmp_path, 100)
    proxy.fault("503", scope="all", count=1)
    with pytest.raises(StoreAccessError):  # one attempt: the Uploader decides when to try again
        store.put_file("crawls/c/log/part-00000.jsonl.gz", path)


class FailingClient:
    """A client whose every call raises `exc`: for the exceptions a real server cannot be made to cause."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def fail(self, *args: Any, **kwargs: Any) -> Any:
        raise self.exc

    upload_file = put_object = get_object = head_object = paginate = fail

    def get_paginator(self, name: str) -> FailingClient:
        return self


EVERY_FAILURE = [
    S3UploadFailedError("Failed to upload: An error occurred (InternalError)"),
    S3TransferFailedError("transfer failed"),
    RetriesExceededError(OSError("last")),
    transfer_errors.S3UploadFailedError("s3transfer's own"),
    transfer_errors.RetriesExceededError(OSError("last")),
    transfer_errors.TransferNotDoneError("not done"),
    transfer_errors.FatalError("the transfer manager shut down"),
    CancelledError(),
    ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "PutObject"),
    EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
    ConnectTimeoutError(endpoint_url="http://127.0.0.1:9"),
    ReadTimeoutError(endpoint_url="http://127.0.0.1:9"),
    ConnectionClosedError(endpoint_url="http://127.0.0.1:9"),
    NoCredentialsError(),
    FlexibleChecksumError(error_msg="checksum mismatch"),
    PermissionError(13, "Permission denied"),
]


@pytest.mark.parametrize("exc", EVERY_FAILURE, ids=lambda e: type(e).__module__.split(".")[0] + "." + type(e).__name__)
def test_every_failure_of_a_call_is_a_store_error_named_after_its_cause(tmp_path: Path, exc: BaseException) -> None:
    store = S3Store(f"s3://{BUCKET}/p", FailingClient(exc))
    path, _ = local_file(tmp_path, 10)
    calls: list[Callable[[], object]] = [lambda: store.put_file("k", path), lambda: store.put_bytes("k", b"x"),
                                         lambda: store.get_bytes("k"), lambda: next(store.keys())]
    for call in calls:
        with pytest.raises(StoreAccessError) as raised:
            call()
        assert raised.value.cause_name == type(exc).__name__ and raised.value.__cause__ is exc
    assert path.exists()


def test_a_missing_local_file_is_a_store_error(tmp_path: Path) -> None:
    store = S3Store(f"s3://{BUCKET}/p", FailingClient(AssertionError("no request may be made")))
    with pytest.raises(StoreAccessError) as raised:
        store.put_file("k", tmp_path / "gone")
    assert raised.value.cause_name == "FileNotFoundError"


class ForgetfulClient(FailingClient):
    """Accepts every upload and keeps nothing of it: what the HEAD check after an upload is for."""

    def upload_file(self, *args: Any, **kwargs: Any) -> None:
        return None

    def head_object(self, **kwargs: Any) -> dict[str, Any]:
        return {"ContentLength": 0, "Metadata": {}}


def test_an_upload_the_server_did_not_keep_is_a_store_error_and_keeps_the_file(tmp_path: Path) -> None:
    path, _ = local_file(tmp_path, 10)
    with pytest.raises(StoreAccessError) as raised:
        S3Store(f"s3://{BUCKET}/p", ForgetfulClient(AssertionError())).put_file("k", path)
    assert raised.value.cause_name == "ObjectMismatch" and path.exists()
