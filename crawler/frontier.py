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
gave: the engine drops the request object then) and after everything it enqueued has been pushed. Each
worker refreshes a heartbeat key; any worker finding another's expired puts that worker's in-flight
requests back in the queue (they are fetched again, by someone else). The crawl is over when the queue and
every in-flight hash are empty and every live worker is idle, checked in one atomic step. While Redis is
unreachable the thread retries with backoff and keeps what it was to push: workers pause, nothing is lost.

Requests are serialised with scrapy-redis's pickle serializer: Redis must be as trusted as the workers.
"""

from __future__ import annotations

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

logger = logging.getLogger(__name__)

TOKEN = "_frontier_token"  # request.meta: the request's entry in its worker's in-flight hash
REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, OSError)

# KEYS: queue, inflight hash of this worker; ARGV: how many. Pops the best requests (lowest score first, as
# scrapy-redis's PriorityQueue orders them) and files each under its SHA-1 in the in-flight hash, atomically:
# a request is always either in the queue or in some worker's hand.
_POP = """
local out = {}
local popped = redis.call('ZPOPMIN', KEYS[1], ARGV[1])
for i = 1, #popped, 2 do
  local token = redis.sha1hex(popped[i])
  redis.call('HSET', KEYS[2], token, popped[i])
  table.insert(out, token)
  table.insert(out, popped[i])
end
return out
"""
# KEYS: queue, duplicate filter, push mark; ARGV: fingerprint ("" for dont_filter), score, data. Filter and
# queue in one step (a worker killed between the two would leave a URL seen and never queued), and
# idempotent: a push retried after its reply was lost (Redis stopped mid-call) returns what the first did.
_PUSH = """
local before = redis.call('GET', KEYS[3])
if before then return tonumber(before) end
local queued = 0
if ARGV[1] == '' or redis.call('SADD', KEYS[2], ARGV[1]) == 1 then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
  queued = 1
end
redis.call('SET', KEYS[3], queued, 'EX', 3600)
return queued
"""
# KEYS: queue, inflight hash; ARGV: tokens. Requests filed in the hash that the worker does not hold (a pop
# whose reply was lost in an outage) go back to the queue.
_RETURN = """
local n = 0
for _, token in ipairs(ARGV) do
  local data = redis.call('HGET', KEYS[2], token)
  if data then
    redis.call('ZADD', KEYS[1], 0, data)
    redis.call('HDEL', KEYS[2], token)
    n = n + 1
  end
