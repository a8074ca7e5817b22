"""Transient faults of the sample web (`/_fixture/faults`), against a real FixtureWeb process on loopback:
503 for N requests, a held connection, a reset, and everything else answering as usual meanwhile."""

from __future__ import annotations

import errno
import http.client
import json
import time
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.fixtureweb.process import FixtureWeb

HOLD = 2.0  # seconds a "timeout" fault holds a connection; client timeouts below are derived from it


@pytest.fixture(scope="module")
def fweb() -> Iterator[FixtureWeb]:
    """A sample web of this module's own: faults must not leak into the session-wide one."""
    with FixtureWeb() as server:
        yield server


@pytest.fixture(autouse=True)
def no_faults(fweb: FixtureWeb) -> Iterator[None]:
    """Every test starts and ends with no fault set."""
    fweb.clear_faults()
    yield
    fweb.clear_faults()


@pytest.fixture(scope="module")
def articles(fweb: FixtureWeb) -> list[str]:
    """Paths of live articles in state 1."""
    return [a["path"] for a in fweb.manifest()["articles"]]


def connect(web: FixtureWeb, timeout: float) -> http.client.HTTPConnection:
    parts = urlsplit(web.base_url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)


def get(web: FixtureWeb, path: str, timeout: float = 10.0) -> tuple[int, http.client.HTTPResponse, bytes]:
    """Status, response and body of one GET on a fresh connection."""
    conn = connect(web, timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp, resp.read()
    finally:
        conn.close()


def test_503_n_times_then_200(fweb: FixtureWeb, articles: list[str]) -> None:
    path = articles[0]
    fweb.requests(reset=True)
    fweb.fault(path, "503", times=2)
    assert fweb.faults() == [{"path": path, "mode": "503", "times": 2, "hold": 30.0}]
    for left in (1, 0):
        status, resp, body = get(fweb, path)
        assert status == 503
        assert resp.getheader("Retry-After") == "120"
        assert resp.getheader("Content-Type", "").startswith("text/html")
        assert b"Service Unavailable" in body
        assert [f["times"] for f in fweb.faults()] == ([left] if left else [])
    status, _, body = get(fweb, path)
    assert status == 200 and b"NewsArticle" in body
    assert fweb.requests() == [path, path, path]  # faulted requests are logged like any other


def test_times_counts_down_only_on_requests_that_failed(fweb: FixtureWeb, articles: list[str]) -> None:
    faulted, other = articles[0], articles[1]
    fweb.fault(faulted, "503", times=1)
    assert get(fweb, other)[0] == 200
    assert get(fweb, "/")[0] == 200
    assert fweb.faults()[0]["times"] == 1
    assert get(fweb, faulted)[0] == 503
    assert get(fweb, faulted)[0] == 200


def test_a_fault_without_times_lasts_until_cleared(fweb: FixtureWeb, articles: list[str]) -> None:
    fweb.fault(articles[0], "503")
    assert [get(fweb, articles[0])[0] for _ in range(4)] == [503] * 4
    assert fweb.faults()[0]["times"] is None
    fweb.clear_faults()
    assert fweb.faults() == []
    assert get(fweb, articles[0])[0] == 200


def test_faults_apply_whatever_the_state(fweb: FixtureWeb, articles: list[str]) -> None:
    fweb.fault(articles[0], "503")
    fweb.fault("/", "503")
    try:
        fweb.set_state(2)
        assert get(fweb, articles[0])[0] == 503
        assert get(fweb, "/")[0] == 503
    finally:
        fweb.set_state(1)
    assert get(fweb, "/")[0] == 503


def test_a_fault_with_a_query_matches_only_that_query(fweb: FixtureWeb) -> None:
    fweb.fault("/search?q=storm", "503")
    assert get(fweb, "/search?q=storm")[0] == 503
    assert get(fweb, "/search?q=rain")[0] == 200
    assert get(fweb, "/search")[0] == 200


def test_timeout_holds_the_connection_while_other_requests_are_answered(
        fweb: FixtureWeb, articles: list[str]) -> None:
    path = articles[0]
    fweb.requests(reset=True)
    fweb.fault(path, "timeout", times=1, hold=HOLD)
    held = connect(fweb, timeout=HOLD / 2)
    try:
        sent = time.monotonic()
        held.request("GET", path)
        while path not in fweb.requests():  # the server has the request (it logs it before holding)
            assert time.monotonic() - sent < HOLD, "the server never received the held request"
        status, _, _ = get(fweb, articles[1], timeout=HOLD / 2)  # served while the other is held
        assert status == 200
        assert time.monotonic() - sent < HOLD
        with pytest.raises(TimeoutError):
            held.getresponse()
    finally:
        held.close()
    assert get(fweb, path)[0] == 200  # times=1: the held request was the one that failed


def test_timeout_closes_the_connection_after_the_hold_without_an_answer(
        fweb: FixtureWeb, articles: list[str]) -> None:
    fweb.fault(articles[0], "timeout", hold=HOLD)
    conn = connect(fweb, timeout=HOLD * 5)  # generous: a loaded machine may be slow to close, never early
    try:
        start = time.monotonic()
        conn.request("GET", articles[0])
        with pytest.raises(http.client.RemoteDisconnected):
            conn.getresponse()
        assert time.monotonic() - start >= HOLD
    finally:
        conn.close()


def test_reset_closes_the_connection_abruptly(fweb: FixtureWeb, articles: list[str]) -> None:
    path = articles[0]
    fweb.requests(reset=True)
    fweb.fault(path, "reset", times=1)
    with pytest.raises(ConnectionResetError) as caught:
        get(fweb, path)
    assert caught.value.errno == errno.ECONNRESET  # a TCP reset, not an orderly close (RemoteDisconnected)
    assert get(fweb, path)[0] == 200
    assert fweb.requests() == [path, path]


def test_clear_with_delete_or_post(fweb: FixtureWeb, articles: list[str]) -> None:
    fweb.fault(articles[0], "503")
    fweb.fault(articles[1], "reset")
    assert {f["path"]: f["mode"] for f in fweb.faults()} == {articles[0]: "503", articles[1]: "reset"}
    fweb.clear_faults()
    assert fweb.faults() == []
    assert get(fweb, articles[0])[0] == get(fweb, articles[1])[0] == 200

    fweb.fault(articles[0], "timeout", hold=HOLD)
    req = urllib.request.Request(f"{fweb.base_url}/_fixture/faults", data=json.dumps({"clear": True}).encode(),
                                 method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert json.load(resp) == []
    assert get(fweb, articles[0], timeout=HOLD / 2)[0] == 200


def test_a_new_fault_on_a_path_replaces_the_old_one(fweb: FixtureWeb, articles: list[str]) -> None:
    fweb.fault(articles[0], "reset")
    fweb.fault(articles[0], "503", times=1)
    assert fweb.faults() == [{"path": articles[0], "mode": "503", "times": 1, "hold": 30.0}]
    assert get(fweb, articles[0])[0] == 503


@pytest.mark.parametrize(("path", "mode", "times"), [
    ("/world/", "teapot", None),
    ("world/", "503", None),
    ("/_fixture/manifest.json", "503", None),
    ("/world/", "503", 0),
])
def test_a_bad_fault_is_rejected(fweb: FixtureWeb, path: str, mode: str, times: int | None) -> None:
    with pytest.raises(ValueError, match=r"mode|path|times"):
        fweb.fault(path, mode, times)
    assert fweb.faults() == []


def test_manifest_and_pages_still_work_while_a_path_is_faulted(fweb: FixtureWeb, articles: list[str]) -> None:
    fweb.fault(articles[0], "reset")
    fweb.fault("/feeds/latest.xml", "503")
    manifest = fweb.manifest()
    assert manifest["state"] == 1 and len(manifest["articles"]) == len(articles)
    for path in ("/", "/world/", "/robots.txt", "/sitemap_index.xml", articles[1]):
        assert get(fweb, path)[0] == 200, path
    assert get(fweb, manifest["dead"][0]["path"])[0] == 404
    assert fweb.count() >= 1
