"""Host error templates learned by earlier crawls, taken instead of probing again.

Every probe answer a crawl judges pages with is written to its `probes` part
(`crawls/ID/probes/part-NNNNN.jsonl.gz`, see `probe_record`): the fingerprint exactly as the classifier used
it (crawler/soft404/probes.py), the probe URL, when and by which crawl it was fetched. An answer is trusted
for SOFT404_PROBE_TTL; a site crawled more often than that would ask its hosts the same question at every
crawl. Instead, before its first probe, a crawl takes the newest answer per URL shape younger than the TTL
from the `probes` parts of the site's recent crawls, which the catalog (archive/catalog.py) names. What it
takes goes into its own `probes` part (`reused`), so `scrapy reprocess` judges its pages with the same
templates, and the next crawl finds them there too.

Nothing is parsed again and no WARC is read: the records are what the live probe gave. A failed probe (no
status) is never taken: the new crawl asks again. The catalog is read as it is, never updated here
(`scrapy catalog`, `scrapy audit` and due rechecks keep it current); without one, or on any problem, the
crawl probes as it always did. Work is bounded (`max_crawls` crawls, `MAX_PART_BYTES` per part).
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from archive.catalog import Catalog
from archive.store import Store
from crawler.dates import iso_datetime
from crawler.soft404.probes import Fingerprint, shape_of

logger = logging.getLogger(__name__)

PART = "probes"  # the crawl's part that holds the answers it judged pages with (archive/service.py PARTS)
MAX_PART_BYTES = 64 << 20  # a probes part read back is at most this, decompressed
MAX_STORE_FAILURES = 3  # store reads that fail before reuse gives up (the crawl probes instead)
MAX_SECONDS = 30.0  # reading earlier crawls' parts stops after this (what was read is used)
HONEST = (404, 410)  # answers that say the host's unknown URLs are gone: reused like templates
CLOCK_SKEW = 60.0  # seconds an answer may claim to come from the future (another machine's clock) and count


@dataclass(frozen=True)
class Learned:
    """One probe answer of an earlier crawl: its URL (its shape is the pages'), what it showed, who asked."""

    url: str
    fingerprint: Fingerprint
    crawl_id: str


def probe_record(url: str, fingerprint: Fingerprint, crawl_id: str, reused: bool = False) -> dict[str, Any]:
    """A line of a crawl's `probes` part: the answer for the probe `url`, fetched by `crawl_id`."""
    record = fingerprint.record()
    record.pop("url")  # the probe URL is `url`, which an answer taken from an older record may not hold itself
    return {"url": url, "fetched_at": iso_datetime(datetime.fromtimestamp(record["at"], UTC)),
            "crawl_id": crawl_id, "reused": reused, **record}


def learned_templates(catalog_path: Path, store: Store, site: str, ttl: float, max_crawls: int = 10) -> list[Learned]:
    """The newest answer per URL shape of `site` younger than `ttl` seconds, from the `probes` parts of the
    site's last `max_crawls` crawls the catalog knows; [] when there is no catalog or it cannot be read."""
    if not catalog_path.exists():
        return []
    since = iso_datetime(datetime.now(UTC) - timedelta(seconds=ttl))
    try:
        with Catalog.reader(catalog_path, store) as catalog:
            crawl_ids = catalog.recent_crawls(site, since, max_crawls)
    except Exception as exc:  # reuse saves probes: whatever fails here costs probes, never the crawl
        logger.warning("host templates of earlier crawls not read (%s: %s): probing instead", type(exc).__name__, exc)
        return []
    found: list[tuple[float, Learned]] = []
    failures, deadline = 0, time.monotonic() + MAX_SECONDS
    for crawl_id in crawl_ids:
        if time.monotonic() > deadline:
            logger.info("host templates of earlier crawls: stopped after %.0f s (bounded)", MAX_SECONDS)
            break
        try:
            records = list(_records(store, f"crawls/{crawl_id}/{PART}/"))
        except Exception as exc:  # a store that does not answer, a part cut short: this crawl's answers only
            failures += 1
            logger.info("host templates of crawl %s not read: %s: %s", crawl_id, type(exc).__name__, exc)
            if failures >= MAX_STORE_FAILURES:
                break
            continue
        found += filter(None, (_learned(record, ttl) for record in records))
    return _newest_per_shape(found)


def crawl_templates(store: Store, crawl_id: str) -> list[dict[str, Any]]:
    """The answers crawl `crawl_id` judged its pages with (its `probes` part); [] when it has none (a crawl
    older than the part) or the part cannot be read (logged)."""
    try:
        return _records(store, f"crawls/{crawl_id}/{PART}/")
    except Exception as exc:
        logger.warning("host templates of crawl %s not read: %s: %s", crawl_id, type(exc).__name__, exc)
        return []


def as_judged(records: list[dict[str, Any]]) -> list[Learned]:
    """The newest answer per URL shape of these records, whatever their age, as if just fetched: `scrapy
    reprocess` judges a crawl's pages with the templates the crawl used, however long ago it ran."""
    return [Learned(item.url, replace(item.fingerprint, fetched=time.monotonic()), item.crawl_id)
            for item in _newest_per_shape(filter(None, (_learned(record, math.inf) for record in records)))]


def _newest_per_shape(found: Iterable[tuple[float, Learned]]) -> list[Learned]:
    """Of (when fetched, answer) pairs, the answer fetched last for each URL shape."""
    best: dict[tuple[str, str, str], tuple[float, Learned]] = {}
    for at, learned in found:
        shape = shape_of(learned.url)
        if shape not in best or best[shape][0] < at:
            best[shape] = (at, learned)
    return [learned for _, learned in best.values()]


def _records(store: Store, prefix: str) -> list[dict[str, Any]]:
    """Every JSON line of the parts under `prefix` (bounded per part; a bad line is skipped)."""
    out: list[dict[str, Any]] = []
    for key in store.keys(prefix):
        if not key.endswith(".jsonl.gz"):
            continue
        with gzip.GzipFile(fileobj=io.BytesIO(store.get_bytes(key))) as fh:
            data = fh.read(MAX_PART_BYTES)
        for line in data.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                out.append(record)
    return out


def _learned(record: dict[str, Any], ttl: float) -> tuple[float, Learned] | None:
    """(when it was fetched, the answer) of a record that is a host's answer (2xx: its template; 404 or 410:
    an honest host) younger than `ttl`, else None: a failure, a 5xx, a 429 or a 403 says nothing lasting."""
    try:
        at, status = float(record["at"]), record.get("status")
        if not isinstance(status, int) or not (200 <= status < 300 or status in HONEST) \
                or not isinstance(record.get("url"), str):
            return None
        if not math.isfinite(at) or at > time.time() + CLOCK_SKEW or time.time() - at >= ttl:
            return None
        return at, Learned(record["url"], Fingerprint.of_record(record), str(record.get("crawl_id") or ""))
    except (KeyError, TypeError, ValueError):
        return None
