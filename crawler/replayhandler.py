"""The download handler of `scrapy reprocess`: every http(s) request answered from the archive, no network.

Each request gets its URL's archived capture nearest to the run's moment (crawler/archivelookup.py), as a
Scrapy response built the way the HTTP client would have handed it on: the archived status line and headers
(order and repeats kept), the body as received, still content-encoded, so the decoding middleware
(crawler/compression.py) undoes it as in a live crawl; a body archived still chunked (other tools' WARCs) is
de-chunked here, as the HTTP client does. A 3xx comes back as the 3xx: the redirect middleware follows it and
each hop is looked up in turn. The page's `warc` (crawl-log entry, item) is the archived record itself, and
`fetched_at` the capture's date (crawler/crawllog.py `ARCHIVED_AT`): re-processing says when the page was
fetched, not when it was read back. Nothing is written to a WARC (the reprocess run has archiving off).

A request the render middleware sends to the browser (crawler/reprocessmw.py marks it) is answered from the
archived DOM (`urn:dom:URL` conversion record) with the `playwright` flag, as scrapy-playwright answers; with
no DOM archived, from the static capture with the `render-fallback` flag, as a failed rendering is.

A URL never archived fails with `NotArchivedError` (crawl-log reason `not-archived`); a capture that cannot be
read (truncated file, bad gzip member, a revisit without its original, an index line pointing nowhere) is
logged with its file and offset and counted, and the next nearest capture is tried.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Any

from scrapy import Request
from scrapy.core.downloader.handlers.base import BaseDownloadHandler
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import Headers, Response
from scrapy.responsetypes import responsetypes
from scrapy.utils.asyncio import run_in_thread
from warcio.bufferedreaders import ChunkedDataReader

from archive.captureindex import CaptureIndex, ts_datetime
from archive.indexing import warc_ts
from archive.reader import Capture
from archive.records import ReadCapture, RecordError
from archive.store import open_store
from crawler.archivelookup import ArchiveLookup, Found, Rendering
from crawler.config import store_config
from crawler.crawllog import ARCHIVED_AT
from crawler.dates import iso_datetime
from crawler.reprocessing import ReprocessPlan
from crawler.soft404.status import Verdict

logger = logging.getLogger(__name__)

FROM_DOM = "reprocess_render"  # request.meta: answer with the archived rendering (set by the render middleware)
CONVERSION = "reprocess_conversion"  # request.meta: where the DOM answering the request is archived
_ATTRIBUTE = "_palimpsest_archive_lookup"
# Framing the HTTP client consumed: a de-chunked or re-read body no longer has it.
_FRAMING = {"transfer-encoding"}
_DOM_DROPPED = {"transfer-encoding", "content-encoding", "content-length", "content-type"}


class NotArchivedError(IgnoreRequest):
    """No capture of the URL in the sources: says nothing about the URL itself."""

    verdict = Verdict(None, ["not-archived"], None)


class UnreadableCaptureError(IgnoreRequest):
    """Every capture of the URL tried was unreadable; the first one's file and offset are in the message."""

    verdict = Verdict(None, ["unreadable-capture"], None)


def plan_of(crawler: Crawler) -> ReprocessPlan:
    plan = getattr(crawler.spider, "plan", None)
    if not isinstance(plan, ReprocessPlan):
        raise NotConfigured("answering from the archive needs a reprocess spider (`scrapy reprocess`)")
    return plan


def archive_lookup(crawler: Crawler) -> ArchiveLookup:
    """The run's lookup, built on first use (both schemes' handlers share it); from `from_crawler` only."""
    lookup: ArchiveLookup | None = getattr(crawler, _ATTRIBUTE, None)
    if lookup is None:
        plan = plan_of(crawler)
        store_cfg = store_config(crawler.settings)
        store = open_store(store_cfg.uri, store_cfg.s3_options(), fsync=False)
        lookup = ArchiveLookup(CaptureIndex(plan.index_path, plan.index_label), store, plan.sources, plan.at)
        setattr(crawler, _ATTRIBUTE, lookup)
    return lookup


def location(read: ReadCapture) -> dict[str, Any]:
    """The archived record's place, as a crawl-log entry's `warc` names it (a revisit: the revisit record)."""
    row = read.row
    return {"filename": row.filename, "offset": row.offset, "length": row.length,
            "record_id": read.capture.record_id}


def dechunk(body: bytes) -> bytes:
    """A body still in chunked framing, without it; as it is when it is not chunked after all."""
    try:
        return bytes(ChunkedDataReader(io.BytesIO(body)).read())
    except (ValueError, OSError, EOFError):
        return body


