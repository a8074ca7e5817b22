"""First pipeline: make every article item clean and comparable.

- text fields: mojibake repaired (ftfy, typographic quotes kept), HTML entities decoded, Unicode NFC,
  whitespace normalised (paragraphs of the text stay separated by blank lines);
- canonical URL: the page's rel=canonical / og:url when it is on the same site (chosen at extraction),
  tracking parameters removed, then w3lib's canonical form;
- authors: "By A and B", "A, B; C" split, bylines' "By" and roles dropped, duplicates removed;
- dates: ISO 8601 UTC, a date without a zone read in the site's time zone;
- language: detected from the text (crawler/language.py) when neither the page nor the site declares one and
  the page worker has not already detected it.
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Any
from zoneinfo import ZoneInfo

import ftfy
from scrapy.crawler import Crawler
from scrapy.statscollectors import StatsCollector
from w3lib.url import canonicalize_url, url_query_cleaner

from crawler.config import pipeline_config
from crawler.dates import to_iso
from crawler.items import ArticleItem
from crawler.language import detect_language
from crawler.textutil import clean_text

TRACKING = re.compile(r"^(?:utm_\w+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|mc_cid|mc_eid|igshid|yclid|_ga|"
                      r"ref_src|ref_url|cmpid|ito|icid|ns_\w+|at_\w+|spm|share|from|src|s_cid)$", re.IGNORECASE)
_BYLINE = re.compile(r"^\s*(?:by|par|por|door|av|от|作者[:：]?|记者|文/)\s*", re.IGNORECASE)
_SPLIT = re.compile(r"\s*(?:,|;|&|\band\b|\bund\b|\bet\b|\by\b|\be\b|、|和|与|\|)\s*", re.IGNORECASE)
_ROLE = re.compile(r"\s*(?:[-–—|]\s*)?\b(?:staff writer|correspondent|reporter|editor|contributor)\b.*$", re.IGNORECASE)
# Keep typographic quotes and CJK full-width punctuation (ftfy would make them ASCII): they are text, not damage.
_FIX = ftfy.TextFixerConfig(uncurl_quotes=False, fix_latin_ligatures=False, fix_character_width=False)
# Mojibake is UTF-8 read as Latin-1/cp1252: a lead byte (Â..ô) followed by a continuation byte or its cp1252
# stand-in. ftfy is slow on long clean text (it was 2/3 of the pipelines' time), so it runs only on a match.
_MOJIBAKE = re.compile("[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192"
                       "\u02c6\u02dc\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]")


def repair(text: str) -> str:
    """Entities decoded; mojibake repaired when there is any (typographic quotes and CJK punctuation kept)."""
    text = html.unescape(text)
    return ftfy.fix_text(text, _FIX) if _MOJIBAKE.search(text) else text


def clean_line(value: str | None) -> str | None:
    """One-line text (title, summary, a name): repaired, decoded, NFC, single spaces."""
    if value is None:
        return None
    text = unicodedata.normalize("NFC", repair(value))
    return " ".join(text.split()) or None


def canonical_url(url: str) -> str:
    """Tracking parameters out, then w3lib's canonical form (sorted query, normalised escapes)."""
    query = url.split("?", 1)[1] if "?" in url else ""
    tracked = [part.split("=", 1)[0] for part in query.split("&") if part and TRACKING.match(part.split("=", 1)[0])]
    cleaned = url_query_cleaner(url, tracked, remove=True, unique=False, keep_fragments=False) if tracked else url
    return str(canonicalize_url(cleaned))


def split_authors(values: list[str]) -> list[str]:
    """Names from bylines, each once, in order."""
    names: list[str] = []
    seen: set[str] = set()
    for value in values:
        line = clean_line(value) or ""
        for part in _SPLIT.split(_BYLINE.sub("", line)):
            name = _ROLE.sub("", _BYLINE.sub("", part)).strip(" .:-–—")
            if not name or "@" in name or name.startswith("http") or len(name) > 80:
                continue
            key = name.casefold()
            if key not in seen:
                seen.add(key)
                names.append(name)
    return names


class CleanPipeline:
    """Cleans ArticleItems in place; other items pass untouched."""

    def __init__(self, stats: StatsCollector, timezone: str = "UTC", detect: bool = True) -> None:
        self.stats, self.zone, self.detect = stats, ZoneInfo(timezone), detect

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CleanPipeline:
        site = getattr(crawler.spider, "site", None)
        detect = pipeline_config(crawler.settings).detect_language
        return cls(crawler.stats, site.timezone if site is not None else "UTC", detect)

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, ArticleItem):
            return item
        item.title = clean_line(item.title) or ""
        item.summary = clean_line(item.summary)
        item.text = clean_text(repair(item.text))
        item.section = clean_line(item.section)
        item.authors = split_authors(item.authors)
        item.tags = [t for t in dict.fromkeys(clean_line(t) or "" for t in item.tags) if t]
        item.canonical_url = canonical_url(item.canonical_url or item.url)
        item.published = to_iso(item.published, self.zone)
        item.modified = to_iso(item.modified, self.zone)
        declared = (item.language or "").split("-")[0].lower()
        item.language = declared or (detect_language(item.text) if self.detect else None)
        self.stats.inc_value("pipelines/cleaned")
        return item
