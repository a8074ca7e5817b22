"""The article item (DESIGN.md section 4): what leaves the crawler for the store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class ArticleItem:
    """One cleaned article. Dates are ISO 8601; text is NFC with paragraphs separated by blank lines.

    `content_digest` and `simhash` fingerprint the article text (not the page bytes), so an edit to the
    story changes them and a re-skinned page does not.
    """

    url: str
    canonical_url: str
    site: str
    section: str | None
    title: str
    authors: list[str]
    published: str | None
    modified: str | None
    language: str | None
    text: str
    summary: str | None
    tags: list[str]
    images: list[str]
    fetched_at: str
    crawl_id: str
    content_digest: str
    simhash: str | None
    warc: dict[str, Any] | None = None
    duplicate_of: str | None = None  # canonical URL of the first copy of this story in the crawl


ITEM_FIELDS = (
    "url", "canonical_url", "site", "section", "title", "authors", "published", "modified", "language", "text",
    "summary", "tags", "images", "fetched_at", "crawl_id", "content_digest", "simhash", "warc", "duplicate_of",
)


def item_record(item: ArticleItem) -> dict[str, Any]:
    """The item as the JSON object stored in items/part-*.jsonl.gz, fields in contract order."""
    return {name: getattr(item, name) for name in ITEM_FIELDS}
