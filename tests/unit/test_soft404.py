"""The page classifier on the labelled corpus, the seed page in its three served forms, and real pages."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from crawler.extract import parse_html
from crawler.soft404.classify import RedirectSinks, classify_page, redirect_verdict
from crawler.soft404.cues import error_cue
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


@pytest.mark.parametrize(("style", "verdict", "reasons"), [
    ("visible", "ok", ["article-evidence", "error-text-in-template"]),
    ("hidden", "ok", ["article-evidence"]),
    ("error-only", "soft-404", ["error-text"]),
])
def test_seed_page_in_its_served_forms(style: str, verdict: str, reasons: list[str]) -> None:
    result = classify(seedpage.build(style))
    assert (result.verdict, result.reasons) == (verdict, reasons)


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
