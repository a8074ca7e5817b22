"""Last pipeline: article items into `items/part-NNNNN.jsonl.gz` parts of the crawl's store."""

from __future__ import annotations

from typing import Any

from itemadapter import ItemAdapter
from scrapy.crawler import Crawler

from crawler.items import ArticleItem, item_record
from crawler.run import CrawlRun


class StorePipeline:
    """Appends each item to the crawl's item parts; parts reach the store when complete."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        record = item_record(item) if isinstance(item, ArticleItem) else ItemAdapter(item).asdict()
        CrawlRun.of(self.crawler).items.write(record)
        self.crawler.stats.inc_value("pipelines/stored")
        return item
