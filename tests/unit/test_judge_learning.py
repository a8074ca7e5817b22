"""The verdict middleware's use of answers earlier crawls got (crawler/soft404/judge.py): taken once before
the first probe, waited for at most LEARN_WAIT in all, a failure costing probes only, and an answer written
into this crawl's probes part once, when a page is judged with it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from typing import Any

import pytest
import pytest_twisted
from scrapy import Request
from scrapy.http import HtmlResponse

from crawler.extract import parse_html
from crawler.soft404 import judge
from crawler.soft404.features import evidence_of
from crawler.soft404.judge import VerdictMiddleware
from crawler.soft404.learned import Learned
from crawler.soft404.page import read_page
from crawler.soft404.probes import Fingerprint
from crawler.soft404.status import Verdict
from tests.asyncio_helpers import on_asyncio

PAGE = "https://n.test/world/2026/11/20/a-story.html"


class _Crawler:
    """What the middleware asks of a crawler here: its stats."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.stats = self

    def inc_value(self, key: str, count: int = 1) -> None:
        self.counts[key] += count


def _middleware(learn: Any) -> tuple[VerdictMiddleware, list[dict[str, Any]], list[str]]:
    mw = VerdictMiddleware(crawler=_Crawler(), probes=True, probe_ttl=3600)  # type: ignore[arg-type]
    fetched: list[str] = []

    async def fetch(url: str) -> Fingerprint:
        fetched.append(url)
        return Fingerprint(404, url, False, None, None, time.monotonic())

    assert mw.probes is not None
    mw.probes.fetch = fetch
    recorded: list[dict[str, Any]] = []
    mw.record_probe, mw.learn_from, mw.crawl_id = recorded.append, learn, "this"
    return mw, recorded, fetched


@pytest_twisted.ensureDeferred  # type: ignore[untyped-decorator]
async def test_a_taken_answer_saves_the_probe_and_is_recorded_once_when_used() -> None:
    answer = Fingerprint(200, None, False, "Not found", None, time.monotonic() - 60)
    mw, recorded, fetched = _middleware(lambda: [Learned("https://n.test/world/2026/01/01/xyzxyz.html", answer, "old")])

    async def pages() -> list[Fingerprint]:
        assert mw.probes is not None
        found = []
        for _ in range(3):
            await mw._learned()
            probe = await mw.probes.fingerprint(PAGE)
            mw._used(PAGE, probe)
            found.append(probe)
        return found

    found = await on_asyncio(pages())
    assert fetched == [] and all(f is answer for f in found)
    assert [(r["crawl_id"], r["reused"], r["status"]) for r in recorded] == [("old", True, 200)]
    assert mw.crawler.counts["soft404/probes/reused"] == 1  # type: ignore[attr-defined]


@pytest_twisted.ensureDeferred  # type: ignore[untyped-decorator]
async def test_pages_wait_once_at_most_learn_wait_and_a_failure_costs_only_probes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(judge, "LEARN_WAIT", 0.2)
    release = threading.Event()

    def slow() -> list[Learned]:
        release.wait(10)
        return []

    mw, _, fetched = _middleware(slow)

    async def pages() -> tuple[float, float]:
        start = time.monotonic()
        await asyncio.gather(*(mw._learned() for _ in range(5)))  # five pages wait together, once
        first = time.monotonic() - start
        start = time.monotonic()
        await mw._learned()  # later pages do not wait again
        return first, time.monotonic() - start

    first, later = await on_asyncio(pages())
    release.set()
    assert 0.15 < first < 5 and later < 1 and fetched == []  # later: no wait at all (no suspension)

    def broken() -> list[Learned]:
        raise RuntimeError("store on fire")

    mw, recorded, _ = _middleware(broken)
    await on_asyncio(mw._learned())  # logged, not raised
    assert recorded == []


@pytest_twisted.ensureDeferred  # type: ignore[untyped-decorator]
async def test_a_wall_that_landed_where_the_probe_landed_stays_a_wall() -> None:
    """A host may send protected and unknown URLs alike to its sign-in page: landing there makes a page its
    error page, unless the page is a wall, which is what it says it is."""
    mw, _, _ = _middleware(lambda: [])
    landing = "https://n.test/login?next=x"

    async def fetch(url: str) -> Fingerprint:
        return Fingerprint(200, landing, True, "Sign in", None, time.monotonic())

    assert mw.probes is not None
    mw.probes.fetch = fetch
    request = Request(landing, meta={"redirect_urls": [PAGE], "kind": "article"})
    response = HtmlResponse(landing, body=b"<html><body><h1>Sign in</h1></body></html>", request=request)
    tree = parse_html("<html><head><title>Sign in</title></head><body><h1>Sign in</h1><p>Ingia.</p></body></html>")
    assert tree is not None
    evidence = evidence_of(read_page(tree), landing)
    wall = Verdict("blocked", ["login-form"], 0.2)
    alive = Verdict("ok", ["content"], 0.3)
    assert await on_asyncio(mw._with_probe(request, response, evidence, wall)) == wall
    landed = await on_asyncio(mw._with_probe(request, response, evidence, alive))
    assert landed.verdict == "soft-404" and "probe-match" in landed.reasons
