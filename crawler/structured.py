"""Structured data a news page declares about itself: JSON-LD (schema.org), OpenGraph, <meta>, canonical link.

Publishers fill these for search engines and social cards, so they are usually more reliable than anything
inferred from layout: we prefer them for title, authors, dates, section, tags and images.
"""

from __future__ import annotations

import html
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from lxml.html import HtmlElement, fromstring

logger = logging.getLogger(__name__)

ARTICLE_TYPES = {
    "Article", "NewsArticle", "ReportageNewsArticle", "AnalysisNewsArticle", "OpinionNewsArticle",
    "BackgroundNewsArticle", "ReviewNewsArticle", "BlogPosting", "LiveBlogPosting", "Report", "TechArticle",
}
# The page as a whole: WordPress SEO plugins put the author on this node, not on the article, on many blogs
PAGE_TYPES = {"WebPage", "ItemPage"}


@dataclass
class Structured:
    """What the page says about itself; every field may be missing."""

    types: set[str] = field(default_factory=set)
    headline: str | None = None
    authors: list[str] = field(default_factory=list)
    published: str | None = None
    modified: str | None = None
    body: str | None = None
    section: str | None = None
    tags: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    language: str | None = None
    description: str | None = None
    canonical: str | None = None
    og_url: str | None = None
    og_type: str | None = None
    jsonld_errors: int = 0
    paywalled: bool = False  # it declares itself not free to read (schema.org isAccessibleForFree: false)

    @property
    def is_article(self) -> bool:
        return bool(self.types & ARTICLE_TYPES) or self.og_type == "article"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


Nodes = dict[str, dict[str, Any]]


def _resolve(item: Any, nodes: Nodes) -> Any:
    """A bare `{"@id": ...}` reference to the node it names elsewhere on the page.

    Yoast SEO (a large share of WordPress news sites) writes `"author": {"@id": ".../#/schema/person/..."}`
    in the article and the Person with its name as a separate node of the same `@graph`.
    """
    if isinstance(item, dict) and "name" not in item and "url" not in item and isinstance(item.get("@id"), str):
        return nodes.get(item["@id"], item)
    return item


def _names(value: Any, nodes: Nodes | None = None) -> list[str]:
    """schema.org Person/Organization (or plain strings) to names."""
    out = []
    for item in (_resolve(i, nodes or {}) for i in _as_list(value)):
        name = item.get("name") if isinstance(item, dict) else item
        if isinstance(name, str) and name.strip():
            out.append(name.strip())
    return out


def _urls(value: Any, nodes: Nodes | None = None) -> list[str]:
    out = []
    for item in (_resolve(i, nodes or {}) for i in _as_list(value)):
        url = item.get("url") or item.get("contentUrl") if isinstance(item, dict) else item
        if isinstance(url, str) and url.strip():
            out.append(url.strip())
    return out


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _walk_jsonld(data: Any) -> list[dict[str, Any]]:
    """All JSON-LD objects, flattening lists and @graph."""
    found: list[dict[str, Any]] = []
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            found.append(node)
            stack.extend(_as_list(node.get("@graph")))
    return found


def clean_body(body: str) -> str:
    """JSON-LD articleBody sometimes carries HTML markup or entities; reduce it to text."""
    if "<" in body and ">" in body:
        tree = fromstring(f"<div>{body}</div>")
        blocks = [b.text_content().strip() for b in tree.iter("p", "h2", "h3", "li", "blockquote")]
        body = "\n\n".join(b for b in blocks if b) or tree.text_content()
    return html.unescape(body).strip()


def _apply_jsonld(obj: dict[str, Any], out: Structured, nodes: Nodes) -> None:
    out.types.update(t for t in _as_list(obj.get("@type")) if isinstance(t, str))
    out.headline = out.headline or _text(obj.get("headline")) or _text(obj.get("name"))
    out.authors = out.authors or _names(obj.get("author"), nodes)
    out.published = out.published or _text(obj.get("datePublished"))
    out.modified = out.modified or _text(obj.get("dateModified"))
    body = _text(obj.get("articleBody"))
    out.body = out.body or (clean_body(body) if body else None)
    out.section = out.section or next(iter(_names(obj.get("articleSection"))), None)
    keywords = obj.get("keywords")
    if isinstance(keywords, str):
        keywords = [k.strip() for k in keywords.split(",")]
    out.tags = out.tags or [k for k in _names(keywords) if k]
    out.images = out.images or _urls(obj.get("image"), nodes)
    out.language = out.language or _text(obj.get("inLanguage"))
    out.description = out.description or _text(obj.get("description"))