end
return n
"""
# KEYS: queue, workers set, lost set; ARGV: prefix of keys, now. Puts the in-flight requests of every worker
# whose heartbeat expired back in the queue and forgets the worker; returns [worker, requeued, ...].
_REAP = """
local out = {}
for _, worker in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', ARGV[1] .. 'alive:' .. worker) == 0 then
    local held = redis.call('HVALS', ARGV[1] .. 'inflight:' .. worker)
    for _, data in ipairs(held) do redis.call('ZADD', KEYS[1], 0, data) end
    redis.call('DEL', ARGV[1] .. 'inflight:' .. worker, ARGV[1] .. 'idle:' .. worker)
    redis.call('SREM', KEYS[2], worker)
    redis.call('HSET', KEYS[3], worker, ARGV[2])
    table.insert(out, worker)
    table.insert(out, #held)
  end
end
return out
"""
# KEYS: queue, workers set; ARGV: prefix. 1 when no work is left anywhere: the queue is empty, and every live
# worker is idle with nothing in hand.
_DONE = """
if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end
for _, worker in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', ARGV[1] .. 'idle:' .. worker) == 0 then return 0 end
  if redis.call('HLEN', ARGV[1] .. 'inflight:' .. worker) > 0 then return 0 end
end
return 1
"""


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
        self.inflight, self.alive, self.idle = (f"{prefix}{k}:{worker}" for k in ("inflight", "alive", "idle"))


class Frontier:
    """The Redis side of one worker. Scrapy's side (crawler/distributed.py) calls `push`, `take`, `hold`,
    `set_idle` and reads `done`; everything else happens in the frontier's thread."""

    def __init__(self, options: FrontierOptions, client: redis.Redis | None = None) -> None:
        self.options = options
        self.keys = Keys(options.prefix, options.worker)
        params = {"socket_timeout": 5, "socket_connect_timeout": 5, **options.redis_params}
        self.redis = client or redis.Redis.from_url(options.redis_url, **params)
        self._pop = self.redis.register_script(_POP)
        self._push = self.redis.register_script(_PUSH)
        self._return = self.redis.register_script(_RETURN)
        self._held: set[str] = set()  # tokens popped by this worker and not acknowledged yet
        self._reap = self.redis.register_script(_REAP)
        self._done = self.redis.register_script(_DONE)
        self._cond = threading.Condition()
        self._outbound: deque[tuple[str, Any]] = deque()  # ("push", request) / ("ack", token), in order
        self._inbound: deque[Request] = deque()
        self._thread: threading.Thread | None = None
        self._running = False
        self._idle = False
        self.done = False
        self.finished_before = False  # the crawl was over when this worker joined: it does nothing
        self._joined = False
        self.spider: Spider | None = None
        self.queue: PriorityQueue | None = None
        self.dupefilter: RFPDupeFilter | None = None
        self.on_dropped: Callable[[Request], None] = lambda request: None
        self.on_ready: Callable[[], None] = lambda: None
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
        """The engine has `request` until it drops it: then its token is acknowledged (after whatever was
        pushed before that moment, so the requests it led to are in the queue first)."""
        token = request.meta.get(TOKEN)
        if token is not None:
            finalizer = weakref.finalize(request, self._ack, token)
            finalizer.atexit = False  # a request left unprocessed at exit stays in hand: another worker redoes it

    def _ack(self, token: str) -> None:
        with self._cond:
            self._outbound.append(("ack", token))
            self._cond.notify()

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
        """Stop the thread after pushing what is left to push; requests prefetched but never handed to the
        engine go back to the queue."""
        with self._cond:
            self._running = False
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=60)

    # --- the thread ---------------------------------------------------------------------------------------
    def _work(self) -> None:
        next_beat = next_reap = 0.0
        while True:
            with self._cond:
                if not self._running and not self._outbound:
                    break
                if not self._outbound and len(self._inbound) >= self.options.prefetch // 2:
                    self._cond.wait(0.2)
            try:
                now = time.monotonic()
                if now >= next_beat:  # first: a worker is registered before anything it pushes counts
                    self._beat()
                    next_beat = now + self.options.worker_timeout / 6
                self._flush()
                if self.finished_before:
                    with self._cond:
                        self._cond.wait(0.2)
                    continue
                if now >= next_reap:
                    self._reap_dead()
                    next_reap = now + self.options.worker_timeout / 3
                if self._running:
                    self._refill()
                    self._check_done()
                self._recovered()
            except REDIS_ERRORS as exc:
                self._outage(exc)
        self._give_back()

    def _flush(self) -> None:
        """Push and acknowledge in order; an item leaves the outbound queue only once Redis has it."""
        assert self.queue is not None and self.dupefilter is not None
        while True:
            with self._cond:
                if not self._outbound:
                    return
                kind, value = self._outbound[0]
            if kind == "push":
                request, push_id = value
                if self.finished_before:
                    self.count("frontier/discarded")
                elif self._queued(request, push_id):
                    self.count("frontier/pushed")
                else:
                    self.count("frontier/filtered")
                    self.on_dropped(request)
            else:
                self.redis.hdel(self.keys.inflight, value)
                self._held.discard(value)
                self.count("frontier/acked")
            with self._cond:
                self._outbound.popleft()

    def _queued(self, request: Request, push_id: str) -> bool:
        """Through the duplicate filter (scrapy-redis's fingerprint) into the queue (its encoding and score),
        in one atomic, idempotent step."""
        assert self.queue is not None and self.dupefilter is not None
        fingerprint = "" if request.dont_filter else self.dupefilter.request_fingerprint(request)
        data = self.queue._encode_request(request)
        return bool(self._push(keys=[self.keys.queue, self.keys.seen, f"{self.keys.prefix}push:{push_id}"],
                               args=[fingerprint, -request.priority, data]))

    def _refill(self) -> None:
        with self._cond:
            want = self.options.prefetch - len(self._inbound)
        if want < max(1, self.options.prefetch // 2):
            return
        popped = self._pop(keys=[self.keys.queue, self.keys.inflight], args=[want])
        if not popped:
            return
        assert self.queue is not None
        requests = []
        for token, data in zip(popped[::2], popped[1::2], strict=True):
            try:
                request = self.queue._decode_request(data)  # scrapy-redis's own (de)serialisation
            except Exception as exc:  # a request this spider cannot rebuild: dropped, and said
                logger.error("frontier: a queued request could not be decoded (%s: %s); dropped",
                             type(exc).__name__, exc)
                self.redis.hdel(self.keys.inflight, token)
                continue
            request.meta[TOKEN] = token.decode() if isinstance(token, bytes) else token
            self._held.add(request.meta[TOKEN])
            requests.append(request)
        with self._cond:
            self._inbound.extend(requests)
            self._idle = False
        self.redis.delete(self.keys.idle)
        self.count("frontier/popped", len(requests))
        self.on_ready()

    def _beat(self) -> None:
        if not self._joined:
            if self.redis.exists(self.keys.done):
                logger.warning("frontier: crawl %s is already finished; this worker has nothing to do",
                               self.options.crawl_id)
                self.finished_before = self.done = True
            self._joined = True
        if self.finished_before:
            return
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

    def _reap_dead(self) -> None:
        found = self._reap(keys=[self.keys.queue, self.keys.workers, self.keys.lost],
                           args=[self.keys.prefix, str(time.time())])
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
            returned = self._return(keys=[self.keys.queue, self.keys.inflight], args=strays)
            logger.warning("frontier: %d requests popped during the outage never arrived; queued again", returned)
            self.count("frontier/returned_after_outage", int(returned))

    def _give_back(self) -> None:
        """At close: requests prefetched and never handed to the engine go back to the queue."""
        with self._cond:
            left = list(self._inbound)
            self._inbound.clear()
        if not left:
            return
        try:
            pipe = self.redis.pipeline()
            for request in left:
                token = request.meta.get(TOKEN)
                pipe.zadd(self.keys.queue, {self.queue._encode_request(request): -request.priority})  # type: ignore[union-attr]
                if token:
                    pipe.hdel(self.keys.inflight, token)
            pipe.execute()
        except REDIS_ERRORS as exc:
            logger.error("frontier: %d prefetched requests could not be given back (%s); they stay in this "
                         "worker's hand and go back when it is found dead", len(left), exc)

    # --- leaving the crawl --------------------------------------------------------------------------------
    def leave(self) -> int:
        """This worker is done: forget it; returns how many workers are still in the crawl (0: the last)."""
        pipe = self.redis.pipeline()
        pipe.srem(self.keys.workers, self.options.worker)
        pipe.sadd(self.keys.finished, self.options.worker)
        pipe.delete(self.keys.alive, self.keys.idle)
        pipe.scard(self.keys.workers)
        return int(pipe.execute()[-1])

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
