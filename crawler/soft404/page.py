"""The facts a classifier needs from one fetched HTML page, read from its parsed tree once."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml.etree import iterwalk
from lxml.html import HtmlElement

from crawler.discovery import CHROME as _CHROME
from crawler.structured import Structured, read_structured

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_INVISIBLE = ("script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form")
PROMINENT_CHARS = 1000
MAIN_SHARE = 0.2  # a main block with less of the page's text than this is a card, not the story
_APP_ROOT = re.compile(r"^(?:app|root|__next|__nuxt|main-app|react-root|svelte)$", re.IGNORECASE)


@dataclass
class PageFacts:
    """What a page shows: its title, headings, main text and the structured data it declares."""

    title: str = ""
    headings: list[str] = field(default_factory=list)
    main_text: str = ""
    structured: Structured = field(default_factory=Structured)
    dated: bool = False
    app_root: bool = False
    scripts: int = 0

    @property
    def units(self) -> int:
        """Length of the main text in words, counting each CJK character as a word."""
        cjk = len(_CJK.findall(self.main_text))
        return cjk + len(_CJK.sub(" ", self.main_text).split())


def _skipped(element: HtmlElement) -> bool:
    """Not reader-visible content: scripts, chrome (navigation, footers, sidebars), CSS-hidden blocks."""
    tag = element.tag
    if not isinstance(tag, str) or tag in _INVISIBLE:
        return True
    attributes = element.attrib
    if not attributes:  # most elements: nothing more to look at (a page may have a million of them)
        return False
    marks, ident, style = attributes.get("class"), attributes.get("id"), attributes.get("style")
    if (marks or ident) and _CHROME.search(f"{marks or ''} {ident or ''}"):
        return True
    if style:
        style = style.replace(" ", "").lower()
        if "display:none" in style or "visibility:hidden" in style:
            return True
    return "hidden" in attributes


def _visible_text(node: HtmlElement) -> str:
    """Text a reader sees in `node`, in document order, in one pass (chrome and hidden subtrees skipped)."""
    parts: list[str] = []
    skipping: HtmlElement | None = None
    for event, element in iterwalk(node, events=("start", "end")):
        if event == "start":
            if skipping is None and _skipped(element):
                if isinstance(element.tag, str):
                    skipping = element
                continue
            if skipping is None and element.text:
                parts.append(element.text)
        else:
            if skipping is element:
                skipping = None
            if skipping is None and element is not node and element.tail:
                parts.append(element.tail)
    return " ".join(" ".join(parts).split())


def _hidden(element: HtmlElement) -> bool:
    """Hidden with inline CSS or the hidden attribute, by the element or an ancestor."""
    for node in (element, *element.iterancestors()):
        style = (node.get("style") or "").replace(" ", "").lower()
        if "display:none" in style or "visibility:hidden" in style or node.get("hidden") is not None:
            return True
    return False


def _main_block(tree: HtmlElement) -> HtmlElement:
    """The <article>, <main> or role=main element with the most text, unless it holds only a small share
    of the page's text (a teaser card marked up as <article>): then the whole <body>."""
    bodies = tree.xpath("//body")
    body = bodies[0] if bodies else tree
    candidates = tree.xpath("//article | //main | //*[@role='main']")
    if not candidates:
        return body
    best = max(candidates, key=lambda node: len(node.text_content()))
    return best if len(best.text_content()) >= MAIN_SHARE * len(body.text_content()) else body


def _prominent(text: str) -> str:
    """A title or heading, whitespace collapsed, at most PROMINENT_CHARS: error wording is short, and a
    multi-megabyte title must not cost the cue patterns a pass over all of it."""
    return " ".join(text[: PROMINENT_CHARS * 4].split())[:PROMINENT_CHARS]


def read_page(tree: HtmlElement) -> PageFacts:
    """Facts of one page; visible text only (CSS-hidden template blocks are not what the reader sees)."""
    titles = tree.xpath("//title/text()")
    headings = [_prominent(h.text_content()) for h in tree.xpath("//h1 | //h2")[:6] if not _hidden(h)]
    structured = read_structured(tree)
    roots = [n for n in tree.xpath("//body/div[@id] | //body/main[@id]") if _APP_ROOT.match(n.get("id", ""))]
    return PageFacts(
        title=_prominent(titles[0]) if titles else "",
        headings=[h for h in headings if h],
        main_text=_visible_text(_main_block(tree)),
        structured=structured,
        dated=bool(structured.published or tree.xpath("//time[@datetime]")),
        app_root=bool(roots),
        scripts=len(tree.xpath("//script[@src] | //script[not(@type) or @type='module']")),
    )

