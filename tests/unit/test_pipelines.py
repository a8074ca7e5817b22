"""Item pipelines on real pages: cleaning, the contract, duplicates linked rather than stored twice."""

from __future__ import annotations

import _sqlite3
import ctypes
import gc
import gzip
import itertools
import json
import random
import tracemalloc
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from scrapy.exceptions import DropItem
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler

from crawler.extract import extract_article
from crawler.items import ArticleItem
from crawler.textutil import hamming
from pipelines import dedup as dedup_module
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


def _stream(count: int, seed: int = 7) -> Iterator[ArticleItem]:
    """Synthetic items: new stories, repeated URLs, exact and near copies (1 to 5 bits off) of earlier ones."""
    rng = random.Random(seed)
    firsts: list[tuple[str, str, str]] = []  # (canonical url, digest, simhash) of earlier items
    for i in range(count):
        url, digest = f"https://news.test/{i % 97}/story-{i}.html", "sha1:" + format(i, "032d")
        simhash = format(rng.getrandbits(64), "016x")
        roll = rng.random()
        if firsts and roll < 0.05:
            url = rng.choice(firsts)[0]
        elif firsts and roll < 0.1:
            digest = rng.choice(firsts)[1]
        elif firsts and roll < 0.2:
            bits = rng.sample(range(64), rng.randint(1, 5))
            simhash = format(int(rng.choice(firsts)[2], 16) ^ sum(1 << b for b in bits), "016x")
        firsts.append((url, digest, simhash))
        if len(firsts) > 1000:
            firsts.pop(rng.randrange(len(firsts)))
        yield _item(url=url, canonical_url=url, content_digest=digest, simhash=simhash if i % 13 else None)


class _InMemoryDedup:
    """The dict-based pipeline this one replaced, as the reference for its decisions."""

    def __init__(self, near_bits: int = 3) -> None:
        self.near_bits, self.urls = near_bits, set[str]()
        self.digests: dict[str, str] = {}
        self.bands: dict[tuple[int, str], list[tuple[str, str]]] = {}

    def decide(self, item: ArticleItem) -> str | None:
        if item.canonical_url in self.urls:
            return "dropped"
        self.urls.add(item.canonical_url)
        first = self.digests.get(item.content_digest) or self._near(item.simhash)
        if first is not None:
            return first
        self.digests[item.content_digest] = item.canonical_url
        simhash = item.simhash or ""
        for band in range(4) if simhash else ():
            self.bands.setdefault((band, simhash[band * 4:(band + 1) * 4]), []).append((simhash, item.canonical_url))
        return None

    def _near(self, simhash: str | None) -> str | None:
        for band in range(4) if simhash else ():
            assert simhash is not None
            for other, url in self.bands.get((band, simhash[band * 4:(band + 1) * 4]), []):
                if hamming(simhash, other) <= self.near_bits:
                    return url
        return None


def _decide(dedup: DedupPipeline, item: ArticleItem) -> str | None:
    try:
        return dedup.process_item(item).duplicate_of  # type: ignore[no-any-return]
    except DropItem:
        return "dropped"


def test_dedup_decides_every_item_as_the_in_memory_version_did() -> None:
    dedup, reference = DedupPipeline(Dropper(_stats(), lambda record: None)), _InMemoryDedup()
    try:
        got = [_decide(dedup, item) for item in _stream(5000)]
    finally:
        dedup.close_spider()
    expected = [reference.decide(item) for item in _stream(5000)]
    assert got == expected
    assert sum(d == "dropped" for d in got) > 100 and sum(d not in (None, "dropped") for d in got) > 400


def test_a_crowded_band_costs_a_bounded_number_of_comparisons() -> None:
    """Stories from one template share band values far more than chance: the work per item stays bounded
    however many of them the crawl has seen, and a near copy is still linked through another band."""
    dedup, rng = DedupPipeline(Dropper(_stats(), lambda record: None)), random.Random(7)
    try:
        crowded = [f"aaaa{rng.getrandbits(48):012x}" for _ in range(500)]  # one band value, far apart elsewhere
        for n, simhash in enumerate(crowded):
            _decide(dedup, _item(url=f"https://n.test/{n}", canonical_url=f"https://n.test/{n}",
                                 content_digest=f"d{n}", simhash=simhash))
        parts = [f"aaaa{rng.getrandbits(48):012x}"[b * 4:(b + 1) * 4] for b in range(4)]
        assert len(dedup.db.execute(dedup_module._IN_BANDS, parts).fetchall()) <= 4 * dedup_module.BAND_CANDIDATES
        late = crowded[-1]
        near = format(int(late, 16) ^ 0b101, "016x")  # 2 bits from the last story, past the crowded band's cap
        found = _decide(dedup, _item(url="https://n.test/copy", canonical_url="https://n.test/copy",
                                     content_digest="copy", simhash=near))
    finally:
        dedup.close_spider()
    assert found == "https://n.test/499"


def _sqlite_memory() -> int:
    """Bytes SQLite has allocated (its own malloc, which tracemalloc does not see)."""
    used = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
    used.restype = ctypes.c_int64
    return int(used())


# Nothing is kept in memory per item: 16 bytes an item over 30,000 items is 480 KB of slack for allocator
# noise (under 1 byte an item measured). The dict-based version kept about 940 bytes an item of this stream
# (urls, digests, bands): 47 MB for 50,000 items.
DEDUP_BYTES_PER_ITEM = 16
MEASURED_ITEMS = 30_000  # after 10,000 that fill SQLite's page cache; tracing makes each item 4x slower


def test_dedup_memory_does_not_grow_with_the_crawl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dedup_module, "CACHE_KIB", 1024)  # a page cache the warm-up fills, so it is not counted
    dedup = DedupPipeline(Dropper(_stats(), lambda record: None))
    stream = _stream(10_000 + MEASURED_ITEMS)
    for item in itertools.islice(stream, 10_000):
        _decide(dedup, item)
    items = list(stream)  # made before tracing starts: only what the pipeline keeps is counted
    gc.collect()
    before = _sqlite_memory()
    tracemalloc.start()  # traces what is allocated from here on and still held at the end
    try:
        for item in items:
            _decide(dedup, item)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] + _sqlite_memory() - before
    finally:
        tracemalloc.stop()
        dedup.close_spider()
    measured = len(items)
    assert grown / measured < DEDUP_BYTES_PER_ITEM, f"{grown / measured:.0f} bytes an item"
