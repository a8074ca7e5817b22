"""The components `scrapy reprocess` swaps in: no browser, no network, host probes and renderings archived.

`ReprocessAddon` runs after the Palimpsest add-on (settings/base.py's ADDONS plus this one, added by the
command) and changes only what answering from the archive needs:
- the download handler for http and https is crawler/replayhandler.py's (set at command-line priority, so no
  spider or browser add-on can route a request to the network);
- archiving is off: nothing is written to a WARC, the crawl-log entries and items point at the archived records;
- the network guard is out: no connection is ever opened, and the archive's loopback or private addresses
  (the sample web's 127.0.0.1) are not the network's;
- the render decision is taken as live (`auto`), and a page it sends to the browser is answered from its
  archived DOM (`ArchivedRenderMiddleware` in place of crawler/render.py's `RenderMiddleware`);
- host probes ask for the probe URL the source crawl fetched for the same URL shape
  (`ArchivedVerdictMiddleware`), so the classifier meets the same answers as live.
"""

from __future__ import annotations

import logging
from functools import partial
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.settings import BaseSettings

from crawler.config import reprocess_config
from crawler.render import RENDER, RENDERABLE_KINDS, AutoRenderMiddleware
from crawler.replayhandler import CONVERSION, FROM_DOM, plan_of
from crawler.siteconfig import SiteConfig
from crawler.soft404.judge import VerdictMiddleware
from crawler.soft404.learned import as_judged
from crawler.soft404.probes import HostProbes, probe_url, shape_of

logger = logging.getLogger(__name__)

HANDLER = "crawler.replayhandler.ArchiveDownloadHandler"
REPLACED = {
    "crawler.guard.NetworkGuardMiddleware": None,
    "crawler.capture.WarcCaptureMiddleware": None,
    "crawler.render.AutoRenderMiddleware": None,
    "crawler.reprocessmw.ArchivedAutoRenderMiddleware": 62,
    "crawler.soft404.judge.VerdictMiddleware": None,
    "crawler.reprocessmw.ArchivedVerdictMiddleware": 64,
    "crawler.render.RenderMiddleware": None,
    "crawler.reprocessmw.ArchivedRenderMiddleware": 70,
}


class ReprocessAddon:
    """Enabled by `scrapy reprocess` after crawler.addon.PalimpsestAddon."""

    def update_settings(self, settings: BaseSettings) -> None:
        for scheme in ("http", "https"):
            settings["DOWNLOAD_HANDLERS"].set(scheme, HANDLER, priority="cmdline")
        # No network at all: the other schemes Scrapy can fetch (an archived ftp:// or s3:// link) are off,
        # as the network guard that would refuse them is (the archive answers http(s) only).
        for scheme in ("ftp", "s3", "file", "data"):
            settings["DOWNLOAD_HANDLERS"].set(scheme, None, priority="cmdline")
        for path, order in REPLACED.items():
            settings["DOWNLOADER_MIDDLEWARES"].set(path, order, priority="cmdline")
        concurrency = reprocess_config(settings).concurrency
        for key, value in (("ARCHIVE_ENABLED", False), ("RENDER_ENABLED", False), ("DOWNLOAD_DELAY", 0),
                           ("AUTOTHROTTLE_ENABLED", False), ("CONCURRENT_REQUESTS", concurrency),
                           ("CONCURRENT_REQUESTS_PER_DOMAIN", concurrency)):
            settings.set(key, value, priority="cmdline")


class ArchivedAutoRenderMiddleware(AutoRenderMiddleware):
    """The live render decision; a browser is always "available": renderings come from the archive."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.unavailable = None

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        """No static page is kept aside: the archive answers the rendering, no browser can fail on it."""
        again = self.review(request, response)
        return again if again is not None else response


class ArchivedRenderMiddleware:
    """Marks the requests the live crawl sent to Chromium (its `always` rules, the `auto` decision), so the
    handler answers them with the archived DOM; records in the `render` decision what answered."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchivedRenderMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        """As crawler/render.py's RenderMiddleware chooses, without the browser."""
        if request.meta.get("kind") not in RENDERABLE_KINDS:
            return
        site: SiteConfig | None = getattr(self.crawler.spider, "site", None)
        if site is None:
            return
        mode, rule = site.render_plan(request.url)
        if RENDER not in request.meta:
            if mode != "always":
                return
            request.meta[RENDER] = {"mode": "always", "reason": "rule" if rule else "site"}
        request.meta[FROM_DOM] = True
        self.crawler.stats.inc_value(f"render/pages/{request.meta[RENDER]['mode']}")

    def process_response(self, request: Request, response: Response) -> Response:
        if not request.meta.pop(FROM_DOM, False):
            return response
        decision = request.meta.get(RENDER) or {}
        if "playwright" in response.flags:
            decision.update(rendered=True, archived=True, conversion=request.meta.pop(CONVERSION, None))
        else:  # no DOM archived: the static page, as after a failed rendering
            decision.update(rendered=False, error="no rendering of the page in the archive")
            self.crawler.stats.inc_value("reprocess/render-not-archived")
        return response


class ArchivedProbes:
    """The probe URL for a page: the one the source crawl fetched for the page's URL shape, else one it
    fetched on the same host, else a made-up one (which is not archived: the probe fails, and the classifier
    goes on without it, as when a live probe fails)."""

    def __init__(self, by_shape: dict[tuple[str, str, str], str]) -> None:
        self.by_shape = by_shape
        self.by_host: dict[str, str] = {}
        for shape, url in sorted(by_shape.items()):
            self.by_host.setdefault(shape[0], url)

    def url_for(self, page_url: str) -> str:
        shape = shape_of(page_url)
        return self.by_shape.get(shape) or self.by_host.get(urlsplit(page_url).netloc.lower()) or probe_url(page_url)


class ArchivedVerdictMiddleware(VerdictMiddleware):
    """The verdict middleware, its host probes asking for archived probe URLs."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> VerdictMiddleware:
        mw = super().from_crawler(crawler)
        # Answers come from the archive, fetched when the source crawl ran: not fresh ones for later crawls.
        mw.record_probe, mw.learn_from = None, None
        if mw.probes is not None:
            plan = plan_of(crawler)
            mw.probes = HostProbes(mw._fetch_probe, mw.probes.ttl, ArchivedProbes(plan.probes).url_for)
            if plan.templates:  # answers the source crawls took from earlier ones: they archived no probe
                mw.learn_from = partial(as_judged, plan.templates)
        return mw
