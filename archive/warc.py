"""One HTTP exchange -> WARC/1.1 records (pure: bytes in, bytes out).

What goes in is what came off the wire, as far as Scrapy lets us see it: the body before decompression,
every value of repeated headers, the protocol and status of the response, the request line with its query
string and the headers that were sent. Where the transport already undid something (chunked transfer
coding), the header that would claim otherwise is renamed, not kept.

Records are serialised here, one gzip member each (so every record can be read on its own from its
offset), rather than with warcio's record builder: its per-record overhead (Python-level digesting, header
objects, buffer copies) made the writer five times slower than gzip on news-sized pages. warcio remains the
reader, and the tests check every file we write with `warcio check` and pywb's cdxj-indexer.
"""

from __future__ import annotations

import base64
import hashlib
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from http.client import responses as reasons
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # digests.py formats dates with warc_date: a type-only import avoids the cycle
    from archive.digests import FirstCapture

GZIP_LEVEL = 6  # warcio's own writer uses 9: ~3x slower for ~2% smaller files
# Payloads that are compressed already (gzip/br bodies, images, archives) gain <1% from deflate at any level
# but cost 7x the time of storing them (measured on the sample web's gzip pages: 0.994 vs 1.011 of the
# input at level 6 vs 0). Their records are written as stored deflate blocks: still one gzip member each.
_COMPRESSED_TYPES = ("image/", "video/", "audio/", "font/woff", "application/zip", "application/gzip",
                     "application/x-gzip", "application/pdf", "application/octet-stream")
REVISIT_PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
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
    decoded: bool = False  # the client (a browser) already undid the Content-Encoding: the body is plain


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

    def location(self) -> dict[str, str | int]:
        """Where to read the record again: the `warc` field of crawl-log entries and items."""
        return {"filename": self.filename, "offset": self.offset, "length": self.length,
                "record_id": self.record_id}


