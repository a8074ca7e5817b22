"""One fetched HTML page, parsed once, read for everyone: the crawl log, the classifier, the render decision,
the spider's link discovery and article extraction.

`analyze()` is pure and runs in a worker process (crawler/workers.py): parsing, fingerprints, the page
classifier and trafilatura are CPU-bound Python, and on the reactor thread they would stall every download
while they run. The reactor hands over the body and what it knows (URL, encoding, kind), and gets back a
small picklable `PageAnalysis`: never the tree.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

import charset_normalizer
from lxml.etree import iterwalk
from lxml.html import HtmlElement

from crawler.discovery import Discovery, Link
from crawler.extract import Extracted, extract_from_tree, parse_page
from crawler.language import detect_language
from crawler.limits import (
    BINARY_BODY,
    DEAD,
    INCOMPLETE_HTML,
    LONG_TITLE,
    PARTLY_READ,
    TOO_MANY_LINKS,
    UNREADABLE,
    PageLimits,
)
from crawler.siteconfig import SiteConfig
from crawler.soft404.classify import judge
from crawler.soft404.features import Evidence, evidence_of
from crawler.soft404.page import read_page
from crawler.soft404.status import Verdict
from crawler.textutil import simhash

HTML_TYPES = ("text/html", "application/xhtml+xml")
_INVISIBLE_TAGS = {"script", "style", "noscript", "template"}
_LINKED = {"a": "href", "link": "href", "img": "src", "script": "src", "iframe": "src"}
# A sum, not a count of a union: libxml2 merges a union's node-sets with a duplicate check per node.
_COUNT_LINKED = "count(//a[@href]) + count(//link[@href]) + count(//img[@src]) + count(//script[@src]) + " \
                "count(//iframe[@src])"
# Binary formats that turn up behind a text/html label, by their first bytes.
_MAGIC = (b"\x89PNG", b"GIF87a", b"GIF89a", b"\xff\xd8\xff", b"%PDF-", b"PK\x03\x04", b"\x1f\x8b", b"(\xb5/\xfd",
          b"BZh91", b"7z\xbc\xaf", b"Rar!", b"\x7fELF", b"\x00asm", b"OggS", b"RIFF", b"wOFF", b"wOF2",
          b"\x00\x00\x01\x00")
_CONTROL = bytes(set(range(32)) - {9, 10, 12, 13, 27})  # what text never holds (tab, newlines, form feed, ESC aside)
BINARY_SHARE = 0.1  # of the first SNIFF bytes: a share of control bytes that text in any 8-bit charset never has
SNIFF = 4096
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
    limits: PageLimits = field(default_factory=PageLimits)  # LIMIT_* (crawler/config.py)


@dataclass
class PageAnalysis:
    """What one HTML page shows, as the crawl needs it."""

    parsed: bool
    title: str | None = None
    simhash: str | None = None
    outlinks: list[str] = field(default_factory=list)
    verdict: Verdict | None = None  # the page classifier's, before redirects and probes are considered
    evidence: Evidence | None = None  # what the classifier read, for the verdict beside the host's probe
    complete: bool = True  # the HTML reaches its </body> or </html>: a page cut short is never read as dead
    links: list[Link] | None = None  # listing pages: the links as discovery reads them
    load_more: str | None = None  # a selector for the page's "load more" control
    extracted: Extracted | None = None
    extract_error: str | None = None
    problems: dict[str, str] = field(default_factory=dict)  # crawler/limits.py reason -> detail


def page_text(tree: HtmlElement) -> str:
    """Visible text of a page (scripts, styles and templates left out), read in one walk of the tree.

    Not with XPath (`//body//text()`): libxml2 sorts a node-set of text nodes into document order by walking
    siblings for each comparison, quadratic in their number: 80,000 links on one page took 18 s in one C
    call, where the page's time bound cannot interrupt it."""
    bodies = tree.xpath("//body")
    if not bodies:
        return ""
    parts: list[str] = []
    skipping: HtmlElement | None = None
    for event, element in iterwalk(bodies[0], events=("start", "end", "comment", "pi")):
        if event in ("comment", "pi"):  # only its tail is text of the page
            if skipping is None and element.tail:
                parts.append(element.tail)
            continue
        if event == "start":
            if skipping is None and element.tag in _INVISIBLE_TAGS:
                skipping = element
            elif skipping is None and element.text:
                parts.append(element.text)
            continue
        if skipping is element:
            skipping = None
        if skipping is None and element is not bodies[0] and element.tail:
            parts.append(element.tail)
    return " ".join(t.strip() for t in parts if t.strip())


def page_links(tree: HtmlElement, base: str, limit: int = 5000) -> tuple[list[str], int]:
    """Absolute http(s) targets of the page's links and embeds, in document order, without repeats: the first
    `limit` of them, and how many link elements were left unread (a page with a million links)."""
    seen: dict[str, None] = {}
    read = 0
    for element in tree.iter(*_LINKED):  # lazily: past the limit no element is even looked at
        if len(seen) >= limit:
            return list(seen), int(tree.xpath(_COUNT_LINKED)) - read  # counted in C, no element built
        href = element.get(_LINKED[str(element.tag)])
        if href is None:
            continue
        read += 1
        url = urljoin(base, href.strip()).split("#", 1)[0]
        if url.startswith(("http://", "https://")):
            seen.setdefault(url, None)
    return list(seen), 0


