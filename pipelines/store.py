"""Last pipeline: article items into `items/part-NNNNN.jsonl.gz` parts of the crawl's store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from itemadapter import ItemAdapter
from scrapy.crawler import Crawler

from crawler.items import ArticleItem, item_record
from crawler.run import crawl_services


class StorePipeline:
    """Appends each item to the crawl's item parts; parts reach the store when complete."""

    def __init__(self, crawler: Crawler, sink: Callable[[dict[str, Any]], None]) -> None:
        self.crawler, self.sink = crawler, sink

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        return cls(crawler, crawl_services(crawler).archive.sink("items"))

    def process_item(self, item: Any) -> Any:
        record = item_record(item) if isinstance(item, ArticleItem) else ItemAdapter(item).asdict()
        self.sink(record)  # written by the archive service's thread, in order
        self.crawler.stats.inc_value("pipelines/stored")
        return item
