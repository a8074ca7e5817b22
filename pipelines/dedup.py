"""Third pipeline: one story, stored once.

Within a crawl: a second item with the same canonical URL is dropped (reason `duplicate-url`, kept in
`dropped/`); an item whose text is the same (content digest) or nearly the same (simhash within
PIPELINE_NEAR_DUPLICATE_BITS) as an earlier one at another URL, a syndicated copy, is stored as a link:
`duplicate_of` names the first copy's canonical URL and its text is not stored again.
"""

from __future__ import annotations

from typing import Any

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from crawler.config import pipeline_config
from crawler.items import ArticleItem
from crawler.textutil import hamming
from pipelines.validate import Dropper

BANDS = 4  # simhash in 4 bands of 16 bits: copies at most 3 bits apart share a band (more bits: fewer found)


class DedupPipeline:
    def __init__(self, drop: Dropper, near_bits: int = 3) -> None:
        self.drop, self.near_bits = drop, near_bits
        self.urls: set[str] = set()
        self.digests: dict[str, str] = {}
        self.bands: dict[tuple[int, str], list[tuple[str, str]]] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DedupPipeline:
        return cls(Dropper.of(crawler), pipeline_config(crawler.settings).near_duplicate_bits)

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, ArticleItem):
            return item
        if item.canonical_url in self.urls:
            self.drop(item, "duplicate-url")
            raise DropItem(f"duplicate of {item.canonical_url}")
        self.urls.add(item.canonical_url)
        first = self.digests.get(item.content_digest) or self._near(item.simhash)
        if first is not None:
            item.duplicate_of, item.text = first, ""
            self.drop.stats.inc_value("pipelines/linked_duplicates")
            return item
        self.digests[item.content_digest] = item.canonical_url
        if item.simhash:
            for band in range(BANDS):
                key = (band, item.simhash[band * 4:(band + 1) * 4])
                self.bands.setdefault(key, []).append((item.simhash, item.canonical_url))
        return item

    def _near(self, simhash: str | None) -> str | None:
        if not simhash:
            return None
        for band in range(BANDS):
            for other, url in self.bands.get((band, simhash[band * 4:(band + 1) * 4]), []):
                if hamming(simhash, other) <= self.near_bits:
                    return url
        return None
