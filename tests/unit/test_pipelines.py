"""Item pipelines on real pages: cleaning, the contract, duplicates linked rather than stored twice."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from scrapy.exceptions import DropItem
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler

from crawler.extract import extract_article
from crawler.items import ArticleItem
from pipelines.clean import CleanPipeline, canonical_url, split_authors
from pipelines.dedup import DedupPipeline
from pipelines.validate import Dropper, ValidatePipeline


def _stats() -> MemoryStatsCollector:
    return MemoryStatsCollector(get_crawler())


def _item(**fields: Any) -> ArticleItem:
    base: dict[str, Any] = dict(
        url="https://news.test/a/1.html", canonical_url="https://news.test/a/1.html", site="t", section=None,
        title="Council approves bridge", authors=[], published=None, modified=None, language="en",
        text="The council approved the plan.", summary=None, tags=[], images=[], fetched_at="2026-11-28T10:00:00Z",
        crawl_id="c", content_digest="sha1:" + "A" * 32, simhash="0123456789abcdef", warc=None)
    base.update(fields)
    return ArticleItem(**base)


def _real_item(shared_data: Path, index: int) -> ArticleItem:
    root = shared_data / "article-extraction-benchmark"
    truth = json.loads((root / "ground-truth.json").read_text())
    key = sorted(truth)[index]
    html = gzip.decompress((root / "html" / f"{key}.html.gz").read_bytes()).decode("utf-8")
    got = extract_article(html, truth[key]["url"])
    assert got is not None
    return _item(url=truth[key]["url"], canonical_url=got.canonical_url or truth[key]["url"], title=got.title or "",
                 authors=got.authors, published=got.published, modified=got.modified, language=got.language,
                 text=got.text, summary=got.summary, tags=got.tags, images=got.images,
                 content_digest=got.text_digest, simhash=got.text_simhash)


@pytest.mark.parametrize(("url", "expected"), [
    ("https://www.news.test/a/b?utm_source=tw&id=3&fbclid=xyz#comments", "https://www.news.test/a/b?id=3"),
    ("https://news.test/a?gclid=1&utm_medium=email&utm_campaign=x", "https://news.test/a"),
    ("https://news.test/a?b=2&a=1", "https://news.test/a?a=1&b=2"),
])
def test_tracking_parameters_are_stripped(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_real_pages_clean_into_valid_items(shared_data: Path) -> None:
    clean, validate = CleanPipeline(_stats()), ValidatePipeline(Dropper(_stats(), lambda record: None))
    for index in range(0, 40, 4):
        item = clean.process_item(_real_item(shared_data, index))
        assert validate.process_item(item) is item
        assert all(not a.lower().startswith("by ") for a in item.authors)
        assert item.canonical_url.startswith("http") and "utm_" not in item.canonical_url


def test_canonical_url_comes_from_the_page_when_on_the_same_site(shared_data: Path) -> None:
    item = _real_item(shared_data, 1)  # nytimes: rel=canonical without the query the crawl had
    assert item.canonical_url == "https://www.nytimes.com/2019/11/19/opinion/republicans-elections-impeachment.html"


@pytest.mark.parametrize(("value", "zone", "expected"), [
    ("2017-11-28 10:33", "Asia/Shanghai", "2017-11-28T02:33:00Z"),
    ("Tue, 28 Nov 2017 02:33:00 GMT", "Asia/Shanghai", "2017-11-28T02:33:00Z"),
    ("November 28, 2017 5:30 PM", "America/New_York", "2017-11-28T22:30:00Z"),
    ("2017-11-28T10:33:00+01:00", "UTC", "2017-11-28T09:33:00Z"),
    ("28 November 2017", "Asia/Shanghai", "2017-11-28"),  # a date stays a date: no midnight to shift
])
def test_dates_in_several_formats_and_zones(value: str, zone: str, expected: str) -> None:
    item = CleanPipeline(_stats(), zone).process_item(_item(published=value))
    assert item.published == expected


def test_text_fields_are_repaired_and_languages_detected() -> None:
    item = CleanPipeline(_stats()).process_item(_item(
        title="The councilâ€™s plan &amp; the bridge", language=None, summary="  Two\n lines ",
        text="国务院近日印发关于推进工业互联网发展的指导意见，提出到二〇二五年基本形成网络基础设施。"))
    assert item.title == "The council’s plan & the bridge" and item.summary == "Two lines"
    assert item.language == "zh" and "，" in item.text


def test_bylines_are_split_into_names() -> None:
    assert split_authors(["By Jane Doe and John Smith, Staff Writer", "jane doe", "desk@news.test"]) == [
        "Jane Doe", "John Smith"]
    assert split_authors(["作者：王芳、李强"]) == ["王芳", "李强"]


def test_invalid_items_are_dropped_counted_and_kept() -> None:
    stats, kept = _stats(), list[dict[str, Any]]()
    validate = ValidatePipeline(Dropper(stats, kept.append))
    for bad, reason in ((_item(title=""), "title-empty"), (_item(published="yesterday"), "published-invalid"),
                        (_item(url="ftp://x"), "url-malformed")):
        with pytest.raises(DropItem):
            validate.process_item(bad)
        assert stats.get_value(f"pipelines/dropped/{reason}") == 1
    assert [k["reason"] for k in kept] == ["title-empty", "published-invalid", "url-malformed"]


def test_a_syndicated_copy_is_linked_to_its_original(shared_data: Path) -> None:
    stats, kept = _stats(), list[dict[str, Any]]()
    dedup = DedupPipeline(Dropper(stats, kept.append))
    original = _real_item(shared_data, 3)
    copy = replace(original, url="https://partner.test/wire/1", canonical_url="https://partner.test/wire/1",
                   simhash=format(int(original.simhash or "0", 16) ^ 0b101, "016x"), content_digest="sha1:" + "B" * 32)
    other = _real_item(shared_data, 4)
    assert dedup.process_item(original).duplicate_of is None
    linked = dedup.process_item(copy)
    assert linked.duplicate_of == original.canonical_url and linked.text == ""
    assert dedup.process_item(other).duplicate_of is None
    with pytest.raises(DropItem):
        dedup.process_item(replace(original, url=original.url + "?utm_source=x"))
    assert [k["reason"] for k in kept] == ["duplicate-url"]
    assert stats.get_value("pipelines/linked_duplicates") == 1
