"""The Redis frontier on its own, against a real redis-server: atomic pops into a worker's hand, acknowledgement,
a dead worker's requests queued again, the crawl's end, a finished crawl refusing a worker that comes back, an
idle thread that waits instead of spinning."""

from __future__ import annotations

import gc
import queue
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis
from scrapy import Request, Spider

from crawler.frontier import Frontier, FrontierOptions
from tests.servers import RedisServer


class _Spider(Spider):
    name = "test"

    def parse(self, response: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with RedisServer() as running:
        yield running


@pytest.fixture
def client(server: RedisServer) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(server.url)
    connection.flushall()
    yield connection
    connection.close()


def frontier(server: RedisServer, worker: str, crawl_id: str = "c", timeout: float = 3.0) -> Frontier:
    made = Frontier(FrontierOptions(server.url, crawl_id, worker, worker_timeout=timeout, prefetch=4))
    made.open(_Spider())
    return made


def until(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def take(worker: Frontier) -> Request:
    found: list[Request] = []

    def got() -> bool:
        request = worker.take()
        if request is not None:
            found.append(request)
        return bool(found)
    until(got)
    return found[0]


def drop_in_hand(worker: Frontier) -> None:
    """A request queued, handed to the engine, and dropped by it (its finalizer runs `before_ack`)."""
    worker.push(Request("http://news.test/a"))
    request = take(worker)
    worker.hold(request)
    del request
    gc.collect()


def test_a_request_stays_in_hand_until_the_engine_drops_it_and_each_url_is_queued_once(
        server: RedisServer, client: redis.Redis) -> None:
    worker = frontier(server, "w1")
    try:
        worker.push(Request("http://news.test/a"))
        worker.push(Request("http://news.test/a"))  # the duplicate filter: once
        request = take(worker)
        worker.hold(request)
        assert request.url == "http://news.test/a" and client.hlen("palimpsest:c:inflight:w1") == 1
        until(lambda: worker.counts.get("frontier/filtered") == 1)
        del request
        gc.collect()
        until(lambda: client.hlen("palimpsest:c:inflight:w1") == 0)
        assert client.zcard("palimpsest:c:requests") == 0
    finally:
        worker.close()


def test_a_dropped_request_is_acknowledged_only_once_what_it_gave_is_written(
        server: RedisServer, client: redis.Redis) -> None:
    """The engine dropping a request means its items went through the pipelines, not that the archive's
    writer has them in the spool yet: the acknowledgement waits for `before_ack` (the archive's
    `after_written`), and until then Redis keeps the request in the worker's hand for a kill to give back."""
    worker = frontier(server, "w1")
    waiting: list[Callable[[], None]] = []
    worker.before_ack = waiting.append
    try:
        drop_in_hand(worker)
        assert len(waiting) == 1 and not worker.pending()  # nothing to send: the ack is not queued yet
        assert client.hlen("palimpsest:c:inflight:w1") == 1
        waiting.pop()()
        until(lambda: client.hlen("palimpsest:c:inflight:w1") == 0)
    finally:
        worker.before_ack = lambda then: then()
        worker.close()


def test_a_closing_worker_lets_the_acknowledgements_its_writer_still_holds_go_first(
        server: RedisServer, client: redis.Redis) -> None:
    """The engine has dropped a request but the archive's writer is still busy when the worker closes: the
    close waits behind the writer, so the acknowledgement reaches Redis and the request is not redone."""
    jobs: queue.SimpleQueue[Callable[[], object] | None] = queue.SimpleQueue()

    def writer() -> None:  # the archive writer: its callbacks in the order handed over
        while (job := jobs.get()) is not None:
            job()
    busy = threading.Event()
    thread = threading.Thread(target=writer)
    thread.start()
    jobs.put(lambda: busy.wait(30))
    worker = frontier(server, "w1")
    worker.before_ack = jobs.put
    try:
        drop_in_hand(worker)
        closing = threading.Thread(target=worker.close)
        closing.start()
        assert client.hlen("palimpsest:c:inflight:w1") == 1  # the writer has not got to it
        busy.set()
        closing.join(60)
        assert not closing.is_alive() and client.hlen("palimpsest:c:inflight:w1") == 0
    finally:
        busy.set()
        jobs.put(None)
        thread.join(30)


def test_an_acknowledgement_after_the_frontier_stopped_still_reaches_redis(
        server: RedisServer, client: redis.Redis) -> None:
    """The archive writer's last callbacks, or a late garbage collection, may acknowledge a request after
    the frontier's thread stopped: it goes to Redis from the caller, not into a queue nobody sends."""
    worker = frontier(server, "w1")
    waiting: list[Callable[[], None]] = []
    worker.before_ack = waiting.append
    drop_in_hand(worker)
    worker.before_ack = lambda then: then()
    worker.close()
    assert client.hlen("palimpsest:c:inflight:w1") == 1
    waiting.pop()()  # the writer lets it go now
    assert client.hlen("palimpsest:c:inflight:w1") == 0 and worker.counts.get("frontier/acked_late") == 1


def test_a_dead_worker_s_requests_go_back_to_the_queue_and_the_crawl_ends(server: RedisServer,
                                                                         client: redis.Redis) -> None:
    dying = frontier(server, "dying", timeout=2.0)
    dying.push(Request("http://news.test/held"))
    held = take(dying)
    dying.hold(held)
    living = frontier(server, "living", timeout=2.0)
    try:
        dying.close()  # gone without acknowledging: as if killed (its prefetch is handed back, not what it held)
        client.delete("palimpsest:c:alive:dying")
        again = take(living)  # the living worker reaps it and gets its request
        assert again.url == "http://news.test/held"
        assert living.counts.get("frontier/requeued_from_lost_workers") == 1
        living.hold(again)
        del again
        gc.collect()
        living.set_idle()
        until(lambda: living.done)
        assert client.hkeys("palimpsest:c:lost") == [b"dying"]
        assert living.leave() == 0
    finally:
        living.close()


def test_a_worker_back_after_the_crawl_was_finished_stops_instead_of_crawling_it_again(
        server: RedisServer, client: redis.Redis) -> None:
    other = frontier(server, "other")
    other.push(Request("http://news.test/a"))
    request = take(other)
    worker = frontier(server, "late")
    try:
        other.hold(request)
        del request
        gc.collect()
        other.close()
        other.finish()  # the crawl is over; `late` was cut off meanwhile
        worker.push(Request("http://news.test/a"))  # seen before the finish: it must not be crawled again
        until(lambda: worker.finished_while_away or worker.finished_before)
        assert worker.done and worker.take() is None
        assert client.zcard("palimpsest:c:requests") == 0
    finally:
        worker.close()


def test_an_idle_worker_waits_instead_of_spinning(server: RedisServer, client: redis.Redis) -> None:
    """An empty queue: a few pops a second, not thousands (it shares two cores with the crawl)."""
    worker = frontier(server, "idle")
    try:
        time.sleep(0.3)
        before = int(client.info("stats")["total_commands_processed"])
        time.sleep(2.0)
        commands = int(client.info("stats")["total_commands_processed"]) - before
        assert commands < 100, commands  # waits of IDLE_WAIT (0.25 s): ~8 pops a second, and heartbeats
    finally:
        worker.close()
