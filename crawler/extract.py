"""HTML -> article fields: trafilatura for the text, the page's structured data for everything it declares.

The page is parsed once (`parse_html`); `extract_from_tree` reads text, structured data and metadata from that
one tree, so a caller that also classifies the page does not pay for a second or third parse.

Text: trafilatura in precision mode. Its default (balanced) mode runs as a second pass only when precision kept
less than a fifth of the text the page has in paragraphs, a sign that it took one block of the story (a teaser,
a caption) for all of it; the default text is then used if it is at least twice as long. On the shared
extraction benchmark this scores F1 0.971 against 0.960 for plain `trafilatura.extract`, in about the same time
per page, parse included (benchmarks/extraction.py). Running both modes on every page and taking the default's
text whenever it was twice as long cost twice the time for a lower F1 (0.969): where precision is not
obviously short, the default's extra text was as often boilerplate as missing story.
A JSON-LD `articleBody` is used only when trafilatura finds far less than it: such bodies are often
truncated teasers or raw HTML, and measured as the primary source they lower F1.

Metadata: structured data first; trafilatura's and htmldate's searches of the page run only for the fields it
does not declare, because they cost more than the text extraction on some pages (htmldate's extensive date
search, the byline XPaths).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from urllib.parse import urljoin

import trafilatura
from htmldate import find_date
from lxml.etree import Comment, ParserError, ProcessingInstruction, XPath, strip_elements
from lxml.html import HtmlElement, HTMLParser, document_fromstring
from trafilatura.metadata import examine_meta, extract_author, extract_catstags, extract_title

from crawler.dates import to_iso
from crawler.limits import PARSE_LIMIT, TOO_DEEP
from crawler.structured import Structured, read_structured
from crawler.textutil import clean_text, sha1_digest, simhash

logger = logging.getLogger(__name__)

PRECISION_MIN_SHARE = 0.2  # precision text under this share of the page's paragraph text took a fragment
PRECISION_KEEPS_AT_LEAST = 0.5  # below this share of default-mode text, precision mode lost part of the story
COMPLETE_BODY_CHARS = 800  # a JSON-LD body shorter than this is usually a teaser
MIN_TEXT_CHARS = 20  # less is a menu entry or a caption, not an article (a one-line brief is longer)
# Elements that never hold a story's text: trafilatura's own cleaning deletes them (settings.MANUALLY_CLEANED)
# from what its extractor reads, but only after copying the whole tree and running its XPaths over them
# several times per pass. Removed here first (with the furniture below), the text comes out the same on all
# 181 benchmark pages in both modes, with a fifth less CPU time per trafilatura pass.
_NEVER_TEXT = ("script", "style", "svg", "iframe", "canvas", "video", "audio", "object", "embed", "picture", "map",
               "select", "option", "button", "input", "textarea")
# Page furniture, most of a news page's DOM (navigation mega-menus, footers of links, sidebars), also deleted
# by trafilatura's cleaning: removed after the metadata search, since a byline may sit in an article's
# <footer> or <aside>. Not <form>: some sites wrap the whole page in one (ASP.NET), and <header> holds headlines.
_FURNITURE = ("nav", "footer", "aside")
# Paragraphs outside the page's header: where a story's prose is, and a cheap (< 1 ms) measure of how much
# text a story page has, against which a short precision-mode result is judged.
_STORY_PARAGRAPHS = XPath("//p[not(ancestor::header)]")


@dataclass
class Extracted:
    """Article fields found on one page, before the item is stamped with crawl metadata."""

    title: str | None
    authors: list[str]
    published: str | None
    modified: str | None
    language: str | None
    text: str
    summary: str | None
    tags: list[str]
    images: list[str]
    canonical_url: str | None
    section: str | None
    text_digest: str  # fingerprints of the text, computed here so they run where extraction runs
    text_simhash: str | None
    structured: Structured = field(repr=False)
    detected_language: str | None = None  # from the text, when asked for (crawler/analysis.py)


def parse_html(html: str | bytes) -> HtmlElement | None:
    """lxml tree of a page, None for a document lxml cannot make sense of (empty, binary)."""
    return parse_page(html)[0]


def parse_page(html: str | bytes) -> tuple[HtmlElement | None, str | None]:
    """lxml tree of a page (None: empty, binary), and the parser's resource limit it stopped at, if any.

    huge_tree stays off on purpose: libxml2 then stops at 256 levels of nesting and at text nodes over 10 MB,
    which bounds the parse (and every recursive reader after it) on hostile pages. It stops silently, the rest
    of the page lost, so the limit is reported (`too-deep`, `parse-limit`): what is left is not the page.
    """
    parser = HTMLParser(huge_tree=False)
    try:
        tree = document_fromstring(html, parser=parser)
    except ValueError:
        if isinstance(html, str):  # lxml refuses str input that carries an XML encoding declaration
            return parse_page(html.encode("utf-8", "surrogatepass"))
        return None, None
    except ParserError:
        return None, None
    return tree, _resource_limit(parser)


def _resource_limit(parser: HTMLParser) -> str | None:
    for error in parser.error_log:
        if error.type_name == "ERR_RESOURCE_LIMIT":
            return TOO_DEEP if "depth" in error.message.lower() else PARSE_LIMIT
    return None


def _trafilatura_text(tree: HtmlElement, url: str, precision: bool) -> str:
    """trafilatura's text of the tree; it works on its own copy, so the tree can be read again after."""
    return trafilatura.extract(tree, url=url, include_comments=False, favor_precision=precision) or ""