def new_record_id() -> str:
    """A random (version 4) UUID URN, formatted directly: uuid.uuid4() builds an object per record."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    x = raw.hex()
    return f"<urn:uuid:{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}>"


@lru_cache(maxsize=256)  # a request, its response and its metadata share one date
def warc_date(moment: datetime) -> str:
    """WARC/1.1 allows sub-second precision; we keep milliseconds."""
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
            f"{moment.second:02d}.{moment.microsecond // 1000:03d}Z")


_B32_PAIRS = [a + b for a in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for b in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"]


def payload_digest(body: bytes, algorithm: str = "sha1") -> str:
    """`ALGORITHM:BASE32`, as WARC and CDXJ tools expect (sha1 unless ARCHIVE_DIGEST says sha256).
    base64.b32encode is pure Python and showed up in profiles; a SHA-1 is 160 bits, exactly 16 pairs of
    base32 digits, looked up in one unrolled expression (a generator cost three times as much)."""
    if algorithm != "sha1":
        return f"{algorithm}:" + base64.b32encode(hashlib.new(algorithm, body).digest()).decode()
    if not body:
        return EMPTY_DIGEST
    v = int.from_bytes(hashlib.sha1(body).digest(), "big")
    t = _B32_PAIRS
    return "".join(("sha1:", t[v >> 150], t[v >> 140 & 1023], t[v >> 130 & 1023], t[v >> 120 & 1023],
                    t[v >> 110 & 1023], t[v >> 100 & 1023], t[v >> 90 & 1023], t[v >> 80 & 1023],
                    t[v >> 70 & 1023], t[v >> 60 & 1023], t[v >> 50 & 1023], t[v >> 40 & 1023],
                    t[v >> 30 & 1023], t[v >> 20 & 1023], t[v >> 10 & 1023], t[v & 1023]))


EMPTY_DIGEST = "sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ"  # most requests (GET) have no body


def _header_lines(lines: list[tuple[str, str]]) -> bytes:
    return "".join([f"{name}: {value}\r\n" for name, value in lines]).encode("latin-1", "replace")


def _stale(name: str, value: str, exchange: Exchange) -> bool:
    """A header the archived block no longer agrees with: the transport or the browser undid it."""
    lowered = name.lower()
    if lowered == "transfer-encoding":
        return exchange.decoded or "chunked" in value.lower()
    if exchange.decoded and lowered == "content-encoding":
        return value.strip().lower() not in ("", "identity")
    if exchange.decoded and lowered == "content-length":
        return value.strip() != str(len(exchange.body))
    return False


def response_head(exchange: Exchange) -> bytes:
    """Status line and headers as bytes; a coding the transport or browser removed is renamed, not claimed."""
    headers = [(ORIGINAL_PREFIX + name if _stale(name, value, exchange) else name, value)
               for name, value in exchange.response_headers]
    status = f"{exchange.protocol} {exchange.status} {reasons.get(exchange.status, '')}".rstrip()
    return status.encode("latin-1") + b"\r\n" + _header_lines(headers) + b"\r\n"


def request_head(exchange: Exchange) -> bytes:
    """Request line and headers as sent, except credentials: the exchange reaches the writer through
    `with_request_headers` (the crawl's archive service, crawler/run.py, which knows what the site config
    set), so a configured `Authorization`, `Proxy-Authorization` or cookie is archived as `[redacted]`."""
    line = f"{exchange.method} {exchange.request_line_target} {exchange.protocol}"
    return line.encode("latin-1", "replace") + b"\r\n" + _header_lines(exchange.request_headers) + b"\r\n"


def with_request_headers(exchange: Exchange, value_of: Callable[[str, str], str]) -> Exchange:
    """The exchange with each sent header's value replaced by `value_of(name, value)`: how configured
    credentials are redacted before any record is built. Only request headers: a response header came
    from the server, is evidence, and stays as received. The same exchange when nothing changed."""
    headers = [(name, value_of(name, value)) for name, value in exchange.request_headers]
    return exchange if headers == exchange.request_headers else replace(exchange, request_headers=headers)


@dataclass
class Record:
    """A WARC/1.1 record ready to write: named header fields and its block."""

    record_type: str
    headers: list[tuple[str, str]]
    block: bytes
    compressible: bool = True

    def to_bytes(self, algorithm: str = "sha1") -> bytes:
        """Serialised uncompressed; Block-Digest and Content-Length computed from the block."""
        head = "".join([f"{name}: {value}\r\n" for name, value in self.headers])
        return (f"WARC/1.1\r\n{head}WARC-Block-Digest: {payload_digest(self.block, algorithm)}\r\n"
                f"Content-Length: {len(self.block)}\r\n\r\n").encode() + self.block + b"\r\n\r\n"


def gzip_member(data: bytes, level: int = GZIP_LEVEL) -> bytes:
    """One gzip member, so the record can be read on its own from its offset.

    For news-sized records most of zlib's time went to setting up its state (a 32 KiB window and a 64 KiB
    hash table, allocated and cleared per member): a window and hash table sized to the record compress the
    same bytes to the same size, since deflate never looks back further than the record, about twice as
    fast on 2-3 KB records (measured in benchmarks/archive.py)."""
    window = max(9, min(15, (len(data) - 1).bit_length()))
    compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + window, max(1, min(9, window - 7)))
    return compressor.compress(data) + compressor.flush()


def payload_is_compressed(exchange: Exchange) -> bool:
    for name, value in exchange.response_headers:
        lowered = name.lower()
        if lowered == "content-encoding" and value.strip().lower() not in ("", "identity"):
            return True
        if lowered == "content-type" and value.strip().lower().startswith(_COMPRESSED_TYPES):
            return True
    return False


def _common(record_type: str, uri: str, date: datetime, record_id: str) -> list[tuple[str, str]]:
    return [("WARC-Type", record_type), ("WARC-Record-ID", record_id), ("WARC-Date", warc_date(date)),
            ("WARC-Target-URI", uri)]


def response_record(exchange: Exchange, record_id: str, digest: str) -> Record:
    """`digest` is the payload digest (the archiver computes it once, for deduplication too)."""
    headers = _common("response", exchange.url, exchange.date, record_id)
    if exchange.ip_address:
        headers.append(("WARC-IP-Address", exchange.ip_address))
    if exchange.truncated:
        headers.append(("WARC-Truncated", exchange.truncated))
    headers += [("WARC-Payload-Digest", digest),
                ("Content-Type", "application/http; msgtype=response")]
    return Record("response", headers, response_head(exchange) + exchange.body,
                  compressible=not payload_is_compressed(exchange))


def request_record(exchange: Exchange, record_id: str, concurrent_to: str, algorithm: str = "sha1") -> Record:
    headers = _common("request", exchange.url, exchange.date, record_id)
    body_digest = payload_digest(exchange.request_body, algorithm)
    headers += [("WARC-Concurrent-To", concurrent_to), ("WARC-Payload-Digest", body_digest),
                ("Content-Type", "application/http; msgtype=request")]
    return Record("request", headers, request_head(exchange) + exchange.request_body)


def _refers_to(first: FirstCapture) -> list[tuple[str, str]]:
    """WARC 1.1 section 6.7.2: the original's record id (when known), target URI and its own WARC-Date."""
    fields = [("WARC-Refers-To", first.record_id)] if first.record_id else []
    # The original's WARC-Date as it wrote it; known only to the second (a CDXJ of another tool), the
    # date is written to the second too, not with invented milliseconds.
    date = first.warc_date or f"{first.date:%Y-%m-%dT%H:%M:%S}Z"
    return [*fields, ("WARC-Refers-To-Target-URI", first.uri), ("WARC-Refers-To-Date", date)]


