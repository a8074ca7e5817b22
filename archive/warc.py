"""One HTTP exchange -> WARC/1.1 records (pure, no I/O beyond in-memory buffers).

Records are built with warcio and serialised one gzip member each, so every record can be read on its
own from its offset. What goes in is what came off the wire, as far as Scrapy lets us see it: the body
before decompression, every value of repeated headers, the protocol and status of the response, the request
line with its query string and the headers that were sent. Where the transport already undid something
(chunked transfer coding), the header that would claim otherwise is renamed, not kept.
"""

from __future__ import annotations

import base64
import hashlib
import io
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from http.client import responses as reasons
from typing import Any

from warcio.recordloader import ArcWarcRecord
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

GZIP_LEVEL = 6  # warcio's own writer uses 9: ~3x slower for ~2% smaller files
ORIGINAL_PREFIX = "X-Archive-Orig-"  # pywb's prefix for a header kept for the record but no longer true


@dataclass
class Exchange:
    """One request and its response, as fetched."""

    url: str
    method: str
    request_line_target: str  # path?query as sent
    request_headers: list[tuple[str, str]]
    request_body: bytes
    protocol: str  # "HTTP/1.1"
    status: int
    response_headers: list[tuple[str, str]]
    body: bytes  # as received: still compressed when the server compressed it
    date: datetime
    ip_address: str | None = None
    truncated: str | None = None  # WARC-Truncated reason ("length") when the body was cut off


@dataclass
class Written:
    """Where a record landed: what the CDXJ and the crawl log point to."""

    record_id: str
    record_type: str
    target_uri: str
    filename: str
    offset: int
    length: int
    date: datetime
    payload_digest: str | None = None
    mime: str | None = None
    status: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def new_record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def warc_date(moment: datetime) -> str:
    """WARC/1.1 allows sub-second precision; we keep milliseconds."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def payload_digest(body: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode()


def response_http_headers(exchange: Exchange) -> StatusAndHeaders:
    """Status line and headers, with transfer codings the transport removed renamed out of the way."""
    headers = []
    for name, value in exchange.response_headers:
        dechunked = name.lower() == "transfer-encoding" and "chunked" in value.lower()
        # The block holds the de-chunked body: keep the header, renamed, instead of claiming chunking.
        headers.append((ORIGINAL_PREFIX + name if dechunked else name, value))
    reason = reasons.get(exchange.status, "")
    return StatusAndHeaders(f"{exchange.status} {reason}".strip(), headers, protocol=exchange.protocol)


def request_http_headers(exchange: Exchange) -> StatusAndHeaders:
    return StatusAndHeaders(f"{exchange.method} {exchange.request_line_target} {exchange.protocol}",
                            exchange.request_headers, is_http_request=True)


class RecordFactory:
    """Builds warcio records (WARC/1.1) and serialises them to gzip members."""

    def __init__(self) -> None:
        self._builder = WARCWriter(io.BytesIO(), gzip=False, warc_version="1.1")

    def _headers(self, record_type: str, uri: str, date: datetime, record_id: str,
                 extra: dict[str, str]) -> dict[str, str]:
        return {"WARC-Type": record_type, "WARC-Target-URI": uri, "WARC-Date": warc_date(date),
                "WARC-Record-ID": record_id, **extra}

    def response(self, exchange: Exchange, record_id: str) -> ArcWarcRecord:
        extra = {"WARC-IP-Address": exchange.ip_address} if exchange.ip_address else {}
        if exchange.truncated:
            extra["WARC-Truncated"] = exchange.truncated
        headers = self._headers("response", exchange.url, exchange.date, record_id, extra)
        return self._builder.create_warc_record(
            exchange.url, "response", payload=io.BytesIO(exchange.body), length=len(exchange.body),
            warc_headers_dict=headers, http_headers=response_http_headers(exchange))

    def request(self, exchange: Exchange, record_id: str, concurrent_to: str) -> ArcWarcRecord:
        headers = self._headers("request", exchange.url, exchange.date, record_id,
                                {"WARC-Concurrent-To": concurrent_to})
        return self._builder.create_warc_record(
            exchange.url, "request", payload=io.BytesIO(exchange.request_body), length=len(exchange.request_body),
            warc_headers_dict=headers, http_headers=request_http_headers(exchange))

    def revisit(self, exchange: Exchange, record_id: str, digest: str, refers_to_uri: str,
                refers_to_date: datetime) -> ArcWarcRecord:
        extra = {
            "WARC-Profile": "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest",
            "WARC-Refers-To-Target-URI": refers_to_uri,
            "WARC-Refers-To-Date": warc_date(refers_to_date),
            "WARC-Payload-Digest": digest,
        }
        if exchange.ip_address:
            extra["WARC-IP-Address"] = exchange.ip_address
        headers = self._headers("revisit", exchange.url, exchange.date, record_id, extra)
        return self._builder.create_warc_record(
            exchange.url, "revisit", payload=io.BytesIO(b""), length=0,
            warc_headers_dict=headers, http_headers=response_http_headers(exchange))

    def metadata(self, uri: str, fields: list[tuple[str, str]], date: datetime, record_id: str,
                 refers_to: str) -> ArcWarcRecord:
        body = "".join(f"{name}: {value}\r\n" for name, value in fields).encode("utf-8")
        headers = self._headers("metadata", uri, date, record_id,
                                {"WARC-Concurrent-To": refers_to, "WARC-Refers-To": refers_to})
        return self._builder.create_warc_record(uri, "metadata", payload=io.BytesIO(body), length=len(body),
                                                warc_content_type="application/warc-fields",
                                                warc_headers_dict=headers)

    def warcinfo(self, filename: str, info: dict[str, str], date: datetime) -> ArcWarcRecord:
        record = self._builder.create_warcinfo_record(filename, info)
        record.rec_headers.replace_header("WARC-Date", warc_date(date))
        return record

    def serialise(self, record: ArcWarcRecord) -> bytes:
        """The record as one gzip member (readable on its own from its offset)."""
        buffer = io.BytesIO()
        self._builder._write_warc_record(buffer, record)  # warcio's serialiser, without its level-9 gzip
        compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, zlib.MAX_WBITS + 16)
        return compressor.compress(buffer.getvalue()) + compressor.flush()