def page_title(tree: HtmlElement, limit: int = 1000) -> str | None:
    """The page's title, whitespace collapsed, cut at `limit` characters."""
    titles = tree.xpath("//title/text()")
    return " ".join(titles[0][: limit * 4].split())[:limit] if titles else None


def binary_body(body: bytes, encoding: str | None = None) -> str | None:
    """Why `body`, labelled HTML, is binary data: a known format's signature, or control bytes no text has.
    UTF-16 and UTF-32 text (a NUL in every character) is text."""
    head = body[:SNIFF]
    if (encoding or "").lower().replace("_", "-").startswith(("utf-16", "utf-32")) or \
            head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    for magic in _MAGIC:
        if head.startswith(magic):
            return f"starts like {magic[:4]!r} data"
    control = len(head) - len(head.translate(None, _CONTROL))
    if head and control / len(head) > BINARY_SHARE:
        return f"{control} control bytes in its first {len(head)}"
    return None


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


MISLABELLED_SHARE = 0.02  # undecodable characters past this share: the declared charset is not the page's
SNIFF_BYTES = 262144


def _decode(body: bytes, encoding: str | None) -> str | bytes:
    """The page as text in its declared charset; when that leaves more than a few characters undecodable
    (a GBK page labelled UTF-8, common on older sites), in the charset its bytes show instead. A few broken
    bytes in a page that is otherwise in its charset are replaced, as browsers do."""
    if not encoding:
        return body
    try:
        text = body.decode(encoding, "replace")
    except LookupError:
        return body
    if text.count("\ufffd") > MISLABELLED_SHARE * max(1, len(text)):
        guess = charset_normalizer.from_bytes(body[:SNIFF_BYTES]).best()
        if guess is not None and guess.encoding and codecs.lookup(guess.encoding).name != codecs.lookup(encoding).name:
            sniffed = body.decode(guess.encoding, "replace")
            if sniffed.count("\ufffd") < text.count("\ufffd"):
                return sniffed
    return text


_DOCUMENT_END = re.compile(rb"</\s*(?:body|html)\s*>", re.IGNORECASE)
END_WINDOW = 65536  # closing tags are near the end; scripts and comments after them rarely take more


def complete_document(body: bytes) -> bool:
    """Whether the HTML reaches its end (`</body>` or `</html>` in its last bytes)."""
    return _DOCUMENT_END.search(body, max(0, len(body) - END_WINDOW)) is not None


def analyze(request: PageRequest) -> PageAnalysis:
    """Parse once; title, fingerprint, outlinks, verdict, and what the spider and the renderer need."""
    binary = binary_body(request.body, request.encoding)
    if binary:
        return PageAnalysis(parsed=False, problems={BINARY_BODY: binary})
    limits = request.limits
    body = request.body[:limits.parse_bytes]
    tree, limit_reached = parse_page(_decode(body, request.encoding))
    if tree is None:
        return PageAnalysis(parsed=False)
    analysis = PageAnalysis(parsed=True, title=page_title(tree, limits.title_chars), simhash=simhash(page_text(tree)))
    analysis.outlinks, unread = page_links(tree, request.url, limits.links)
    _note_limits(analysis, tree, limits, limit_reached, unread)
    if len(request.body) > len(body):
        analysis.problems[PARTLY_READ] = f"the first {len(body):,} bytes of {len(request.body):,} parsed"
    facts = read_page(tree)
    analysis.evidence = evidence_of(facts, request.url)
    analysis.verdict = judge(analysis.evidence)
    analysis.complete = complete_document(request.body)
    if analysis.verdict.verdict in DEAD and not analysis.complete:
        analysis.problems[INCOMPLETE_HTML] = "the HTML ends before its </body> and </html>: not read as dead"
    if request.site_json is None:
        return analysis
    discovery, tz = _site(request.site_json)
    if request.listing:
        analysis.links, unread = discovery.read_listing(tree, request.url, request.page, limits.links)
        if unread:
            analysis.problems[TOO_MANY_LINKS] = f"{len(analysis.links)} listing links kept, {unread} more not read"
        analysis.load_more = load_more_control(tree)
    readable = not UNREADABLE & set(analysis.problems)
    # A page read as dead on its own may be read as alive beside its host's probe (crawler/soft404/judge.py):
    # it is extracted too. Not a shell (a browser will read it) nor a login wall (the probe cannot change it).
    if readable and request.extract and analysis.verdict.verdict in (None, "ok", "soft-404") and \
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


def _note_limits(analysis: PageAnalysis, tree: HtmlElement, limits: PageLimits, limit_reached: str | None,
                 unread: int) -> None:
    """What of the page went past a limit, in `analysis.problems`."""
    if limit_reached:
        analysis.problems[limit_reached] = "the HTML parser stopped there; the rest of the page is not read"
    if unread:
        analysis.problems[TOO_MANY_LINKS] = f"{len(analysis.outlinks)} outlinks kept, {unread} more links not read"
    if analysis.title is not None and len(analysis.title) >= limits.title_chars:
        length = int(tree.xpath("string-length(normalize-space(//title))"))
        if length > len(analysis.title):
            analysis.problems[LONG_TITLE] = f"title of {length} characters cut at {len(analysis.title)}"