def _paragraph_chars(tree: HtmlElement) -> int:
    """Characters of paragraph text outside the header (furniture already removed)."""
    return sum(len(" ".join(p.text_content().split())) for p in _STORY_PARAGRAPHS(tree))


def _main_text(tree: HtmlElement, url: str, structured: Structured, title: str | None) -> str:
    text = _trafilatura_text(tree, url, precision=True)
    if not text or len(text) < PRECISION_MIN_SHARE * _paragraph_chars(tree):
        default = _trafilatura_text(tree, url, precision=False)
        if len(text) < PRECISION_KEEPS_AT_LEAST * len(default):
            text = default
    body = structured.body
    if body and len(body) >= COMPLETE_BODY_CHARS and len(text) < PRECISION_KEEPS_AT_LEAST * len(body):
        text = body
    text = clean_text(text)
    if title:
        head, _, rest = text.partition("\n\n")
        if " ".join(head.split()) == " ".join(title.split()):
            text = rest  # the headline repeated as the text's first paragraph is not part of the story
    return text if len(text) >= MIN_TEXT_CHARS else ""


@dataclass
class _Found:
    """Metadata fields searched for in the page itself, where the structured data has none."""

    title: str | None = None
    authors: list[str] = field(default_factory=list)
    description: str | None = None
    tags: list[str] = field(default_factory=list)


def _search_page(tree: HtmlElement, structured: Structured) -> _Found:
    """trafilatura's metadata steps (as in its `extract_metadata`), each only for a field still missing.

    `extract_metadata` itself runs all of them and htmldate's date search on every page: more time than the
    text extraction on some pages, for fields the structured data usually declares.
    """
    found = _Found()
    if structured.headline and structured.authors and structured.description and structured.tags:
        return found
    meta = examine_meta(tree)  # one pass over <meta>: the names our structured reader does not know
    found.title = structured.headline or meta.title or extract_title(tree)
    author = meta.author if meta.author and " " in meta.author else None  # trafilatura's test for a real name
    if not structured.authors:
        author = author or extract_author(tree)  # byline search: XPaths over the whole page, only when needed
        found.authors = [a.strip() for a in author.split(";") if a.strip()] if author else []
    found.description = meta.description
    if not structured.tags:
        found.tags = list(meta.tags or ()) or extract_catstags("tag", tree)
    return found


def _published(tree: HtmlElement, url: str, structured: Structured, site_tz: tzinfo) -> str | None:
    """Declared publication date, else htmldate's: its quick search first, the extensive one when that fails."""
    declared = to_iso(structured.published, site_tz)
    if declared:
        return declared
    for extensive in (False, True):
        date = find_date(tree, url=url, original_date=True, extensive_search=extensive)
        if date:
            return to_iso(date, site_tz)
    return None


def _drop(tree: HtmlElement, tags: tuple[str, ...]) -> None:
    """Remove the elements with their content, keeping the text that follows them; JSON-LD stays."""
    for element in list(tree.iter(*tags)):
        if element.tag != "script" or element.get("type") != "application/ld+json":
            element.drop_tree()


def extract_from_tree(tree: HtmlElement, url: str, site_tz: tzinfo = UTC, *,
                      structured: Structured | None = None) -> Extracted | None:
    """Article fields from a page parsed with `parse_html`; None when the page has no main text at all.

    The tree is the caller's to give away: it is pruned in place. `structured` saves reading the structured
    data again when the caller has already read it from the same page.
    """
    # trafilatura's own parser drops comments and processing instructions; left in, they change what it
    # extracts (9 of the benchmark's 181 pages, for lower F1)
    strip_elements(tree, Comment, ProcessingInstruction, with_tail=False)
    if structured is None:
        structured = read_structured(tree)
    published = _published(tree, url, structured, site_tz)  # htmldate reads dates in scripts too
    _drop(tree, _NEVER_TEXT)
    found = _search_page(tree, structured)
    title = structured.headline or found.title
    _drop(tree, _FURNITURE)
    text = _main_text(tree, url, structured, title)
    if not text:
        return None
    images = [urljoin(url, i) for i in structured.images]
    return Extracted(
        title=title.strip() if title else None,
        authors=structured.authors or found.authors,
        published=published,
        modified=to_iso(structured.modified, site_tz),
        language=structured.language or None,
        text=text,
        summary=structured.description or found.description,
        tags=structured.tags or found.tags,
        images=images,
        canonical_url=urljoin(url, structured.canonical) if structured.canonical else None,
        section=structured.section,
        text_digest=sha1_digest(text.encode()),
        text_simhash=simhash(text),
        structured=structured,
    )


def extract_article(html: str | bytes, url: str, site_tz: tzinfo = UTC) -> Extracted | None:
    """Article fields from one page's HTML, for callers that have not parsed it."""
    tree = parse_html(html)
    return extract_from_tree(tree, url, site_tz) if tree is not None else None
