"""What the workers of a distributed crawl must agree on, kept in Redis beside the frontier.

- Digests: a payload one worker archived becomes a revisit when another meets it (WARC 1.1 revisits name the
  original's record id and exact date). Earlier crawls' digests stay in each worker's local index, which is
  loaded from the store's CDXJ (archive/digests.py): the same on every machine.
- Host probes: one probe per host and URL shape for the whole crawl; the other workers wait for its answer.
- Redirect sinks: redirects counted across workers, so a sink is found as soon as in one process.
- robots.txt: fetched once per host by the first worker that needs it; the others parse the same body.

Every call is bounded and fails soft: a Redis error costs a revisit (the payload is archived again), a probe or
a robots.txt fetched twice, a sink learnt later; never a page. Calls from the reactor go through a thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import redis

from archive.digests import FirstCapture
from crawler.frontier import REDIS_ERRORS
from crawler.soft404.probes import Fingerprint

logger = logging.getLogger(__name__)

ENTRY_TTL = 7 * 86400  # what a crawl shares outlives it by at most this (a finished crawl deletes it)
CLAIM_SECONDS = 120  # how long a worker's claim to fetch a probe or a robots.txt holds before others try
ROBOTS_MAX_BYTES = 512 * 1024  # RFC 9309: crawlers must parse at least 500 KiB


class SharedDigests:
    """Used from the archive writer's thread (blocking calls are fine there)."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.redis, self.key = client, f"{prefix}digests"
        self.failures = 0

    def get(self, digest: str) -> FirstCapture | None:
        try:
            raw = self.redis.hget(self.key, digest)
        except REDIS_ERRORS:
            self.failures += 1
            return None
        if not raw:
            return None
        found = json.loads(raw)
        return FirstCapture(found["uri"], datetime.fromisoformat(found["date"]), found.get("record_id"),
                            found.get("warc_date"))

    def add(self, digest: str, first: FirstCapture) -> None:
        value = json.dumps({"uri": first.uri, "date": first.date.isoformat(), "record_id": first.record_id,
                            "warc_date": first.warc_date})
        try:
            self.redis.hsetnx(self.key, digest, value)
        except REDIS_ERRORS:
            self.failures += 1


class _Claims:
    """Who fetches a shared thing: the first worker to claim it; the others wait for its answer while its
    heartbeat lasts (a claimer that died is not waited for)."""

    def __init__(self, client: redis.Redis, prefix: str, worker: str, poll: float = 0.25) -> None:
        self.redis, self.prefix, self.worker, self.poll = client, prefix, worker, poll

    async def claim(self, key: str) -> bool:
        return bool(await asyncio.to_thread(self.redis.set, f"{key}:claim", self.worker, nx=True, ex=CLAIM_SECONDS))

    async def wait(self, key: str) -> bytes | None:
        """The value at `key` once the claimer stored it; None past the claim, or once the claimer is dead."""
        deadline = time.monotonic() + CLAIM_SECONDS
        while time.monotonic() < deadline:
            def look() -> tuple[Any, Any, bool]:
                value, claimer = self.redis.mget(key, f"{key}:claim")
                name = claimer.decode() if isinstance(claimer, bytes) else claimer
                return value, claimer, bool(claimer) and bool(self.redis.exists(f"{self.prefix}alive:{name}"))
            value, claimer, alive = await asyncio.to_thread(look)
            if value:
                return value  # type: ignore[no-any-return]
            if not claimer or not alive:
                return None
            await asyncio.sleep(self.poll)
        return None


class SharedProbes(_Claims):
    """A host-probe fetch shared by the crawl's workers: the first to ask fetches, the others wait for its
    answer (fetching one themselves if it does not come)."""

    def wrap(self, fetch: Callable[[str], Awaitable[Fingerprint]],
             shape: Callable[[str], tuple[str, str, str]]) -> Callable[[str], Awaitable[Fingerprint]]:
        """`fetch(probe_url)` made shared, keyed by the probe URL's shape (as HostProbes caches it)."""
        async def shared(url: str) -> Fingerprint:
            key = f"{self.prefix}probes:{'|'.join(shape(url))}"
            try:
                return await self._shared(key, url, fetch)
            except REDIS_ERRORS as exc:
                logger.info("shared probe %s unavailable (%s): fetched here", key, exc)
                return await fetch(url)
        return shared

    async def _shared(self, key: str, url: str, fetch: Callable[[str], Awaitable[Fingerprint]]) -> Fingerprint:
        if await self.claim(key):
            found = await fetch(url)
            try:
                await asyncio.to_thread(self.redis.set, key, json.dumps(found.record()), ex=ENTRY_TTL)
            except REDIS_ERRORS as exc:  # the answer is here: judge with it (the others fetch their own)
                logger.info("shared probe %s not stored (%s): used here only", key, exc)
            return found
        raw = await self.wait(key)
        if raw:
            try:
                return Fingerprint.of_record(json.loads(raw))
            except (KeyError, TypeError, ValueError) as exc:  # not a record this version reads: ask the host
                logger.warning("shared probe %s unreadable (%s: %s): fetched here", key, type(exc).__name__, exc)
        return await fetch(url)


class SharedSinks:
    """RedirectSinks across workers: the distinct URLs redirected to each target, counted in Redis."""

    def __init__(self, client: redis.Redis, prefix: str, threshold: int = 3) -> None:
        self.redis, self.prefix, self.threshold = client, prefix, threshold

    async def landed(self, requested: str, final: str) -> bool | None:
        """True once `threshold` different URLs landed on `final`; None when Redis cannot say."""
        key = f"{self.prefix}sinks:{final}"

        def record() -> int:
            pipe = self.redis.pipeline()
            pipe.sadd(key, requested)
            pipe.expire(key, ENTRY_TTL)
            pipe.scard(key)
            return int(pipe.execute()[-1])
        try:
            return await asyncio.to_thread(record) >= self.threshold
        except REDIS_ERRORS:
            return None


class SharedRobots(_Claims):
    """robots.txt fetched once per host for the crawl; the other workers parse the body it got."""

    async def claim_host(self, netloc: str) -> bool:
        """True: this worker fetches it (and `publish`es); False: wait for another's (`wait_host`)."""
        try:
            return await self.claim(f"{self.prefix}robots:{netloc}")
        except REDIS_ERRORS:
            return True

    async def publish(self, netloc: str, status: int | None, body: bytes, headers: dict[str, Any]) -> None:
        value = json.dumps({"status": status, "headers": headers,
                            "body": body[:ROBOTS_MAX_BYTES].decode("latin-1")})
        try:
            await asyncio.to_thread(self.redis.set, f"{self.prefix}robots:{netloc}", value, ex=ENTRY_TTL)
        except REDIS_ERRORS as exc:
            logger.info("robots.txt of %s not shared (%s)", netloc, exc)

    async def wait_host(self, netloc: str) -> tuple[int | None, bytes, dict[str, Any]] | None:
        """What the claiming worker got (status None: it could not fetch it); None when nothing comes."""
        try:
            raw = await self.wait(f"{self.prefix}robots:{netloc}")
        except REDIS_ERRORS:
            return None
        if not raw:
            return None
        data = json.loads(raw)
        return data["status"], data["body"].encode("latin-1"), data.get("headers") or {}
