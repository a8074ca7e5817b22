"""Second pipeline: the article item contract (DESIGN.md section 4) as a schema.

An item that fails is dropped with a reason (`<field>-<problem>`), counted in `pipelines/dropped/<reason>`
and written with its reason to the crawl's `dropped/` parts: never lost silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from scrapy.statscollectors import StatsCollector

from crawler.items import ArticleItem, item_record
from crawler.run import crawl_services

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))?$")


class ArticleContract(BaseModel):
    """What every stored article item must be."""

    model_config = ConfigDict(extra="ignore")

    url: str = Field(pattern=r"^https?://")
    canonical_url: str = Field(pattern=r"^https?://")
    site: str = Field(min_length=1)
    section: str | None
    title: str = Field(min_length=1)
    authors: list[str]
    published: str | None
    modified: str | None
    language: str | None = Field(pattern=r"^[a-z]{2,3}$")
    text: str = Field(min_length=1)
    summary: str | None
    tags: list[str]
    images: list[str]
    fetched_at: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
    crawl_id: str = Field(min_length=1)
    content_digest: str = Field(pattern=r"^sha1:[A-Z2-7]{32}$")
    simhash: str | None = Field(pattern=r"^[0-9a-f]{16}$")
    warc: dict[str, Any] | None

    @field_validator("published", "modified")
    @classmethod
    def _iso(cls, value: str | None) -> str | None:
        if value is not None and not ISO.match(value):
            raise ValueError("not ISO 8601")
        return value


def reason_of(error: ValidationError) -> str:
    """A short, stable reason code: `<field>-<problem>`."""
    first = error.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "item"
    kind = {"missing": "missing", "string_too_short": "empty", "string_pattern_mismatch": "malformed"}.get(
        first["type"], "invalid")
    return f"{field}-{kind}"


class Dropper:
    """Counts a dropped item and keeps it, with its reason, in the crawl's dropped/ parts."""

    def __init__(self, stats: StatsCollector, sink: Callable[[dict[str, Any]], None]) -> None:
        self.stats, self.sink = stats, sink

    @classmethod
    def of(cls, crawler: Crawler) -> Dropper:
        return cls(crawler.stats, crawl_services(crawler).archive.sink("dropped"))

    def __call__(self, item: ArticleItem, reason: str) -> None:
        self.stats.inc_value(f"pipelines/dropped/{reason}")
        self.sink({"reason": reason, **item_record(item)})


class ValidatePipeline:
    def __init__(self, drop: Dropper) -> None:
        self.drop = drop

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ValidatePipeline:
        return cls(Dropper.of(crawler))

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, ArticleItem):
            return item
        try:
            ArticleContract.model_validate(asdict(item))
        except ValidationError as exc:
            reason = reason_of(exc)
            self.drop(item, reason)
            raise DropItem(f"invalid article item {item.url}: {reason}") from None
        return item