class _MetaTags:
    """The page's `<meta content>` values by `property` and by `name`, collected in one pass over the tree.

    One XPath per wanted name walked the whole document twenty times: `read_structured` took 3.3 ms a page on
    the extraction benchmark, 0.8 ms now.
    """

    def __init__(self, tree: HtmlElement) -> None:
        self.values: dict[str, list[str]] = {}
        self.not_free = False  # microdata: <meta itemprop="isAccessibleForFree" content="False">
        for meta in tree.iter("meta"):
            content = meta.get("content")
            if content is None or not content.strip():
                continue
            if meta.get("itemprop") == FREE and _not_free(content):
                self.not_free = True
            for key in {key for key in (meta.get("property"), meta.get("name")) if key is not None}:
                self.values.setdefault(key, []).append(content.strip())

    def all(self, *names: str) -> list[str]:
        """Values for the names in the order given, each name's in document order."""
        return [value for name in names for value in self.values.get(name, ())]

    def first(self, *names: str) -> str | None:
        return next(iter(self.all(*names)), None)


def _jsonld_objects(tree: HtmlElement, out: Structured) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for script in tree.iter("script"):
        if script.get("type") != "application/ld+json" or not script.text:
            continue
        try:
            data = json.loads(script.text)
        except ValueError:
            out.jsonld_errors += 1  # broken JSON-LD is common; the page is still a page
            continue
        objects += _walk_jsonld(data)
    return objects


FREE = "isAccessibleForFree"  # what publishers declare of a paywalled article (Google's paywall markup)


def _not_free(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.strip().casefold() in ("false", "no", "0"))


def _paywalled(objects: list[dict[str, Any]]) -> bool:
    """An object of the page, or a part of one (`hasPart`), declares it is not free to read."""
    parts = [part for obj in objects for part in _as_list(obj.get("hasPart")) if isinstance(part, dict)]
    return any(_not_free(obj.get(FREE)) for obj in (*objects, *parts))


def read_structured(tree: HtmlElement) -> Structured:
    """Collect JSON-LD article objects first, then fill gaps from OpenGraph and <meta>."""
    out = Structured()
    objects = _jsonld_objects(tree, out)
    nodes = {obj["@id"]: obj for obj in objects if isinstance(obj.get("@id"), str)}
    typed = [(obj, {t for t in _as_list(obj.get("@type")) if isinstance(t, str)}) for obj in objects]
    for _, types in typed:
        out.types |= types  # every type the page declares (a VideoObject page is a video page)
    for obj, types in typed:
        if types & ARTICLE_TYPES:
            _apply_jsonld(obj, out, nodes)
    for obj, types in typed:
        if types & PAGE_TYPES:
            out.authors = out.authors or _names(obj.get("author"), nodes)

    meta = _MetaTags(tree)
    first = meta.first
    out.headline = out.headline or first("og:title", "twitter:title")
    out.authors = out.authors or meta.all("article:author", "author", "byl", "dc.creator")
    out.published = out.published or first("article:published_time", "datePublished", "pubdate", "dc.date")
    out.modified = out.modified or first("article:modified_time", "og:updated_time", "dateModified")
    out.section = out.section or first("article:section")
    out.tags = out.tags or meta.all("article:tag", "news_keywords")
    out.images = out.images or meta.all("og:image", "twitter:image")
    out.description = out.description or first("og:description", "description")
    out.og_type = first("og:type")
    out.paywalled = meta.not_free or _paywalled(objects)
    out.og_url = first("og:url")
    out.canonical = next((link.get("href") for link in tree.iter("link")
                          if link.get("rel") == "canonical" and link.get("href") is not None), None)
    root = tree.getroottree().getroot()
    out.language = out.language or (root.get("lang") if root.tag == "html" else None) or first("og:locale", "language")
    return out
