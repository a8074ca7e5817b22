"""The verdict middleware: what each final response means for the URL that was requested.

Ordered between the page analysis (which has read the page) and the render decision and crawl log (which
use the verdict), see crawler/addon.py. For a 2xx answer it weighs, in order: where the redirects led
(home page, a front above the URL, a redirect sink many URLs land on), what the page shows (the page
classifier's verdict, computed with the analysis), and for article pages the host's own answer for a URL
that cannot exist (a host probe, fetched through the downloader like any request, once per URL shape). The result
goes in `request.meta["page_verdict"]`; failures get theirs from the crawl log, which sees the exception.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.http.request import NO_CALLBACK

from crawler.analysis import HTML_TYPES, PageAnalysis
from crawler.analyzer import TOO_SLOW, analysis_of, mime_of
from crawler.config import audit_config, soft404_config
from crawler.distributed import Distributed, distributed_of
from crawler.fetch import requested_url
from crawler.kinds import ARTICLE_KINDS
from crawler.limits import DEAD, INCOMPLETE_HTML, UNREADABLE, limited, note, noted
from crawler.run import crawl_services
from crawler.soft404.classify import (
    RedirectSinks,
    built_nothing,
    judge,
    probed,
    redirect_verdict,
    template_view,
)
from crawler.soft404.features import Evidence
from crawler.soft404.learned import PART, Learned, learned_templates, probe_record
from crawler.soft404.probes import Fingerprint, HostProbes, same_landing, shape_of
from crawler.soft404.status import Verdict, from_status

logger = logging.getLogger(__name__)

VERDICT = "page_verdict"  # request.meta: the Verdict of the response
PROBE = "soft404_probe"  # request.meta: the probe URL whose answer the page was judged beside (the crawl log's)
LEARN_WAIT = 15.0  # seconds the first probe waits for the answers earlier crawls got (crawler/soft404/learned.py)


class VerdictMiddleware:
    """Sets `request.meta["page_verdict"]` for every response; probes hosts for doubtful article pages."""

    def __init__(self, crawler: Crawler, probes: bool, probe_ttl: float,
                 shared: Distributed | None = None) -> None:
        self.crawler = crawler
        self.sinks = RedirectSinks()
        # A distributed crawl's workers share probe answers and redirect counts (crawler/sharedstate.py).
        self.shared_sinks = shared.sinks if shared is not None else None
        fetch = shared.probes.wrap(self._fetch_probe, shape_of) if shared is not None else self._fetch_probe
        self.probes = HostProbes(fetch, probe_ttl) if probes else None
        # What earlier crawls learned of the site's hosts, read once before the first probe (None: probe),
        # and where this crawl writes the answers it judges pages with (its `probes` part).
        self.learn_from: Callable[[], list[Learned]] | None = None
        self.record_probe: Callable[[dict[str, Any]], None] | None = None
        self.crawl_id = ""
        self._learned_gate: asyncio.Future[None] | None = None
        self._taken: dict[tuple[str, str, str], Learned] = {}  # answers taken, until a page is judged with one

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> VerdictMiddleware:
        config = soft404_config(crawler.settings)
        mw = cls(crawler, config.probes, config.probe_ttl, distributed_of(crawler))
        if config.probes:
            services = crawl_services(crawler)
            mw.crawl_id, mw.record_probe = services.identity.crawl_id, services.archive.sink(PART)
            if config.probe_reuse:
                catalog = audit_config(crawler.settings).catalog_path(services.store.uri)
                mw.learn_from = partial(learned_templates, catalog, services.store, services.identity.site,
                                        config.probe_ttl)
        return mw

    async def process_response(self, request: Request, response: Response) -> Response:
        request.meta.pop(PROBE, None)  # a page the browser rendered from this request is judged anew
        page = analysis_of(request)
        for reason, detail in (page.problems if page is not None else {}).items():
            note(request.meta, reason, detail)  # beside what the download met, for the crawl log's line
        problems = noted(request.meta)
        verdict = from_status(response.status)
        # What could not be read whole is not judged (nor probed): its verdict is `error` (crawler/limits.py).
        if 200 <= response.status < 300 and not UNREADABLE & set(problems):
            verdict = await self._judge(request, response, page)
            if verdict.verdict in DEAD and page is not None and not page.complete:
                problems[INCOMPLETE_HTML] = "the HTML ends before its </body> and </html>: not read as dead"
        verdict = limited(verdict, problems)
        if "download_stopped" in response.flags:
            verdict = Verdict(verdict.verdict, [*verdict.reasons, "truncated"], verdict.score)
        request.meta[VERDICT] = verdict
        return response

    async def _judge(self, request: Request, response: Response, page: PageAnalysis | None) -> Verdict:
        sink = None
        if self.shared_sinks is not None and request.meta.get("redirect_urls"):
            sink = await self.shared_sinks.landed(requested_url(request), response.url)
        verdict = self._classify(request, response, page, sink)
        if "playwright" in response.flags and "needs-render" in verdict.reasons:  # the browser built nothing
            return built_nothing(page.evidence if page is not None else None)
        # Article pages judged on what they show are compared with their host's answer for a URL that cannot
        # exist. Not shells nor the pages a browser built from them: on a single-page-app host the probe gets
        # the same shell, no evidence either way.
        if self.probes is not None and request.meta.get("kind") in ARTICLE_KINDS and page is not None \
                and page.evidence is not None and verdict is page.verdict and probed(verdict) \
                and "playwright" not in response.flags:
            verdict = await self._with_probe(request, response, page.evidence, verdict)
        return verdict

    def _classify(self, request: Request, response: Response, page: PageAnalysis | None,
                  sink: bool | None = None) -> Verdict:
        """Where the redirects led, then what the page shows (crawler/soft404/classify.py). `sink`: what the
        workers of a distributed crawl counted together (None: count here)."""
        asked, redirected = requested_url(request), bool(request.meta.get("redirect_urls"))
        moved = redirect_verdict(asked, response.url, redirected)
        if moved is not None:
            return moved
        if redirected and (sink if sink is not None else self.sinks.landed(asked, response.url)):
            return Verdict("soft-404", ["redirect-sink"], 0.85)
        if page is not None and page.extract_error == TOO_SLOW:
            return Verdict(None, [TOO_SLOW])  # not read: no evidence either way, never a dead page
        if page is None or not page.parsed or page.verdict is None:
            reason = "not-html" if mime_of(response) not in HTML_TYPES else "unparsable"
            return Verdict("ok", [reason], 0.1)
        return page.verdict

    async def _with_probe(self, request: Request, response: Response, evidence: Evidence,
                          verdict: Verdict) -> Verdict:
        """The page judged again beside its host's answer for a URL that cannot exist: a page that landed where
        that answer did is the host's error page; a page of a host that answers 2xx is judged on what it
        shows beyond the host's template (crawler/soft404/classify.py)."""
        assert self.probes is not None
        if self.learn_from is not None:
            await self._learned()
        probe = await self.probes.fingerprint(requested_url(request))
        if self._taken:
            self._used(requested_url(request), probe)
        if not probe.soft:
            return verdict  # an honest host (404 for unknown URLs), or no answer: the page alone decides
        # A wall stays a wall where it landed: a host may send protected and unknown URLs alike to /login.
        landed = same_landing({"redirects": request.meta.get("redirect_urls"), "final_url": response.url}, probe)
        if landed and verdict.verdict != "blocked":
            request.meta[PROBE] = probe.url  # the host's answer this page was judged by
            return Verdict("soft-404", [*(r for r in verdict.reasons if r != "content"), "probe-match"],
                           max(verdict.score or 0.0, 0.95))
        if probe.redirected or probe.view is None:
            return verdict  # the answer is where the host sends lost URLs (its home page...), not a template
        request.meta[PROBE] = probe.url
        return judge(evidence, probe.view)

    async def _learned(self) -> None:
        """The answers earlier crawls got, taken before the first probe. The pages that need a probe meanwhile
        wait with it, all of them at most LEARN_WAIT seconds in all; then probes are fetched, and what is read
        later only fills shapes not probed yet."""
        if self._learned_gate is None:
            self._learned_gate = asyncio.ensure_future(self._wait_learning())
        if not self._learned_gate.done():
            await asyncio.shield(self._learned_gate)

    async def _wait_learning(self) -> None:
        learning = asyncio.ensure_future(self._learn())
        try:
            await asyncio.wait_for(asyncio.shield(learning), LEARN_WAIT)
        except TimeoutError:
            logger.warning("host probes: earlier crawls' answers not read within %.0f s; probing meanwhile", LEARN_WAIT)

    async def _learn(self) -> None:
        assert self.learn_from is not None and self.probes is not None
        try:
            learned = await asyncio.to_thread(self.learn_from)
            self._taken.update((shape_of(item.url), item) for item in learned
                               if self.probes.learn(item.url, item.fingerprint))
        except Exception as exc:  # reuse saves probes: a failure here costs probes, never the crawl
            logger.warning("host probes: earlier crawls' answers not read (%s: %s)", type(exc).__name__, exc)
            return
        if self._taken:
            logger.info("host probes: %d answers of earlier crawls taken (%s)", len(self._taken),
                        ", ".join(sorted({item.crawl_id for item in self._taken.values()})))

    def _used(self, url: str, probe: Fingerprint) -> None:
        """A page is judged with an answer an earlier crawl got: it goes into this crawl's probes part (once),
        as if this crawl had asked, so a re-run judges with it and later crawls find it."""
        shape = shape_of(url)
        item = self._taken.get(shape)
        if item is not None and item.fingerprint is probe:
            del self._taken[shape]
            self._record(item.url, item.fingerprint, item.crawl_id, reused=True)
            self.crawler.stats.inc_value("soft404/probes/reused")

    def _record(self, url: str, fingerprint: Fingerprint, crawl_id: str, reused: bool = False) -> None:
        if self.record_probe is not None and fingerprint.status is not None:
            self.record_probe(probe_record(url, fingerprint, crawl_id, reused))

    async def _fetch_probe(self, url: str) -> Fingerprint:
        """Fetch a probe through the normal downloader; its crawl-log entry carries what we need."""
        request = Request(url, meta={"kind": "probe"}, dont_filter=True, callback=NO_CALLBACK)
        try:
            response = await self.crawler.engine.download_async(request)
        except Exception:  # robots.txt denial, network failure: no evidence about the host either way
            self.crawler.stats.inc_value("soft404/probes/failed")
            return Fingerprint(None, None, False, None, None, time.monotonic(), url=url)
        entry = response.request.meta.get("crawl_log") if response.request is not None else None
        answer = analysis_of(response.request) if response.request is not None else None
        view = template_view(answer.evidence) if answer is not None and answer.evidence is not None else None
        fingerprint = Fingerprint.from_entry({**(entry or {}), "url": url}, view)
        self._record(url, fingerprint, self.crawl_id)
        return fingerprint
