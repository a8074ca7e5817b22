"""The crawl log: exactly one entry per requested URL, whatever its fate (DESIGN.md section 4).

A downloader middleware placed on the engine side of Retry and Redirect sees each request's final outcome
once: the response after redirects were followed (with the chain in `redirect_urls`), or the exception after
retries ran out (robots.txt denials and offsite filtering included). A redirect whose target was already
crawled never comes back as a response: the scheduler drops it, and `request_dropped` logs it instead.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from lxml.html import HtmlElement
from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.http.request import NO_CALLBACK

from archive.cdxj import media_type
from crawler.config import soft404_config
from crawler.dates import iso_datetime
from crawler.extract import parse_html
from crawler.render import RENDER, AutoRender
from crawler.run import CrawlRun
from crawler.soft404.classify import RedirectSinks, classify_page, redirect_verdict
from crawler.soft404.page import read_page
from crawler.soft404.probes import Fingerprint, HostProbes, matches
from crawler.soft404.status import Verdict, from_exception, from_status
from crawler.textutil import sha1_digest, simhash

logger = logging.getLogger(__name__)

KINDS = ("section", "article", "feed", "sitemap", "probe", "other")
HTML_TYPES = ("text/html", "application/xhtml+xml")
# Metadata records get their own target URI, so replaying the page at its timestamp returns the page.
METADATA_URI = "urn:palimpsest:crawl-log:"
_INVISIBLE = "ancestor::script or ancestor::style or ancestor::noscript or ancestor::template"


def requested_url(request: Request) -> str:
    """The URL first asked for, before any redirect."""
    chain = request.meta.get("redirect_urls")
    return str(chain[0]) if chain else request.url


def redirect_chain(request: Request) -> list[dict[str, Any]]:
    """[{url, status}] for every hop that redirected; status is None for a meta refresh."""
    urls = request.meta.get("redirect_urls") or []
    reasons = request.meta.get("redirect_reasons") or []
    return [{"url": url, "status": reason if isinstance(reason, int) else None}
            for url, reason in zip(urls, reasons, strict=False)]


def mime_of(response: Response) -> str | None:
    value = response.headers.get(b"Content-Type")
    found = media_type(value.decode("latin-1") if value else None)
    return found.lower() if found else None


def page_text(tree: HtmlElement) -> str:
    """Visible text of a page (scripts, styles and templates left out)."""
    return " ".join(t.strip() for t in tree.xpath(f"//body//text()[not({_INVISIBLE})]") if t.strip())


def page_links(tree: HtmlElement, base: str) -> list[str]:
    """Absolute http(s) targets of the page's links and embeds, in document order, without repeats."""
    seen: dict[str, None] = {}
    for href in tree.xpath("//a/@href | //link/@href | //img/@src | //script/@src | //iframe/@src"):
        url = urljoin(base, href.strip()).split("#", 1)[0]
        if url.startswith(("http://", "https://")):
            seen.setdefault(url, None)
    return list(seen)


def page_title(tree: HtmlElement) -> str | None:
    titles = tree.xpath("//title/text()")
    return " ".join(titles[0].split()) if titles else None


