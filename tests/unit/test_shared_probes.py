"""Probe answers shared by a distributed crawl's workers through a real redis-server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import pytest_twisted
import redis

from crawler.sharedstate import SharedProbes
from crawler.soft404.probes import Fingerprint, shape_of
from tests.asyncio_helpers import on_asyncio
from tests.servers import RedisServer


@pytest.fixture(scope="module")
def client() -> Iterator[redis.Redis]:
    with RedisServer() as server:
        yield redis.Redis.from_url(server.url)


@pytest_twisted.ensureDeferred  # type: ignore[untyped-decorator]
async def test_an_answer_another_worker_stored_that_this_version_cannot_read_is_asked_again(
        client: redis.Redis) -> None:
    """A record another version wrote (or garbage) in the shared key: the worker fetches the probe itself
    instead of failing the pages waiting for it."""
    url = "https://n.test/news/2026/xkqzvbwmtr.html"
    key = f"t:probes:{'|'.join(shape_of(url))}"
    client.set(f"{key}:claim", "w9")
    client.set("t:alive:w9", "1")
    fetched: list[str] = []

    async def fetch(asked: str) -> Fingerprint:
        fetched.append(asked)
        return Fingerprint(404, asked, False, None, None, time.monotonic())

    shared = SharedProbes(client, "t:", "w0").wrap(fetch, shape_of)

    async def ask() -> Fingerprint:
        return await shared(url)

    for garbage in ('{"status": 200}', '{"status": 200, "final_url": null, "redirected": false, "title": null, '
                                      '"simhash": null, "at": 1, "view": {"blocks": ["x"]}}', "[1, 2]"):
        client.set(key, garbage)
        assert (await on_asyncio(ask())).status == 404
    assert fetched == [url] * 3
    record = Fingerprint(200, None, False, "Not found", None, time.monotonic()).record()
    client.set(key, json.dumps(record))
    assert (await on_asyncio(ask())).title == "Not found" and len(fetched) == 3


@pytest_twisted.ensureDeferred  # type: ignore[untyped-decorator]
async def test_a_probe_fetched_while_redis_went_away_is_used_not_fetched_again() -> None:
    """Redis stops between the claim and the answer's publication: the worker judges with the answer it
    fetched; before, the failed publication sent it to the host a second time."""
    url = "https://n.test/news/2026/xkqzvbwmtr.html"
    fetched: list[str] = []
    with RedisServer() as server:
        async def fetch(asked: str) -> Fingerprint:
            fetched.append(asked)
            server.stop()
            return Fingerprint(200, asked, False, "Not found", None, time.monotonic())

        shared = SharedProbes(redis.Redis.from_url(server.url), "t:", "w0").wrap(fetch, shape_of)

        async def ask() -> Fingerprint:
            return await shared(url)

        assert (await on_asyncio(ask())).title == "Not found"
    assert fetched == [url]
