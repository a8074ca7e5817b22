"""The sample web three days later: deletions, moves, edits, soft-404s and new articles, as a crawl sees them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.crawling import CrawlResult, path_of, run_crawl
from tests.fixtureweb.process import FixtureWeb


@pytest.fixture(scope="module")
def later(tmp_path_factory: pytest.TempPathFactory) -> CrawlResult:
    with FixtureWeb(state=2) as web:
        result = run_crawl(web, tmp_path_factory.mktemp("state2") / "store", crawl_id="later")
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _by_path(result: CrawlResult) -> dict[str, dict[str, Any]]:
    return {path_of(str(e["url"])): e for e in result.log}


def test_new_articles_are_found(later: CrawlResult) -> None:
    stored = {path_of(i["url"]) for i in later.items}
    new = {c["path"] for c in later.web["changes"]["new"]}
    assert len(new) == 12
    live_js = {a["path"] for a in later.web["articles"] if a["routes"] == ["js"]}
    assert new - live_js <= stored


def test_deleted_articles_are_not_found(later: CrawlResult) -> None:
    log = _by_path(later)
    for change in later.web["changes"]["deleted"]:
        entry = log[change["path"]]
        assert entry["verdict"] == "not-found" and entry["status"] == change["status"]


def test_moved_articles_are_followed_to_their_new_url(later: CrawlResult) -> None:
    log = _by_path(later)
    items = {path_of(i["url"]): i for i in later.items}
    for move in later.web["changes"]["moved"]:
        assert move["new"] in items
        entry = log[move["old"]]
        if move["redirect"]:
            assert entry["redirects"] == [{"url": entry["url"], "status": 301}]
            assert path_of(str(entry["final_url"])) == move["new"]
        else:
            assert entry["status"] == 404


def test_edited_articles_carry_the_edit(later: CrawlResult) -> None:
    items = {path_of(i["url"]): i for i in later.items}
    articles = {a["path"]: a for a in later.web["articles"]}
    for change in later.web["changes"]["edited"]:
        item, art = items[change["path"]], articles[change["path"]]
        assert "Correction:" in item["text"] or "更正" in item["text"]
        if art["jsonld"] or art["id"] % 2:  # the page declares its modification time (JSON-LD or OpenGraph)
            assert item["modified"] and item["modified"] > item["published"]


def test_articles_replaced_by_soft_404s_are_judged_dead(later: CrawlResult) -> None:
    log = _by_path(later)
    stored = {path_of(i["url"]) for i in later.items}
    changes = later.web["changes"]["soft_deleted"]
    assert len(changes) == 3
    for change in changes:
        entry = log[change["path"]]
        assert entry["verdict"] == "soft-404", entry
        assert entry["reasons"][0] == {"error-template": "error-title", "redirect-home": "redirect-to-home"}[
            change["how"]]
        assert change["path"] not in stored