class CrawlLogMiddleware:
    """Downloader middleware writing one crawl-log entry per requested URL into the CrawlRun's log."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self._run: CrawlRun | None = None
        self.sinks = RedirectSinks()
        config = soft404_config(crawler.settings)
        self.probes = HostProbes(self._fetch_probe, config.probe_ttl) if config.probes else None
        self.auto_render = AutoRender(crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlLogMiddleware:
        mw = cls(crawler)
        crawler.signals.connect(mw.request_dropped, signal=signals.request_dropped)
        return mw

    @property
    def run(self) -> CrawlRun:
        if self._run is None:
            self._run = CrawlRun.of(self.crawler)
        return self._run

    async def process_response(self, request: Request, response: Response) -> Response | Request:
        verdict = from_status(response.status)
        entry = self._entry(request, verdict, response=response)
        outlinks: list[str] = []
        tree = parse_html(response.body) if entry["mime"] in HTML_TYPES else None
        if tree is not None:
            entry["title"], entry["simhash"] = page_title(tree), simhash(page_text(tree))
            outlinks = page_links(tree, response.url)
        if 200 <= response.status < 300:
            verdict = self._classify(entry, tree)
            if "playwright" in response.flags and "needs-render" in verdict.reasons:
                verdict = Verdict("soft-404", ["empty-content", "rendered"], 0.8)  # the browser built nothing
            # A shell is no evidence either way: on a single-page-app host the probe gets the same shell.
            if self.probes is not None and entry["kind"] == "article" and \
                    not {"article-evidence", "needs-render"} & set(verdict.reasons):
                verdict = await self._with_probe(entry, verdict)
            entry.update(verdict=verdict.verdict, reasons=list(verdict.reasons), score=verdict.score)
            again = self.auto_render.review(request, response, entry, tree, entry["reasons"])
            if again is not None:
                return again  # through the browser; the entry is written for the rendered page
        if "download_stopped" in response.flags:
            entry["reasons"].append("truncated")  # cut at DOWNLOAD_MAXSIZE; archived as truncated
        request.meta["crawl_log"] = entry  # the spider and pipelines read verdict and fingerprints from here
        self._write(entry)
        self._archive_entry(entry, outlinks)
        return response

    async def _with_probe(self, entry: dict[str, Any], verdict: Verdict) -> Verdict:
        """A page that looks like the host's answer for a URL that cannot exist is that host's error page."""
        assert self.probes is not None
        probe = await self.probes.fingerprint(entry["url"])
        if not matches(entry, probe):
            return verdict
        reasons = [r for r in verdict.reasons if r != "content"] + ["probe-match"]
        return Verdict("soft-404", reasons, max(verdict.score or 0.0, 0.95))

    async def _fetch_probe(self, url: str) -> Fingerprint:
        """Fetch a probe through the normal downloader; its log entry carries what we need."""
        request = Request(url, meta={"kind": "probe"}, dont_filter=True, callback=NO_CALLBACK)
        try:
            response = await self.crawler.engine.download_async(request)
        except Exception:  # robots.txt denial, network failure: no evidence about the host either way
            self.stats.inc_value("soft404/probes/failed")
            return Fingerprint(None, None, False, None, None, time.monotonic())
        entry = response.request.meta.get("crawl_log") if response.request is not None else None
        return Fingerprint.from_entry(entry or {})

    def _classify(self, entry: dict[str, Any], tree: HtmlElement | None) -> Verdict:
        """A 2xx answer: where the redirects led, then what the page shows (crawler/soft404)."""
        moved = redirect_verdict(entry["url"], entry["final_url"], bool(entry["redirects"]))
        if moved is not None:
            return moved
        if entry["redirects"] and self.sinks.landed(entry["url"], entry["final_url"]):
            return Verdict("soft-404", ["redirect-sink"], 0.85)
        if tree is None:
            return Verdict("ok", ["not-html"] if entry["mime"] not in HTML_TYPES else ["unparsable"], 0.1)
        return classify_page(read_page(tree))

    def _archive_entry(self, entry: dict[str, Any], outlinks: list[str]) -> None:
        """What we learned about the page as a metadata record beside its response, and in the CDXJ."""
        archiver, warc = self.run.archiver, entry["warc"]
        if archiver is None or not warc:
            return
        if entry["verdict"] or entry["reasons"]:
            archiver.writer.annotate(warc["record_id"], {"verdict": entry["verdict"], "reasons": entry["reasons"]})
        fields = [("crawl-log-entry", json.dumps(entry, ensure_ascii=False, separators=(",", ":")))]
        fields += [("outlink", link) for link in outlinks]
        archiver.metadata(METADATA_URI + str(entry["final_url"]), fields, refers_to_id=warc["record_id"],
                          date=datetime.now(UTC))

    def process_exception(self, request: Request, exception: Exception) -> None:
        entry = self._entry(request, from_exception(exception))
        entry["error"] = f"{type(exception).__name__}: {exception}"
        self._write(entry)

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

    def _write(self, entry: dict[str, Any]) -> None:
        self.run.log.write(entry)
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
            "fetched_at": iso_datetime(datetime.now(UTC)),
            "verdict": verdict.verdict,
            "reasons": list(verdict.reasons),
            "score": verdict.score,
            "kind": kind if kind in KINDS else "other",
            "title": None,
            "content_digest": None,
            "simhash": None,
            "warc": None,
            "crawl_id": self.run.crawl_id,
            "site": self.run.site,
            "error": None,
            "render": request.meta.get(RENDER),
        }
        if response is not None:
            entry["content_digest"] = sha1_digest(response.body)
            entry["warc"] = request.meta.get("warc")  # set by the capture middleware
        return entry
