"""Which archived capture answers a request of `scrapy reprocess`, read from its record.

Blocking (SQLite, file and store reads): the download handler calls it in a thread. Problems are returned,
not counted here, so that stats and log lines are written on the reactor.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archive.captureindex import CaptureIndex, CaptureRow, ts_datetime
from archive.records import ReadCapture, RecordError, RecordReader
from archive.store import Store
from crawler.render import DOM_URI

MAX_TRIES = 4  # captures of one URL tried, nearest first, before it counts as unreadable
PAGE_RECORD_TRIES = 4  # captures read to find the page record a rendered DOM refers to


@dataclass
class Found:
    """What answers one request: the capture (None when nothing could be read) and the records that failed."""

    capture: ReadCapture | None
    archived: bool  # some capture of the URL is in the sources
    unreadable: list[RecordError] = field(default_factory=list)


@dataclass
class Rendering:
    """An archived rendering: the DOM (conversion record) and the page record it refers to, when found."""

    dom: ReadCapture
    page: ReadCapture | None
    unreadable: list[RecordError] = field(default_factory=list)


class ArchiveLookup:
    """Captures of the sources only, each URL's nearest to `at` first; revisits resolved across the index."""

    def __init__(self, index: CaptureIndex, store: Store | None, sources: list[str], at: str) -> None:
        self.index = index
        self.reader = RecordReader(index, store)
        self.sources = set(sources)
        self.target = ts_datetime(at).timestamp()

    def _nearest_first(self, rows: list[CaptureRow], target: float | None = None) -> list[CaptureRow]:
        moment = self.target if target is None else target
        mine = [r for r in rows if r.source in self.sources]
        # HTTP responses and revisits before resources (a foreign archive's page as a `resource` record)
        return sorted(mine, key=lambda r: (r.status is None and not r.is_revisit,
                                           abs(r.moment.timestamp() - moment), r.moment.timestamp()))

    def _candidates(self, url: str) -> list[CaptureRow]:
        return self._nearest_first([r for r in self.index.captures(url) if r.url.startswith(("http://", "https://"))])

    def page(self, url: str) -> Found:
        """The nearest readable capture of `url`; the unreadable ones tried before it."""
        rows = self._candidates(url)
        found = Found(None, bool(rows))
        for row in rows[:MAX_TRIES]:
            try:
                found.capture = self.reader.read(row)
                return found
            except RecordError as exc:
                found.unreadable.append(exc)
        return found

    def rendering(self, url: str) -> Rendering | None:
        """The archived DOM of `url` (`urn:dom:URL`) nearest to `at`, with the page response it refers to."""
        rows = self._nearest_first(self.index.captures(DOM_URI + url))
        unreadable: list[RecordError] = []
        for row in rows[:MAX_TRIES]:
            try:
                dom = self.reader.read(row)
            except RecordError as exc:
                unreadable.append(exc)
                continue
            return Rendering(dom, self._page_record(url, dom, unreadable), unreadable)
        return None

    def _page_record(self, url: str, dom: ReadCapture, unreadable: list[RecordError]) -> ReadCapture | None:
        """The browser's response record the DOM refers to (`WARC-Refers-To`): status and headers of the
        rendered page, and what its crawl-log entry points at, as in the live crawl. A DOM deduplicated into a
        revisit refers to the original DOM instead: then the page record is the last capture written before
        the DOM (the browser's, after the static fetch)."""
        candidates = self._candidates(url)
        refers = None if dom.original is not None else dom.capture.warc_headers.get("WARC-Refers-To")
        if refers:
            for row in self._nearest_first(candidates, dom.row.moment.timestamp())[:PAGE_RECORD_TRIES]:
                try:
                    read = self.reader.read(row)
                except RecordError as exc:
                    unreadable.append(exc)
                    continue
                if read.capture.record_id == refers:
                    return read
        before = [r for r in candidates if r.ts <= dom.row.ts] or candidates
        for row in sorted(before, key=lambda r: (r.ts, r.filename == dom.row.filename, r.offset), reverse=True)[:2]:
            try:
                return self.reader.read(row)
            except RecordError as exc:
                unreadable.append(exc)
        return None
