"""The crawl log: exactly one entry per requested URL, whatever its fate (DESIGN.md section 4).

A downloader middleware placed on the engine side of Retry and Redirect sees each request's final outcome
once: the response after redirects were followed (with the chain in `redirect_urls`), or the exception after
retries ran out (robots.txt denials and offsite filtering included). A redirect whose target was already
crawled never comes back as a response: the scheduler drops it, and `request_dropped` logs it instead.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.http import Response

from crawler.analyzer import analysis_of, mime_of
from crawler.dates import iso_datetime
from crawler.fetch import redirect_chain, requested_url
from crawler.kinds import KINDS
from crawler.limits import REASONS as LIMIT_REASONS
from crawler.limits import noted
from crawler.render import RENDER
from crawler.run import crawl_services
from crawler.soft404.classify import redirect_verdict
from crawler.soft404.failures import from_exception
from crawler.soft404.judge import PROBE, VERDICT
from crawler.soft404.status import Verdict, from_status
from crawler.textutil import sha1_digest

logger = logging.getLogger(__name__)

# Metadata records get their own target URI, so replaying the page at its timestamp returns the page.
METADATA_URI = "urn:palimpsest:crawl-log:"
# request.meta: when the response was captured, for a response answered from the archive (`scrapy reprocess`);
# the entry's `fetched_at` is then the capture's date, not the time it was read back.
ARCHIVED_AT = "archived_at"


class CrawlLogMiddleware:
    """Downloader middleware writing one crawl-log entry per requested URL, with what the page analysis,
    the verdict and the render decision left in `request.meta`; the entry's metadata record goes beside the
    page's response in the WARC."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        services = crawl_services(crawler)
        self.identity, self.archive = services.identity, services.archive

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlLogMiddleware:
        mw = cls(crawler)
        crawler.signals.connect(mw.request_dropped, signal=signals.request_dropped)
        return mw

    async def process_response(self, request: Request, response: Response) -> Response:
        verdict: Verdict = request.meta.get(VERDICT) or from_status(response.status)
        entry = self._entry(request, verdict, response=response)
        page = analysis_of(request)
        outlinks: list[str] = []
        if page is not None and page.parsed:
            entry["title"], entry["simhash"], outlinks = page.title, page.simhash, page.outlinks
        self._over_limits(request, entry)
        request.meta["crawl_log"] = entry  # the spider and host probes read verdict and fingerprints here
        self._archive_entry(entry, outlinks)
        await self._put(entry)
        return response

    def _archive_entry(self, entry: dict[str, Any], outlinks: list[str]) -> None:
        """What we learned about the page as a metadata record beside its response, and in the CDXJ."""
        warc = entry["warc"]
        if not warc:
            return
        annotate = {"verdict": entry["verdict"], "reasons": entry["reasons"]} \
            if entry["verdict"] or entry["reasons"] else None
        fields = [("crawl-log-entry", json.dumps(entry, ensure_ascii=False, separators=(",", ":")))]
        fields += [("outlink", link) for link in outlinks]
        self.archive.metadata(METADATA_URI + str(entry["final_url"]), fields, warc["record_id"], datetime.now(UTC),
                              annotate)

    async def process_exception(self, request: Request, exception: Exception) -> None:
        # A failure that knows its own verdict (crawler/replayhandler.py: `not-archived`) brings it along.
        known = getattr(exception, "verdict", None)
        entry = self._entry(request, known if isinstance(known, Verdict) else from_exception(exception))
        entry["error"] = f"{type(exception).__name__}: {exception}"
        self._over_limits(request, entry)
        await self._put(entry)

    def _over_limits(self, request: Request, entry: dict[str, Any]) -> None:
        """One log line and a `limits/<reason>` count for each fetch that went past a limit or could not be
        read; for an `error`, what happened goes in the entry's `error` too."""
        hit = [reason for reason in entry["reasons"] if reason in LIMIT_REASONS]
        if not hit:
            return
        details = noted(request.meta)
        for reason in hit:
            self.stats.inc_value(f"limits/{reason}")
        said = "; ".join(f"{reason}: {details[reason]}" if details.get(reason) else reason for reason in hit)
        if entry["verdict"] == "error" and entry["error"] is None:
            entry["error"] = said
        logger.warning("%s: %s", entry["url"], said)

    def request_dropped(self, request: Request) -> None:
        """A redirect whose target the scheduler had already seen: log the original URL here."""
        if request.meta.get("redirect_urls"):
            moved = redirect_verdict(requested_url(request), request.url, redirected=True)
            verdict = Verdict(moved.verdict, [*moved.reasons, "redirect-to-seen-url"], moved.score) if moved \
                else Verdict(None, ["redirect-to-seen-url"])
            entry = self._entry(request, verdict)
            entry["final_url"] = request.url
            entry["status"] = entry["redirects"][-1]["status"]
            entry["warc"] = request.meta.get("warc")  # the last redirect hop's record
            self._write(entry)

    async def _put(self, entry: dict[str, Any]) -> None:
        """Waits for the writer (backpressure), so a killed crawl loses only entries still in flight. A
        part that cannot be written (disk full) is the archive's failure, counted there: the page goes on."""
        self._count(entry)
        try:
            await self.archive.put("log", entry)
        except Exception as exc:
            logger.error("crawl-log entry for %s not written: %s: %s", entry["url"], type(exc).__name__, exc)

    def _write(self, entry: dict[str, Any]) -> None:
        self._count(entry)
        self.archive.write("log", entry)

    def _count(self, entry: dict[str, Any]) -> None:
        self.stats.inc_value("crawllog/entries")
        self.stats.inc_value(f"crawllog/kind/{entry['kind']}")
        if entry["kind"] == "probe":
            self.stats.inc_value(f"soft404/probes/status/{entry['status']}")
        elif entry["verdict"]:
            self.stats.inc_value(f"soft404/verdict/{entry['verdict']}")

    def _entry(self, request: Request, verdict: Verdict, response: Response | None = None) -> dict[str, Any]:
        kind = request.meta.get("kind", "other")
        entry: dict[str, Any] = {
            "url": requested_url(request),
            "final_url": response.url if response is not None else None,
            "redirects": redirect_chain(request),
            "status": response.status if response is not None else None,
            "mime": mime_of(response) if response is not None else None,
            "fetched_at": request.meta.get(ARCHIVED_AT) or iso_datetime(datetime.now(UTC)),
            "verdict": verdict.verdict,
            "reasons": list(verdict.reasons),
            "score": verdict.score,
            "kind": kind if kind in KINDS else "other",
            "title": None,
            "content_digest": None,
            "simhash": None,
            "warc": None,
            "crawl_id": self.identity.crawl_id,
            "site": self.identity.site,
            "error": None,
            "render": request.meta.get(RENDER),
            "probe": request.meta.get(PROBE),
        }
        if response is not None:
            entry["content_digest"] = sha1_digest(response.body)
            entry["warc"] = request.meta.get("warc")  # set by the capture middleware
        return entry
