"""Host error templates learned by earlier crawls, read back through the catalog instead of probing again.

A probe answer is trusted for SOFT404_PROBE_TTL (crawler/soft404/probes.py). A site crawled more often than
that would ask every host the same question again at every crawl; instead, before a crawl's first probe,
the newest probe capture of each URL shape that the catalog (archive/catalog.py) knows for the site, and
that is younger than the TTL, is read back from the store by range and read again as the live answer was
(crawler/analysis.py): the same fingerprint, aged by the time since it was fetched. The store stays the
source of truth: nothing is trusted that its record does not show. A revisit (the host answered what it
answered before) is resolved to the original's payload through the catalog.

The catalog is read as it is (a crawl never indexes the store at start: `scrapy catalog`, `scrapy audit`
and the recheck spider keep it current); without one, or on any problem, the crawl probes as it always did.
Work is bounded: `max_shapes` answers and `max_seconds` in all, in a thread.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from w3lib.encoding import http_content_type_encoding

from archive.catalog import PROBE_COLUMNS, Catalog
from archive.indexing import warc_ts
from archive.reader import Capture
from archive.records import RecordError, parse_record
from archive.store import Store
from crawler.analysis import HTML_TYPES, PageRequest, analyze
from crawler.dates import iso_datetime
from crawler.errors import StoreError
from crawler.limits import UNREADABLE, PageLimits
from crawler.soft404.classify import template_view
from crawler.soft404.features import ProbeView
from crawler.soft404.probes import Fingerprint, shape_of

logger = logging.getLogger(__name__)

MAX_STORE_FAILURES = 3  # reads of the store that fail before reuse gives up (the crawl probes instead)


@dataclass(frozen=True)
class Learned:
    """One probe answer of an earlier crawl: its URL (its shape is the pages') and what it showed."""

    url: str
    fingerprint: Fingerprint
    crawl_id: str


def learned_templates(catalog_path: Path, store: Store, site: str, ttl: float, limits: PageLimits | None = None,
                      max_shapes: int = 500, max_seconds: float = 30.0) -> list[Learned]:
    """The newest usable probe answer per URL shape of `site` younger than `ttl` seconds; [] when there is
    no catalog or it cannot be read (logged: the crawl then probes)."""
    if not catalog_path.exists():
        return []
    try:
        with Catalog.reader(catalog_path, store) as catalog:
            return list(_learn(catalog, store, site, ttl, limits or PageLimits(), max_shapes,
                               time.monotonic() + max_seconds))
    except Exception as exc:  # reuse saves probes: whatever fails here costs probes, never the crawl
        logger.warning("host templates of earlier crawls not read (%s: %s): probing instead", type(exc).__name__, exc)
        return []


def _learn(catalog: Catalog, store: Store, site: str, ttl: float, limits: PageLimits, max_shapes: int,
           deadline: float) -> Iterator[Learned]:
    now = datetime.now(UTC)
    since = iso_datetime(now - timedelta(seconds=ttl))
    done: set[tuple[str, str, str]] = set()
    failures = 0
    for values in catalog.probe_captures(site, since):
        row = dict(zip(PROBE_COLUMNS, values, strict=True))
        shape = shape_of(row["url"])
        if shape in done:
            continue
        if len(done) >= max_shapes or time.monotonic() > deadline:
            logger.info("host templates of earlier crawls: stopped after %d shapes (bounded)", len(done))
            return
        try:
            view = None if row["redirects"] else _view(catalog, store, site, row, limits)
        except RecordError as exc:
            logger.info("probe %s of %s not reused: %s", row["url"], row["crawl_id"], exc)
            continue  # an older answer of the shape may still be read
        except (StoreError, OSError) as exc:  # a missing object, or a store that does not answer
            failures += 1
            logger.info("probe %s of %s not reused: %s", row["url"], row["crawl_id"], exc)
            if failures >= MAX_STORE_FAILURES:  # every other read would wait as long: probe instead
                logger.warning("host templates of earlier crawls: %d store reads failed, %d reused (last: %s)",
                               failures, len(done), exc)
                return
            continue
        age = (now - datetime.strptime(row["fetched_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)).total_seconds()
        entry = {"status": row["status"], "final_url": row["final_url"] or row["url"], "title": row["title"],
                 "redirects": json.loads(row["redirects"]) if row["redirects"] else [], "simhash": row["simhash"]}
        fingerprint = Fingerprint.from_entry(entry, view)
        done.add(shape)
        yield Learned(row["url"], _aged(fingerprint, max(0.0, age)), row["crawl_id"])


def _aged(fingerprint: Fingerprint, age: float) -> Fingerprint:
    """The fingerprint as if fetched `age` seconds ago: it expires when the original answer would have."""
    return Fingerprint(fingerprint.status, fingerprint.final_url, fingerprint.redirected, fingerprint.title,
                       fingerprint.simhash, time.monotonic() - age, fingerprint.view)


def _view(catalog: Catalog, store: Store, site: str, row: dict[str, Any], limits: PageLimits) -> ProbeView | None:
    """The answer read as the host's error template, as at capture time; None when it was no HTML page."""
    if not (200 <= (row["status"] or 0) < 300):
        return None  # an honest 404 needs no template
    capture = _read(store, row)
    if capture.record_type == "revisit":
        refers = capture.warc_headers.get("WARC-Refers-To-Target-URI") or capture.url
        digits = warc_ts(capture.warc_headers.get("WARC-Refers-To-Date") or "")
        moment = iso_datetime(datetime.strptime(digits, "%Y%m%d%H%M%S").replace(tzinfo=UTC)) if digits else None
        original = catalog.capture_of(site, refers, moment) if moment else None
        if original is None:
            raise RecordError(row["warc_filename"] or "", row["warc_offset"] or 0,
                              f"revisit of {refers}: its original is not in the catalog")
        source = _read(store, dict(zip(PROBE_COLUMNS, original, strict=True)))
        capture.payload, capture.http_headers = source.payload, source.http_headers
    if capture.mime not in HTML_TYPES:
        return None
    content_type = capture.http_headers.get_header("Content-Type") if capture.http_headers else None
    analysis = analyze(PageRequest(url=capture.url, body=capture.content(),
                                   encoding=http_content_type_encoding(content_type), limits=limits))
    if UNREADABLE & set(analysis.problems) or analysis.evidence is None:
        return None
    return template_view(analysis.evidence)


def _read(store: Store, row: dict[str, Any]) -> Capture:
    """The record the row points at, from its crawl's WARC in the store."""
    filename, offset, length = row["warc_filename"], row["warc_offset"], row["warc_length"]
    if not filename or offset is None or not length:
        raise RecordError(filename or "", offset or 0, "the crawl log names no record")
    data = store.get_range(f"crawls/{row['crawl_id']}/warc/{filename}", offset, length)
    if len(data) < length:
        raise RecordError(filename, offset, "the record is cut short in the store")
    return parse_record(data, filename, offset)
