"""The verdict middleware on pages the analysis could not read: never a dead page."""

from __future__ import annotations

from typing import Any

from scrapy import Request
from scrapy.http import HtmlResponse

from crawler.analysis import PageAnalysis
from crawler.analyzer import PAGE, TOO_SLOW
from crawler.soft404.judge import VerdictMiddleware


def _classify(page: PageAnalysis | None) -> Any:
    request = Request("http://news.test/world/story-1.html", meta={PAGE: page} if page else {})
    response = HtmlResponse(request.url, body=b"<html></html>", headers={"Content-Type": "text/html"},
                            request=request)
    return VerdictMiddleware(crawler=None, probes=False, probe_ttl=1.0)._classify(request, response, page)  # type: ignore[arg-type]


def test_a_page_not_read_in_time_has_no_verdict_and_says_why() -> None:
    verdict = _classify(PageAnalysis(parsed=False, extract_error=TOO_SLOW))
    assert verdict.verdict is None and verdict.reasons == ["too-slow"]


def test_a_page_lxml_could_not_read_stays_alive() -> None:
    verdict = _classify(PageAnalysis(parsed=False))
    assert verdict.verdict == "ok" and verdict.reasons == ["unparsable"]
