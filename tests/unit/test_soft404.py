"""The page classifier on the labelled corpus, the seed page in its three served forms, and real pages."""

from __future__ import annotations

import gzip
import tracemalloc
from pathlib import Path

import pytest

from crawler.extract import parse_html
from crawler.soft404.classify import RedirectSinks, classify_page, judge, redirect_verdict
from crawler.soft404.cues import error_cue
from crawler.soft404.features import Evidence, ProbeView, evidence_of
from crawler.soft404.page import read_page
from crawler.soft404.status import Verdict
from tests import seedpage
from tests.soft404corpus import Labelled, corpus


def classify(html: str | bytes) -> Verdict:
    tree = parse_html(html)
    assert tree is not None
    return classify_page(read_page(tree))


def _label(verdict: Verdict) -> str:
    return verdict.verdict or ("needs-render" if "needs-render" in verdict.reasons else "none")


@pytest.mark.parametrize("page", corpus(), ids=lambda p: p.name)
def test_labelled_corpus(page: Labelled) -> None:
    assert _label(classify(page.html)) == page.expect


def evidence(html: str | bytes, url: str = "") -> Evidence:
    tree = parse_html(html)
    assert tree is not None
    return evidence_of(read_page(tree), url)


@pytest.mark.parametrize(("style", "reasons"), [
    ("visible", ["article-evidence", "error-text-in-template"]),
    ("hidden", ["article-evidence"]),
])
def test_the_seed_page_is_alive_alone_and_beside_its_hosts_error_page(style: str, reasons: list[str]) -> None:
    """The site's error template (the page its host serves for a URL that cannot exist) is the probe."""
    template = ProbeView.of(evidence(seedpage.build("error-only")))
    page = evidence(seedpage.build(style), seedpage.URL)
    for verdict in (judge(page), judge(page, template)):
        assert (verdict.verdict, verdict.reasons) == ("ok", reasons)


def test_the_seed_sites_error_page_is_dead_beside_its_probe_answer() -> None:
    """On its own, an error heading in a template that live briefs carry too is not enough (the classifier
    never calls a page dead on that alone); beside the host's answer for a URL that cannot exist, it is."""
    page = evidence(seedpage.build("error-only"), seedpage.URL)
    verdict = judge(page, ProbeView.of(page))
    assert (verdict.verdict, verdict.reasons) == ("soft-404", ["error-text", "probe-match"])


def test_a_keyword_detector_would_call_the_seed_page_dead() -> None:
    """The reason the classifier weighs article evidence first: the live page carries the error text."""
    assert error_cue(seedpage.build("visible")) == "error-text"


def test_every_real_article_of_the_shared_benchmark_is_live(shared_data: Path) -> None:
    folder = shared_data / "article-extraction-benchmark" / "html"
    verdicts = {path.name: classify(gzip.decompress(path.read_bytes())) for path in sorted(folder.glob("*.gz"))}
    assert len(verdicts) == 181
    assert {name: v for name, v in verdicts.items() if v.verdict != "ok"} == {}


@pytest.mark.parametrize(("requested", "final", "reason"), [
    ("https://n.test/world/2026/11/20/story.html", "https://n.test/", "redirect-to-home"),
    ("https://n.test/world/2026/11/20/story.html", "https://www.n.test/", "redirect-to-home"),
    ("https://n.test/business/2026-10/07/content_1.htm", "https://n.test/business/", "redirect-to-section"),
    ("https://n.test/world/2026/11/20/story.html", "https://n.test/world/2026/11/21/story-updated.html", None),
    ("https://n.test/world/", "https://n.test/world/?page=1", None),
    ("https://n.test/a/story.html", "https://other.test/", None),
])
def test_where_a_redirect_led(requested: str, final: str, reason: str | None) -> None:
    verdict = redirect_verdict(requested, final, redirected=True)
    assert (verdict.reasons[0] if verdict else None) == reason


def test_a_target_many_urls_are_redirected_to_is_a_sink() -> None:
    sinks = RedirectSinks(threshold=3)
    target = "https://n.test/content-unavailable"
    assert not sinks.landed("https://n.test/a/1.html", target)
    assert not sinks.landed("https://n.test/a/1.html", target)  # the same URL again is not a second source
    assert not sinks.landed("https://n.test/a/2.html", target)
    assert sinks.landed("https://n.test/b/3.html", target)
    assert not sinks.landed("https://n.test/c/4.html", "https://n.test/c/4-moved.html")


def test_redirect_sinks_forget_the_least_recently_landed_target_first() -> None:
    sinks = RedirectSinks(threshold=2, max_targets=2)
    sink, other, third = "https://n.test/gone", "https://n.test/x-moved", "https://n.test/y-moved"
    assert not sinks.landed("https://n.test/a/1.html", sink)
    assert sinks.landed("https://n.test/a/2.html", sink)
    assert not sinks.landed("https://n.test/x", other)
    assert sinks.landed("https://n.test/a/3.html", sink)  # landed on again: now the most recent
    assert not sinks.landed("https://n.test/y", third)  # one target too many: `other` is forgotten
    assert sinks.landed("https://n.test/a/4.html", sink)
    assert not sinks.landed("https://n.test/x2", other)  # learnt from scratch: one source so far
    assert not sinks.landed("https://n.test/z", "https://n.test/z-moved")  # pushes out `sink`, now the oldest
    assert not sinks.landed("https://n.test/a/5.html", sink)  # forgotten, so one source again


# 1,000 targets x (target + 3 kept sources) of ~50-character URLs, with set and dict overhead, is about
# 1 KB a target; 2 MB leaves room (0.5 MB measured). Keeping every source, as before, took 27 MB here.
SINK_MEMORY_BOUND = 2_000_000


def test_redirect_sinks_hold_bounded_memory_however_many_redirects() -> None:
    sinks = RedirectSinks(threshold=3, max_targets=1000)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(100_000):  # a few busy sinks and a long tail of one-off targets
            target = f"https://n.test/sink-{i % 5}" if i % 2 else f"https://n.test/moved/{i}.html"
            sinks.landed(f"https://n.test/story/{i}.html", target)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < SINK_MEMORY_BOUND, f"{grown} bytes"
    assert all(sinks.landed("https://n.test/story/new.html", f"https://n.test/sink-{k}") for k in range(5))
