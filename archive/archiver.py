"""The crawl's archive: exchanges in, WARC records out, identical payloads written once (revisits).

Deduplication keeps, per payload digest, where the payload was first archived (in this crawl or an earlier
one of the same store); a later exchange with the same payload gets a `revisit` record
(identical-payload-digest profile) that refers to it. The index lives on disk (archive/digests.py).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from archive.cdxj import media_type
from archive.digests import DigestIndex, FirstCapture
from archive.warc import (
    Exchange,
    Written,
    derived_record,
    derived_revisit,
    metadata_record,
    new_record_id,
    payload_digest,
    request_record,
    response_record,
    revisit_record,
    warc_date,
)
from archive.warcfile import WarcFileWriter

logger = logging.getLogger(__name__)


class SharedDigests(Protocol):
    """Payloads the other workers of a distributed crawl archived (crawler/sharedstate.py); a miss or a
    failure is only a payload archived again."""

    def get(self, digest: str) -> FirstCapture | None: ...

    def add(self, digest: str, first: FirstCapture) -> None: ...


def _mime(exchange: Exchange) -> str | None:
    return media_type(next((v for n, v in exchange.response_headers if n.lower() == "content-type"), None))


class Archiver:
    """Writes each exchange as request + response (or revisit) records."""

    def __init__(self, writer: WarcFileWriter, digests: DigestIndex | None,
                 source_of: Callable[[str], str] = lambda name: name, shared: SharedDigests | None = None) -> None:
        self.writer = writer
        self.digests = digests  # None: deduplication off
        self.shared = shared if digests is not None else None  # the other workers' payloads (distributed)
        self.source_of = source_of  # WARC file name -> store key of its CDXJ (the digest index's source)
        self.revisits = 0

    def _remember(self, digest: str, written: Written) -> None:
        if self.digests is None:
            return
        try:
            self.digests.add(digest, written.target_uri, written.date, written.record_id,
                             self.source_of(written.filename))
        except sqlite3.Error as exc:  # a cache: a payload it misses is archived again, never lost
            logger.warning("digest index: cannot record %s (%s)", written.target_uri, exc)
        if self.shared is not None:
            self.shared.add(digest, FirstCapture(written.target_uri, written.date, written.record_id,
                                                 warc_date(written.date)))

    def _first(self, digest: str, body: bytes) -> FirstCapture | None:
        if self.digests is None or not body:
            return None
        try:
            found = self.digests.get(digest)
        except sqlite3.Error as exc:
            logger.warning("digest index: cannot look up %s (%s); archiving the payload in full", digest, exc)
            found = None
        if found is None and self.shared is not None:
            found = self.shared.get(digest)
        return found

    def archive(self, exchange: Exchange) -> Written:
        """Archive one exchange; returns where its response (or revisit) record landed."""
        digest = payload_digest(exchange.body, self.writer.algorithm)
        # A cut payload is written whole as it came, never as a revisit: a revisit record has no
        # WARC-Truncated, and a replay of it would present the cut body as the original's.
        first = None if exchange.truncated else self._first(digest, exchange.body)
        response_id = new_record_id()
        if first is not None:
            record = revisit_record(exchange, response_id, digest, first)
            kind = "revisit"
            self.revisits += 1
        else:
            record = response_record(exchange, response_id, digest)
            kind = "response"
        response = Written(response_id, kind, exchange.url, "", 0, 0, exchange.date, digest, _mime(exchange),
                           exchange.status)
        request_id = new_record_id()
        request = Written(request_id, "request", exchange.url, "", 0, 0, exchange.date)
        request_rec = request_record(exchange, request_id, response_id, self.writer.algorithm)
        self.writer.write([(record, response), (request_rec, request)])
        if first is None and exchange.body and not exchange.truncated:
            self._remember(digest, response)
        return response

    def derived(self, record_type: str, uri: str, mime: str, body: bytes, date: datetime,
                refers_to: str | None = None) -> Written:
        """A `resource` or `conversion` record (screenshot, rendered DOM); a revisit when seen before."""
        digest = payload_digest(body, self.writer.algorithm)
        first = self._first(digest, body)
        record_id = new_record_id()
        if first is not None:
            record = derived_revisit(uri, date, record_id, digest, first)
            self.revisits += 1
        else:
            record = derived_record(record_type, uri, mime, body, date, record_id, digest, refers_to)
        written = Written(record_id, record.record_type, uri, "", 0, 0, date, digest, media_type(mime))
        self.writer.write([(record, written)])
        if first is None and body:
            self._remember(digest, written)
        return written

    def metadata(self, uri: str, fields: list[tuple[str, str]], refers_to_id: str, date: datetime) -> Written:
        record_id = new_record_id()
        record = metadata_record(uri, fields, date, record_id, refers_to_id)
        written = Written(record_id, "metadata", uri, "", 0, 0, date)
        self.writer.write([(record, written)])
        return written

    def close(self) -> None:
        self.writer.close()
        if self.digests is not None:
            self.digests.close()
