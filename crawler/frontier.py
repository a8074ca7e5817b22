"""A crawl's frontier in Redis, shared by its workers: scrapy-redis's queue and duplicate filter, made
reliable and kept off the reactor.

scrapy-redis gives the parts: a priority queue of serialised requests (`scrapy_redis.queue.PriorityQueue`)
and a duplicate filter of request fingerprints in a Redis set (`scrapy_redis.dupefilter.RFPDupeFilter`).
As released, its scheduler does not fit a crawl of several workers that must lose nothing:

- it pops a request and forgets it: a worker killed with requests in hand loses them for good;
- a worker that finishes first flushes the queue and the filter for everybody (unless SCHEDULER_PERSIST);
- a worker closes as soon as the queue looks empty, while another is still finding links;
- every Redis call is made on the reactor thread, which a slow or lost Redis then holds.

So here, one thread per worker does all of its Redis I/O. Requests handed to the engine are popped in one
atomic step (a Lua script) that also files them under the worker's in-flight hash; a request leaves that
hash only once the engine is done with it (its download, its spider callback, the requests and items it
gave: the engine drops the request object then), once the items and log entries it gave are in the worker's
spool (a kill loses none of a request counted done), and after everything it enqueued has been pushed. Each
worker refreshes a heartbeat key; any worker finding another's expired puts that worker's in-flight
requests back in the queue (they are fetched again, by someone else). The crawl is over when the queue and
every in-flight hash are empty and every live worker is idle, checked in one atomic step. While Redis is
unreachable the thread retries with backoff and keeps what it was to push: workers pause, nothing is lost.

Requests are serialised with scrapy-redis's pickle serializer: Redis must be as trusted as the workers.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from scrapy import Request, Spider
from scrapy_redis.dupefilter import RFPDupeFilter
from scrapy_redis.queue import PriorityQueue

from crawler import frontierscripts as scripts

logger = logging.getLogger(__name__)

TOKEN = "_frontier_token"  # request.meta: the request's entry in its worker's in-flight hash
REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, OSError)
FLUSH_BATCH = 200  # pushes and acknowledgements sent in one pipeline (one round trip)
IDLE_WAIT = 0.25  # seconds the thread waits when there is nothing to push and nothing to pop
DONE_EVERY = 0.5  # seconds between two checks of "is the crawl over"
CLOSE_DRAIN = 120  # seconds a closing worker waits for its archive writer to let the last acknowledgements go

def default_worker_id() -> str:
    """Host and process: unique among workers running at once, on one machine or many."""
    host = "".join(c if c.isalnum() or c in "._-" else "-" for c in socket.gethostname().split(".")[0]) or "host"
    return f"{host}-{os.getpid()}"


@dataclass
class FrontierOptions:
    redis_url: str
    crawl_id: str
    worker: str
    worker_timeout: float = 30.0  # a worker whose heartbeat is this old is dead: its requests go back
    prefetch: int = 16  # requests popped ahead of the engine's asking
    redis_params: dict[str, Any] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return f"palimpsest:{self.crawl_id}:"


class Keys:
    def __init__(self, prefix: str, worker: str) -> None:
        self.prefix = prefix
        self.queue, self.seen = f"{prefix}requests", f"{prefix}dupefilter"
        self.workers, self.lost, self.finished = f"{prefix}workers", f"{prefix}lost", f"{prefix}finished"
        self.done = f"{prefix}done"
        self.inflight, self.scores, self.alive, self.idle, self.marks = (
            f"{prefix}{k}:{worker}" for k in ("inflight", "inflight-score", "alive", "idle", "pushmarks"))


def _at_once(then: Callable[[], None]) -> None:
    then()


class Frontier:
    """The Redis side of one worker. Scrapy's side (crawler/distributed.py) calls `push`, `take`, `hold`,
    `set_idle` and reads `done`; everything else happens in the frontier's thread."""

    def __init__(self, options: FrontierOptions, client: redis.Redis | None = None) -> None:
        self.options = options
        self.keys = Keys(options.prefix, options.worker)
        params = {"socket_timeout": 5, "socket_connect_timeout": 5, **options.redis_params}
        self.redis = client or redis.Redis.from_url(options.redis_url, **params)
        script = self.redis.register_script
        self._pop, self._push, self._return = script(scripts.POP), script(scripts.PUSH), script(scripts.RETURN)
        self._leave, self._reap, self._done = script(scripts.LEAVE), script(scripts.REAP), script(scripts.DONE)
        self._held: set[str] = set()  # tokens popped by this worker and not acknowledged yet
        self._marks_to_clear: list[str] = []  # push ids whose reply came: their marks can go
        self._cond = threading.Condition()
        self._outbound: deque[tuple[str, Any]] = deque()  # ("push", request) / ("ack", token), in order
        self._inbound: deque[Request] = deque()
        self._thread: threading.Thread | None = None
        self._running = False
        self._stopped = False  # the thread has left its loop: nothing queued is sent any more
        self._idle = False
        self.done = False
        self.finished_before = False  # the crawl was over when this worker joined: it does nothing
        self.finished_while_away = False  # ... or it was finished by the others while this one was cut off
        self._joined = False
        self._broken: BaseException | None = None  # the thread died of a bug: the worker must not hang
        self.spider: Spider | None = None
        self.queue: PriorityQueue | None = None
        self.dupefilter: RFPDupeFilter | None = None
        self.on_dropped: Callable[[Request], None] = lambda request: None
        self.on_ready: Callable[[], None] = lambda: None
        # Runs the acknowledgement of a request the engine dropped, once what the worker made of it is
        # durable (the archive service's `after_written`): until then Redis keeps it in this worker's hand.
        self.before_ack: Callable[[Callable[[], None]], None] = _at_once
        self.down_since: float | None = None
        self.counts: dict[str, int] = {}
        self._counts_lock = threading.Lock()

    # --- the Scrapy side (reactor thread) -----------------------------------------------------------------
    def open(self, spider: Spider) -> None:
        self.spider = spider
        self.queue = PriorityQueue(self.redis, spider, self.keys.queue)
        self.dupefilter = RFPDupeFilter(self.redis, self.keys.seen)
        self._running = True
        self._thread = threading.Thread(target=self._work, name="frontier", daemon=True)
        self._thread.start()

    def push(self, request: Request) -> None:
        """Queue a request for Redis (returns at once). A request derived from one in hand (a retry, a
        redirect, a page again through the browser) leaves that one's token behind: it is its own job."""
        request.meta.pop(TOKEN, None)
        with self._cond:
            self._outbound.append(("push", (request, uuid.uuid4().hex)))
            self._idle = False
            self._cond.notify()

    def take(self) -> Request | None:
        with self._cond:
            request = self._inbound.popleft() if self._inbound else None
            if len(self._inbound) < self.options.prefetch // 2:
                self._cond.notify()
        return request

    def hold(self, request: Request) -> None:
        """The engine has `request` until it drops it (its items through the pipelines, its log entry
        written): then, once those are in the spool (`before_ack`), its token is acknowledged, after
        whatever was pushed before that moment, so the requests it led to are in the queue first."""
        token = request.meta.get(TOKEN)
        if token is not None:
            finalizer = weakref.finalize(request, self._release, token)
            finalizer.atexit = False  # a request left unprocessed at exit stays in hand: another worker redoes it

    def _release(self, token: str) -> None:
        self.before_ack(lambda: self._ack(token))

    def _ack(self, token: str) -> None:
        with self._cond:
            if not self._stopped:
                self._outbound.append(("ack", token))
                self._cond.notify()
                return
        self._ack_late(token)

    def _ack_late(self, token: str) -> None:
        """An acknowledgement after the thread stopped (the archive writer's last callbacks, a late garbage
        collection): straight to Redis, so the request is not handed back and fetched again."""
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.hdel(self.keys.inflight, token)
            pipe.hdel(self.keys.scores, token)
            pipe.execute()
        except REDIS_ERRORS as exc:
            logger.warning("frontier: a late acknowledgement could not be sent (%s); its request stays in this "
                           "worker's hand and is fetched again", exc)
            return
        self._held.discard(token)
        self.count("frontier/acked_late")

    def pending(self) -> bool:
        """Requests of ours not yet in Redis or not yet handed to the engine."""
        with self._cond:
            return bool(self._inbound or self._outbound)

    def set_idle(self) -> None:
        """The engine has nothing to do: say so in Redis (from the thread), and see if the crawl is over."""
        with self._cond:
            self._idle = True
            self._cond.notify()

    def count(self, key: str, n: int = 1) -> None:
        with self._counts_lock:
            self.counts[key] = self.counts.get(key, 0) + n

    def drain_counts(self) -> dict[str, int]:
        with self._counts_lock:
            counts, self.counts = self.counts, {}
        return counts

    def close(self) -> None:
        """Stop the thread after pushing what is left to push, acknowledgements still waiting for the
        archive's writer included (at most CLOSE_DRAIN seconds); requests prefetched but never handed to
        the engine go back to the queue."""
        drained = threading.Event()
        self.before_ack(drained.set)  # behind every acknowledgement handed to the writer before
        if not drained.wait(CLOSE_DRAIN):
            logger.warning("frontier: the archive writer did not catch up in %d s; requests it still holds stay "
                           "in this worker's hand and are fetched again", CLOSE_DRAIN)
        with self._cond:
            self._running = False
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=60)

    # --- the thread ---------------------------------------------------------------------------------------
    def _work(self) -> None:
        next_beat = next_reap = next_done = 0.0
        while True:
            with self._cond:
                if not self._running and not self._outbound:
                    self._stopped = True  # from now on an acknowledgement goes to Redis from its caller
                    break
            popped = 0
            try:
                now = time.monotonic()
                if now >= next_beat:  # first: a worker is registered before anything it pushes counts
                    self._beat()
                    next_beat = now + self.options.worker_timeout / 6
                if self.finished_before:
                    self._drop_outbound()
                else:
                    self._flush()
                    if now >= next_reap:
                        self._reap_dead()
                        next_reap = now + self.options.worker_timeout / 3
                    if self._running:
                        popped = self._refill()
                        if now >= next_done:
                            self._check_done()
                            next_done = now + DONE_EVERY
                self._recovered()
            except REDIS_ERRORS as exc:
                self._outage(exc)
                continue
            except Exception as exc:  # a bug: say it, keep the worker's heartbeat and pushes going
                logger.exception("frontier: unexpected error (%s); going on", type(exc).__name__)
                self.count(f"frontier/errors/{type(exc).__name__}")
                time.sleep(1.0)
            with self._cond:  # nothing to push and nothing came: wait (woken by a push, a take, an ack)
                if self._running and not self._outbound and (popped == 0 or len(self._inbound) >=
                                                            self.options.prefetch // 2):
                    self._cond.wait(IDLE_WAIT)
        self._give_back()

    def _flush(self) -> None:
        """Push and acknowledge in order, FLUSH_BATCH at a time in one pipeline; items leave the outbound
        queue only once Redis has them (pushes are idempotent, acknowledgements too: a retried batch is safe)."""
        assert self.queue is not None
        with self._cond:
            batch = list(itertools.islice(self._outbound, FLUSH_BATCH))
        if not batch and not self._marks_to_clear:
            return
        pipe = self.redis.pipeline(transaction=False)
        if self._marks_to_clear:
            pipe.hdel(self.keys.marks, *self._marks_to_clear)
        sent: list[tuple[str, Any]] = []
        for kind, value in batch:
            if kind == "push":
                request, push_id = value
                try:
                    fingerprint = "" if request.dont_filter else self.dupefilter.request_fingerprint(request)  # type: ignore[union-attr]
                    data = self.queue._encode_request(request)  # scrapy-redis's own serialisation
                except Exception as exc:  # a request that cannot be stored (an unpicklable meta value): said
                    logger.error("frontier: request %s cannot be queued (%s: %s); dropped", request.url,
                                 type(exc).__name__, exc)
                    self.count("frontier/unserialisable")
                    sent.append(("skip", None))
                    continue
                self._push(keys=[self.keys.queue, self.keys.seen, self.keys.marks, self.keys.done],
                           args=[push_id, fingerprint, -request.priority, data], client=pipe)
            else:
                pipe.hdel(self.keys.inflight, value)
                pipe.hdel(self.keys.scores, value)
            sent.append((kind, value))
        results = pipe.execute()
        if self._marks_to_clear:
            results, self._marks_to_clear = results[1:], []
        self._settle(sent, results)
        with self._cond:
            for _ in batch:
                self._outbound.popleft()

    def _settle(self, sent: list[tuple[str, Any]], results: list[Any]) -> None:
        index = 0
        for kind, value in sent:
            if kind == "skip":
                continue
            if kind == "ack":
                self._held.discard(value)
                self.count("frontier/acked")
                index += 2
                continue
            queued, index = int(results[index]), index + 1
            request, push_id = value
            self._marks_to_clear.append(push_id)
            if queued == -1:
                self._finished_meanwhile()
            elif queued:
                self.count("frontier/pushed")
            else:
                self.count("frontier/filtered")
                self.on_dropped(request)

    def _drop_outbound(self) -> None:
        with self._cond:
            dropped = len(self._outbound)
            self._outbound.clear()
        if dropped:
            self.count("frontier/discarded", dropped)

    def _refill(self) -> int:
        with self._cond:
            want = self.options.prefetch - len(self._inbound)
        if want < max(1, self.options.prefetch // 2):
            return 0
        popped = self._pop(keys=[self.keys.queue, self.keys.inflight, self.keys.scores, self.keys.done],
                           args=[want])
        if popped and popped[0] == -1:
            self._finished_meanwhile()
            return 0
        if not popped:
            return 0
        assert self.queue is not None
        requests = []
        for token, data in zip(popped[::2], popped[1::2], strict=True):
            name = token.decode() if isinstance(token, bytes) else token
            try:
                request = self.queue._decode_request(data)  # scrapy-redis's own (de)serialisation
            except Exception as exc:  # a request this spider cannot rebuild: dropped, and said
                logger.error("frontier: a queued request could not be decoded (%s: %s); dropped",
                             type(exc).__name__, exc)
                self.redis.hdel(self.keys.inflight, name)
                continue
            request.meta[TOKEN] = name
            self._held.add(name)
            requests.append(request)
        with self._cond:
            self._inbound.extend(requests)
            self._idle = False
        self.redis.delete(self.keys.idle)
        self.count("frontier/popped", len(requests))
        self.on_ready()
        return len(requests)

    def _finished_meanwhile(self) -> None:
        """The others finished the crawl while this worker was cut off (taken for dead): it stops, and its
        files stay in the store outside crawl.json until `scrapy crawl-finish --force`."""
        if not self.finished_before:
            logger.error("frontier: crawl %s was finished by the other workers while this one was cut off; it "
                         "stops (what it stored is merged by `scrapy crawl-finish %s --force`)",
                         self.options.crawl_id, self.options.crawl_id)
        self.finished_before = self.finished_while_away = self.done = True

    def _beat(self) -> None:
        if self.finished_before:
            return
        if self.redis.exists(self.keys.done):  # every beat: a worker cut off for long may find it over
            if self._joined:
                self._finished_meanwhile()
            else:
                logger.warning("frontier: crawl %s is already finished; this worker has nothing to do",
                               self.options.crawl_id)
                self.finished_before = self.done = True
            return
        self._joined = True
        ttl = max(1, round(self.options.worker_timeout))
        pipe = self.redis.pipeline()
        pipe.sadd(self.keys.workers, self.options.worker)
        pipe.set(self.keys.alive, str(time.time()), ex=ttl)
        pipe.hdel(self.keys.lost, self.options.worker)
        if self._idle and not self.pending():
            pipe.set(self.keys.idle, "1", ex=ttl)
        if pipe.execute()[2]:
            logger.warning("frontier: this worker was taken for dead (its heartbeat lapsed, Redis unreachable?): "
                           "its requests in hand were queued again, so some pages are fetched twice")
            self.count("frontier/taken_for_dead")

    def reap(self) -> None:
        """Workers whose heartbeat expired: their requests back to the queue, themselves on the lost list."""
        self._reap_dead()

    def _reap_dead(self) -> None:
        found = self._reap(keys=[self.keys.queue, self.keys.workers, self.keys.lost],
                           args=[self.keys.prefix, str(time.time())])
        self._report_reaped(found)

    def _report_reaped(self, found: list[Any]) -> None:
        for worker, count in zip(found[::2], found[1::2], strict=True):
            name = worker.decode() if isinstance(worker, bytes) else worker
            logger.warning("frontier: worker %s stopped answering; its %d requests in hand are queued again",
                           name, count)
            self.count("frontier/requeued_from_lost_workers", int(count))

    def _check_done(self) -> None:
        with self._cond:
            idle = self._idle and not self._outbound and not self._inbound
        if not idle:
            return
        self.redis.set(self.keys.idle, "1", ex=max(1, round(self.options.worker_timeout)))
        if self._done(keys=[self.keys.queue, self.keys.workers], args=[self.keys.prefix]):
            self.done = True

    def _outage(self, exc: BaseException) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            logger.error("frontier: Redis is unreachable (%s: %s): this worker pauses and retries; nothing it "
                         "fetched is lost", type(exc).__name__, exc)
            self.count("frontier/redis_outages")
        time.sleep(min(5.0, 0.2 * 2 ** min(5, int(time.monotonic() - self.down_since))))

    def _recovered(self) -> None:
        if self.down_since is not None:
            logger.warning("frontier: Redis is back after %.0f s", time.monotonic() - self.down_since)
            self.down_since = None
            self._reconcile()

    def _reconcile(self) -> None:
        """After an outage: requests filed as ours that we never received (a pop whose reply was lost) go
        back to the queue, or no worker would ever fetch them and the crawl would never end."""
        filed = {t.decode() if isinstance(t, bytes) else t for t in self.redis.hkeys(self.keys.inflight)}
        with self._cond:
            held = set(self._held)
        strays = sorted(filed - held)
        if strays:
            returned = self._return(keys=[self.keys.queue, self.keys.inflight, self.keys.scores], args=strays)
            logger.warning("frontier: %d requests popped during the outage never arrived; queued again", returned)
            self.count("frontier/returned_after_outage", int(returned))

    def _give_back(self) -> None:
        """At close: requests prefetched and never handed to the engine go back to the queue."""
        with self._cond:
            left = list(self._inbound)
            self._inbound.clear()
        if not left:
            return
        tokens = [t for request in left if (t := request.meta.get(TOKEN))]
        try:
            self._return(keys=[self.keys.queue, self.keys.inflight, self.keys.scores], args=tokens)
            if self._marks_to_clear:
                self.redis.hdel(self.keys.marks, *self._marks_to_clear)
        except REDIS_ERRORS as exc:
            logger.error("frontier: %d prefetched requests could not be given back (%s); they stay in this "
                         "worker's hand and go back when it is found dead", len(left), exc)

    # --- leaving the crawl (after `close`) ----------------------------------------------------------------
    def leave(self) -> int:
        """This worker is done: workers found dead are reaped first, then this one leaves; returns how many
        workers with a live heartbeat are still in the crawl (0: it is the last)."""
        self._reap_dead()
        return int(self._leave(keys=[self.keys.workers, self.keys.finished], args=[self.keys.prefix,
                                                                                   self.options.worker]))

    def return_held(self) -> int:
        """A worker stopping before the crawl is over (SIGINT, a close condition): whatever is still filed in
        its hand goes back to the queue, for the workers that go on or the next ones started."""
        tokens = [t.decode() if isinstance(t, bytes) else t for t in self.redis.hkeys(self.keys.inflight)]
        return int(self._return(keys=[self.keys.queue, self.keys.inflight, self.keys.scores], args=tokens)) \
            if tokens else 0

    def remaining_work(self) -> int:
        """Requests queued or in any worker's hand."""
        pipe = self.redis.pipeline()
        pipe.zcard(self.keys.queue)
        for worker in self.redis.smembers(self.keys.workers):
            name = worker.decode() if isinstance(worker, bytes) else worker
            pipe.hlen(f"{self.keys.prefix}inflight:{name}")
        return int(sum(pipe.execute()))

    def live_workers(self) -> list[str]:
        """Workers of the crawl whose heartbeat is fresh."""
        found = []
        for worker in sorted(w.decode() if isinstance(w, bytes) else w for w in self.redis.smembers(self.keys.workers)):
            if self.redis.exists(f"{self.keys.prefix}alive:{worker}"):
                found.append(worker)
        return found

    def finished_workers(self) -> list[str]:
        return sorted(w.decode() if isinstance(w, bytes) else w for w in self.redis.smembers(self.keys.finished))

    def lost_workers(self) -> list[str]:
        return sorted(w.decode() if isinstance(w, bytes) else w for w in self.redis.hkeys(self.keys.lost))

    def already_finished(self) -> bool:
        return bool(self.redis.exists(self.keys.done))

    def finish(self, keep_seconds: int = 7 * 86400) -> None:
        """The crawl is over: drop its frontier, keep a marker so a late worker does not start it again."""
        pipe = self.redis.pipeline()
        pipe.set(self.keys.done, str(time.time()), ex=keep_seconds)
        for key in (self.keys.queue, self.keys.seen, self.keys.workers, self.keys.finished, self.keys.lost):
            pipe.delete(key)
        pipe.execute()
        for key in self.redis.scan_iter(match=f"{self.keys.prefix}*", count=1000):
            name = key.decode() if isinstance(key, bytes) else key
            if name != self.keys.done:
                self.redis.delete(key)