def _header_bytes(value: str) -> bytes:
    try:
        return value.encode("latin-1")  # how warcio decoded it, byte for byte
    except UnicodeEncodeError:
        return value.encode("utf-8")


def http_headers(capture: Capture, dropped: set[str] = _FRAMING) -> Headers:
    headers = Headers()
    for name, value in capture.http_headers.headers if capture.http_headers is not None else []:
        if name.lower() not in dropped:
            headers.appendlist(_header_bytes(name), _header_bytes(value))
    return headers


def captured_at(capture: Capture) -> str | None:
    ts = warc_ts(capture.date)
    return iso_datetime(ts_datetime(ts)) if ts else None


def page_response(request: Request, read: ReadCapture, flags: list[str] | None = None) -> Response:
    """The capture as the HTTP client would have handed it to the middlewares."""
    capture = read.capture
    body = capture.payload
    if capture.http_headers is None:  # a resource record: its content type is the record's
        headers = Headers({"Content-Type": capture.warc_headers.get("Content-Type") or "application/octet-stream"})
    else:
        chunked = "chunked" in (capture.http_headers.get_header("Transfer-Encoding") or "").lower()
        body = dechunk(body) if chunked else body
        headers = http_headers(capture)
    flags = list(flags or [])
    if capture.truncated:  # the live crawl's flags for a body cut at the limit or by the connection
        flags.append("download_stopped" if capture.truncated == "length" else "dataloss")
    protocol = capture.http_headers.protocol if capture.http_headers is not None else None
    cls = responsetypes.from_args(headers=headers, url=request.url, body=body)
    return cls(url=request.url, status=capture.status or 200, headers=headers, body=body, flags=flags,
               request=request, protocol=protocol or "HTTP/1.1")


def dom_response(request: Request, rendering: Rendering) -> Response:
    """The archived DOM as scrapy-playwright answers a rendered page: the page's status and headers, the
    serialised DOM as the body (text, no content coding)."""
    dom, page = rendering.dom.capture, rendering.page
    headers = http_headers(page.capture, _DOM_DROPPED) if page is not None else Headers()
    headers["Content-Type"] = dom.warc_headers.get("Content-Type") or "text/html; charset=utf-8"
    status = (page.capture.status if page is not None else None) or 200
    cls = responsetypes.from_args(headers=headers, url=request.url, body=dom.payload)
    return cls(url=request.url, status=status, headers=headers, body=dom.payload, flags=["playwright"],
               request=request, protocol="HTTP/1.1")


@dataclass
class _Answer:
    found: Found
    rendering: Rendering | None = None


class ArchiveDownloadHandler(BaseDownloadHandler):
    """For http and https: answers from the archive of the run's plan; opens no connection, ever."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.lookup = archive_lookup(crawler)
        self.stats = crawler.stats

    def _answer(self, url: str, render: bool) -> _Answer:
        """In a thread: the rendering when asked for and archived, else the page's capture."""
        rendering = self.lookup.rendering(url) if render else None
        if rendering is not None:
            return _Answer(Found(rendering.dom, True, rendering.unreadable), rendering)
        return _Answer(self.lookup.page(url))

    async def download_request(self, request: Request) -> Response:
        render = bool(request.meta.get(FROM_DOM))
        answer = await run_in_thread(self._answer, request.url, render)
        found = answer.found
        for problem in found.unreadable:
            self._unreadable(problem)
        if found.capture is None:
            if found.archived:
                first = found.unreadable[0] if found.unreadable else None
                raise UnreadableCaptureError(f"no readable capture of {request.url}: {first}")
            self.stats.inc_value("reprocess/not-archived")
            raise NotArchivedError(f"{request.url} is not in the archive")
        self.stats.inc_value("reprocess/captures")
        if answer.rendering is not None:
            rendering = answer.rendering
            request.meta["warc"] = location(rendering.page or rendering.dom)
            request.meta[CONVERSION] = location(rendering.dom)
            request.meta[ARCHIVED_AT] = captured_at(rendering.dom.capture)
            self.stats.inc_value("reprocess/rendered-from-archive")
            return dom_response(request, rendering)
        request.meta["warc"] = location(found.capture)
        request.meta[ARCHIVED_AT] = captured_at(found.capture.capture)
        if found.capture.original is not None:
            self.stats.inc_value("reprocess/revisits")
        return page_response(request, found.capture, ["render-fallback"] if render else None)

    def _unreadable(self, problem: RecordError) -> None:
        self.stats.inc_value("reprocess/unreadable")
        logger.warning("unreadable capture in %s at offset %d: %s", problem.filename, problem.offset, problem.message)