def revisit_record(exchange: Exchange, record_id: str, digest: str, first: FirstCapture) -> Record:
    """Identical-payload-digest revisit: the response's own status line and headers, no body."""
    headers = _common("revisit", exchange.url, exchange.date, record_id)
    if exchange.ip_address:
        headers.append(("WARC-IP-Address", exchange.ip_address))
    headers += [("WARC-Profile", REVISIT_PROFILE), *_refers_to(first), ("WARC-Payload-Digest", digest),
                ("Content-Type", "application/http; msgtype=response")]
    return Record("revisit", headers, response_head(exchange))


def derived_record(record_type: str, uri: str, mime: str, body: bytes, date: datetime, record_id: str,
                   digest: str, refers_to: str | None) -> Record:
    """A `resource` (screenshot) or `conversion` (rendered DOM) record: not an HTTP message, a document."""
    headers = _common(record_type, uri, date, record_id)
    if refers_to:
        headers += [("WARC-Refers-To", refers_to)] if record_type == "conversion" else \
            [("WARC-Concurrent-To", refers_to)]
    headers += [("WARC-Payload-Digest", digest), ("Content-Type", mime)]
    return Record(record_type, headers, body, compressible=not mime.startswith(_COMPRESSED_TYPES))


def derived_revisit(uri: str, date: datetime, record_id: str, digest: str, first: FirstCapture) -> Record:
    """A resource or conversion identical to one archived before: a revisit with no block."""
    headers = _common("revisit", uri, date, record_id)
    headers += [("WARC-Profile", REVISIT_PROFILE), *_refers_to(first), ("WARC-Payload-Digest", digest)]
    return Record("revisit", headers, b"")


def metadata_record(uri: str, fields: list[tuple[str, str]], date: datetime, record_id: str,
                    refers_to: str) -> Record:
    headers = _common("metadata", uri, date, record_id)
    headers += [("WARC-Concurrent-To", refers_to), ("WARC-Refers-To", refers_to),
                ("Content-Type", "application/warc-fields")]
    return Record("metadata", headers, _fields(fields))


def warcinfo_record(filename: str, info: dict[str, str], date: datetime, record_id: str) -> Record:
    headers = [("WARC-Type", "warcinfo"), ("WARC-Record-ID", record_id), ("WARC-Date", warc_date(date)),
               ("WARC-Filename", filename), ("Content-Type", "application/warc-fields")]
    return Record("warcinfo", headers, _fields(list(info.items())))


def _fields(fields: list[tuple[str, str]]) -> bytes:
    return "".join(f"{name}: {value}\r\n" for name, value in fields if value).encode("utf-8")
