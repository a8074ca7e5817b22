"""Article page -> ArticleItem: extraction plus the crawl's own stamps (site, crawl id, fingerprints)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy.http import Response

from crawler.dates import iso_datetime
from crawler.extract import Extracted
from crawler.items import ArticleItem
from crawler.run import crawl_services

if TYPE_CHECKING:
    from crawler.spiders.news import NewsSpider


def _same_site(url: str, other: str) -> bool:
    host, other_host = urlsplit(url).hostname or "", urlsplit(other).hostname or ""
    return host.removeprefix("www.") == other_host.removeprefix("www.")


def build_item(spider: NewsSpider, response: Response, entry: dict[str, Any],
               extracted: Extracted | None) -> ArticleItem | None:
    """The article item for one fetched page (extracted by the page analysis), or None when the page has no
    article text."""
    if extracted is None:
        return None
    run = crawl_services(spider.crawler).identity
    canonical = extracted.canonical_url
    if not canonical or not _same_site(canonical, response.url):
        canonical = response.url  # a canonical pointing off-site is a syndication hint, not our URL
    return ArticleItem(
        url=response.url,
        canonical_url=canonical,
        site=run.site,
        # The section front that linked it, else what the page says, else the section whose directory holds it:
        # an article reached first through a feed or a sitemap gets the section its front would have given.
        section=response.meta.get("section") or extracted.section or spider.site.section_of(response.url),
        title=extracted.title or entry.get("title") or "",
        authors=extracted.authors,
        published=extracted.published,
        modified=extracted.modified,
        language=extracted.language or spider.site.language or extracted.detected_language,
        text=extracted.text,
        summary=extracted.summary,
        tags=extracted.tags,
        images=extracted.images,
        fetched_at=entry.get("fetched_at") or iso_datetime(datetime.now(UTC)),
        crawl_id=run.crawl_id,
        content_digest=extracted.text_digest,
        simhash=extracted.text_simhash,
        # A rendered page's text comes from its DOM (the conversion record), not the HTML the server sent.
        warc=(entry.get("render") or {}).get("conversion") or entry.get("warc"),
    )
