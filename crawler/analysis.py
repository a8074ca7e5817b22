"""One fetched HTML page, parsed once, read for everyone: the crawl log, the classifier, the render decision,
the spider's link discovery and article extraction.

`analyze()` is pure and runs in a worker process (crawler/workers.py): parsing, fingerprints, the page
classifier and trafilatura are CPU-bound Python, and on the reactor thread they would stall every download
while they run. The reactor hands over the body and what it knows (URL, encoding, kind), and gets back a
small picklable `PageAnalysis`: never the tree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

from lxml.html import HtmlElement

from crawler.discovery import Discovery, Link
from crawler.extract import Extracted, extract_from_tree, parse_html
from crawler.language import detect_language
from crawler.siteconfig import SiteConfig
from crawler.soft404.classify import classify_page
from crawler.soft404.page import read_page
from crawler.soft404.status import Verdict
from crawler.textutil import simhash

HTML_TYPES = ("text/html", "application/xhtml+xml")
_INVISIBLE = "ancestor::script or ancestor::style or ancestor::noscript or ancestor::template"
MAX_OUTLINKS = 5000  # a page with a million links keeps the first 5,000 in its metadata record
_LOAD_MORE = re.compile(
    r"^(?:load|show|see|view|read) more\b|^more (?:stories|articles|news|results)\b|加载更多|查看更多|更多新闻|"
    r"点击加载|載入更多|mehr (?:laden|anzeigen)|weitere artikel|cargar más|ver más|voir plus|charger plus|"
    r"carregar mais|ver mais|показать ещё|загрузить ещё|もっと見る|さらに表示", re.IGNORECASE)
_CONTROLS = "//button | //a[not(@href) or @href='#' or starts-with(@href, 'javascript:')] | //*[@role='button']"


@dataclass(frozen=True)
class PageRequest:
    """What the worker needs to know about one response."""

    url: str
    body: bytes
    encoding: str | None  # as Scrapy determined it (headers, BOM, meta); None: let lxml sniff
    page: int = 1  # listing page number, for pagination
    listing: bool = False  # read the page's links as a listing (section pages)
    extract: bool = False  # article page: extract the story when the page reads as alive
    site_json: str | None = None  # the site config (discovery rules, time zone), as JSON
    detect_language: bool = False  # of an extracted article whose page declares none


@dataclass
class PageAnalysis:
    """What one HTML page shows, as the crawl needs it."""

    parsed: bool
    title: str | None = None
    simhash: str | None = None
    outlinks: list[str] = field(default_factory=list)
    verdict: Verdict | None = None  # the page classifier's, before redirects and probes are considered
    links: list[Link] | None = None  # listing pages: the links as discovery reads them
    load_more: str | None = None  # a selector for the page's "load more" control
    extracted: Extracted | None = None
    extract_error: str | None = None


def page_text(tree: HtmlElement) -> str:
    """Visible text of a page (scripts, styles and templates left out)."""
    return " ".join(t.strip() for t in tree.xpath(f"//body//text()[not({_INVISIBLE})]") if t.strip())


def page_links(tree: HtmlElement, base: str) -> list[str]:
    """Absolute http(s) targets of the page's links and embeds, in document order, without repeats."""
    seen: dict[str, None] = {}
    for href in tree.xpath("//a/@href | //link/@href | //img/@src | //script/@src | //iframe/@src"):
        url = urljoin(base, href.strip()).split("#", 1)[0]
        if url.startswith(("http://", "https://")):
            seen.setdefault(url, None)
            if len(seen) >= MAX_OUTLINKS:
                break
    return list(seen)


def page_title(tree: HtmlElement) -> str | None:
    titles = tree.xpath("//title/text()")
    return " ".join(titles[0].split()) if titles else None


def load_more_control(tree: HtmlElement) -> str | None:
    """A Playwright selector for the page's 'load more' control, if it has one."""
    for element in tree.xpath(_CONTROLS):
        text = " ".join(element.text_content().split())
        if len(text) <= 40 and _LOAD_MORE.search(text):
            ident = element.get("id")
            return f'[id="{ident}"]' if ident else "xpath=" + tree.getroottree().getpath(element)
    return None


@lru_cache(maxsize=8)
def _site(site_json: str) -> tuple[Discovery, ZoneInfo]:
    """A worker sees the same site config for every page of a crawl: validated once."""
    site = SiteConfig.model_validate_json(site_json)
    return Discovery(site), ZoneInfo(site.timezone)


def _decode(body: bytes, encoding: str | None) -> str | bytes:
    if not encoding:
        return body
    try:
        return body.decode(encoding, "replace")
    except LookupError:
        return body


def analyze(request: PageRequest) -> PageAnalysis:
    """Parse once; title, fingerprint, outlinks, verdict, and what the spider and the renderer need."""
    tree = parse_html(_decode(request.body, request.encoding))
    if tree is None:
        return PageAnalysis(parsed=False)
    analysis = PageAnalysis(parsed=True, title=page_title(tree), simhash=simhash(page_text(tree)),
                            outlinks=page_links(tree, request.url))
    facts = read_page(tree)
    analysis.verdict = classify_page(facts)
    if request.site_json is None:
        return analysis
    discovery, tz = _site(request.site_json)
    if request.listing:
        analysis.links = discovery.listing_links(tree, request.url, request.page)
        analysis.load_more = load_more_control(tree)
    if request.extract and analysis.verdict.verdict in (None, "ok") and \
            "needs-render" not in analysis.verdict.reasons:
        try:
            # The last reader of the tree (extraction may prune it); the structured data is already read.
            extracted = extract_from_tree(tree, request.url, tz, structured=facts.structured)
            if extracted is not None and request.detect_language and not extracted.language:
                extracted.detected_language = detect_language(extracted.text)
            analysis.extracted = extracted
        except Exception as exc:  # one page's failure must not end the crawl: reported with the page
            analysis.extract_error = f"{type(exc).__name__}: {exc}"
    return analysis
