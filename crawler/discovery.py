"""What a link on a listing page is: an article, a section page, the next page of this listing, or elsewhere.

Configured patterns decide first. Without them, evidence decides: the URL's shape (a date followed by a slug,
a long numeric or hex id, a long hyphenated slug), where the link sits (story lists, not navigation, sidebars
or footers) and its text (a headline is several words long; "Next", "下一页" or a page number is pagination).
A URL that ends in a date with nothing after it is a date archive, never an article: that is what keeps a
crawl out of calendar traps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urljoin, urlsplit

from lxml.html import HtmlElement
from w3lib.url import canonicalize_url

from crawler.siteconfig import SiteConfig


class LinkKind(StrEnum):
    ARTICLE = "article"
    SECTION = "section"
    PAGINATION = "pagination"
    ELSEWHERE = "elsewhere"


@dataclass(frozen=True)
class Link:
    url: str
    text: str
    kind: LinkKind
    reason: str
    page: int | None = None  # pagination: the page number the link leads to, when known


_DATE = r"(?:19|20)\d{2}(?:[/-]?(?:0[1-9]|1[0-2]))(?:[/-]?(?:0[1-9]|[12]\d|3[01]))?"
# A date in the path followed by at least one more segment that carries a slug or id.
_DATED_ARTICLE = re.compile(rf"/{_DATE}(?:/(?:0[1-9]|[12]\d|3[01]))?/(?!page\b)[^/?#]*[A-Za-z0-9_-]{{4,}}")
_DATE_ARCHIVE = re.compile(rf"/{_DATE}(?:/(?:0[1-9]|[12]\d|3[01]))?/?$")
_NUMERIC_ID = re.compile(r"(?:^|[/_-])\d{5,}(?:\.s?html?|\.php|\.aspx?)?/?$")
_HEX_ID = re.compile(r"/[A-Za-z]*(?=[A-Za-z]*\d)[0-9a-fA-F]{10,}\.s?html?$")
_SLUG = re.compile(r"/[a-z0-9]+(?:-[a-z0-9]+){3,}(?:\.s?html?)?/?$")
_ASSET = re.compile(r"\.(?:jpe?g|png|gif|webp|svg|ico|css|js|json|pdf|zip|gz|mp[34]|m4a|avi|mov|woff2?|ttf)$", re.I)
_PAGE_IN_URL = re.compile(r"(?:[?&](?:page|p|pg)=\d+|/page/\d+/?$|[_/-]page[_-]?\d+\.s?html?$|/index_\d+\.s?html?$)")
NEXT_WORDS = re.compile(
    r"^(?:next(?: page)?|older(?: posts| stories| articles)?|more stories|suivant|siguiente|weiter|próxima|"
    r"下一页|下页|后一页|次へ|다음|следующая|التالي)\s*[›»>→]*$|^[›»>→]+$",
    re.IGNORECASE,
)
# Regions of a page whose links are navigation, not the listing.
CHROME = re.compile(r"nav|menu|footer|header|sidebar|breadcrumb|related|share|social|widget|calendar|tag-?cloud",
                     re.IGNORECASE)
_CHROME_TAGS = {"nav", "header", "footer", "aside"}
_COUNT_LINKS = "count(//a[@href]) + count(//link[@rel][@href])"  # a sum: a union's merge checks for duplicates


def in_chrome(anchor: HtmlElement) -> bool:
    """True when the link sits in navigation, header, footer or a sidebar (pagination bars excepted)."""
    for node in anchor.iterancestors():
        marks = f"{node.get('class', '')} {node.get('id', '')}"
        if "pag" in marks.lower():
            return False
        if node.tag in _CHROME_TAGS or CHROME.search(marks):
            return True
    return False


def headline_like(text: str) -> bool:
    """Several words, or a run of CJK characters: the shape of a headline, not of a menu entry."""
    cjk = sum(1 for c in text if "\u3040" <= c <= "\u9fff" or "\uac00" <= c <= "\ud7af")
    return cjk >= 8 or len(text.split()) >= 5


class Discovery:
    """Classifies links for one site."""

    def __init__(self, site: SiteConfig) -> None:
        self.site = site
        self.domains = [d.lower() for d in site.domains]
        self.article_patterns = [re.compile(p) for p in site.article_patterns]
        self.section_patterns = [re.compile(p) for p in site.section_patterns]
        self.deny_patterns = [re.compile(p) for p in site.deny_patterns]
        self.section_urls = {canonicalize_url(s.url) for s in site.sections}

    def on_site(self, url: str) -> bool:
        host = (urlsplit(url).hostname or "").lower()
        return any(host == d or host.endswith("." + d) for d in self.domains)

    def classify_url(self, url: str, text: str = "", chrome: bool = False) -> tuple[LinkKind, str]:
        """Kind of a link found anywhere (listing, feed, sitemap), with the rule that decided it."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return LinkKind.ELSEWHERE, "not-http"
        if not self.on_site(url):
            return LinkKind.ELSEWHERE, "offsite"
        if any(p.search(url) for p in self.deny_patterns):
            return LinkKind.ELSEWHERE, "denied"
        if any(p.search(url) for p in self.article_patterns):
            return LinkKind.ARTICLE, "article-pattern"
        if canonicalize_url(url) in self.section_urls:
            return LinkKind.SECTION, "configured-section"
        if any(p.search(url) for p in self.section_patterns):
            return LinkKind.SECTION, "section-pattern"
        if self.article_patterns:
            return LinkKind.ELSEWHERE, "no-pattern-match"
        return self._evidence(parts.path, text, chrome)

    def _evidence(self, path: str, text: str, chrome: bool) -> tuple[LinkKind, str]:
        if _ASSET.search(path):
            return LinkKind.ELSEWHERE, "asset"
        if _DATE_ARCHIVE.search(path):
            return LinkKind.ELSEWHERE, "date-archive"
        if chrome:
            return LinkKind.ELSEWHERE, "navigation"
        if _DATED_ARTICLE.search(path):
            return LinkKind.ARTICLE, "url-date"
        if _NUMERIC_ID.search(path) or _HEX_ID.search(path):
            return LinkKind.ARTICLE, "url-id"
        if _SLUG.search(path):
            return LinkKind.ARTICLE, "url-slug"
        if text and headline_like(text) and path.count("/") >= 2:
            return LinkKind.ARTICLE, "link-text"
        return LinkKind.ELSEWHERE, "no-evidence"

    def pagination(self, url: str, text: str, rel: str, listing_url: str, page: int) -> Link | None:
        """A link to another page of the listing at `listing_url` (currently on page `page`), or None."""
        if not self.on_site(url) or canonicalize_url(url) == canonicalize_url(listing_url):
            return None
        scope = urlsplit(listing_url).path.rstrip("/")
        scope = scope.rsplit("/", 1)[0] if _PAGE_IN_URL.search(listing_url) else scope
        if not urlsplit(url).path.startswith(scope):
            return None
        if "next" in rel.split():
            return Link(url, text, LinkKind.PAGINATION, "rel-next", page + 1)
        if NEXT_WORDS.match(text):
            return Link(url, text, LinkKind.PAGINATION, "next-text", page + 1)
        if text.isdigit() and _PAGE_IN_URL.search(url):
            return Link(url, text, LinkKind.PAGINATION, "page-number", int(text))
        return None

    def listing_links(self, tree: HtmlElement, listing_url: str, page: int) -> list[Link]:
        """Every link of a listing page, classified, in document order, without repeats."""
        return self.read_listing(tree, listing_url, page)[0]

    def read_listing(self, tree: HtmlElement, listing_url: str, page: int, limit: int = 0) -> tuple[list[Link], int]:
        """The links of a listing page, classified, in document order, without repeats: the first `limit` of
        them (0: all), and how many link elements were left unread. A page with a million links would
        otherwise cost a million classifications and a list the worker must send back whole."""
        seen: set[str] = set()
        links: list[Link] = []
        read = 0
        for node in tree.iter("a", "link"):  # lazily, in document order: past the limit nothing is built
            if node.get("href") is None or (node.tag == "link" and node.get("rel") is None):
                continue
            if limit and len(links) >= limit:
                return links, int(tree.xpath(_COUNT_LINKS)) - read  # counted in C
            read += 1
            link = self._link(node, listing_url, page)
            if link is None:
                continue
            key = canonicalize_url(link.url)
            if key in seen:
                continue
            seen.add(key)
            links.append(link)
        return links, 0

    def _link(self, node: HtmlElement, listing_url: str, page: int) -> Link | None:
        """What one <a href> or <link rel href> of a listing page is; None for what is not a link to follow."""
        href = node.get("href", "").strip()
        if not href or href.startswith(("#", "javascript:", "mailto:", "tel:")):
            return None
        url = urljoin(listing_url, href).split("#", 1)[0]
        text = " ".join(node.text_content().split()) if node.tag == "a" else ""
        rel = (node.get("rel") or "").lower()
        link = self.pagination(url, text, rel, listing_url, page)
        if link is None:
            if node.tag == "link":
                return None
            kind, reason = self.classify_url(url, text, in_chrome(node))
            link = Link(url, text, kind, reason)
        return link
