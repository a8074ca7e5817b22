"""A page as text blocks: what a reader sees, paragraph by paragraph, and what of it is links.

Two things are read from them. The page's own prose: blocks of running text that are not mostly links
(navigation, related-story lists and footers are), wherever the page keeps them, whatever its containers
are called (a class or id that looks like chrome does not hide a story, as it did for the first reader). And
the page compared with its host's answer for a URL that cannot exist (the host probe): the blocks the page
shares with that answer are the host's template (its chrome and its error message); what is left is what
the requested URL itself shows. A live story survives the subtraction, an error page does not, in any
language.

Block keys are hashes of normalised text (case folded, digits as one, spaces collapsed), so "Page 2 of 5" and
"Page 3 of 5" are one block, and keys travel cheaply from the page worker to the verdict (no text at all).
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from dataclasses import dataclass, field
from typing import NamedTuple

from lxml.etree import iterwalk
from lxml.html import HtmlElement

MAX_BLOCKS = 2000  # a page of a million paragraphs is read as its first blocks
MAX_TEXT_CHARS = 500_000  # ... and one of a million words in one block as its first words
LINKED_SHARE = 0.5  # a block with at least this share of its characters in links is navigation, not prose
PROSE_UNITS = 8  # a block of prose has at least this many words (CJK characters count one each)
OPENING_CHARS = 300  # what an error page says under its heading fits in this, up to its first paragraph:
OPENING_PARAGRAPH = 10  # a block this long (its message, or the page's own first paragraph)
HEADLINE_UNITS = 4  # a heading this long that is (in) the title, or the title in it, is the page's headline
_BLOCK_TAGS = frozenset({"p", "li", "dd", "dt", "td", "th", "blockquote", "pre", "figcaption", "h1", "h2", "h3",
                         "h4", "h5", "h6", "div", "section", "article", "main", "header", "footer", "aside", "nav",
                         "ul", "ol", "table", "tr", "form", "body", "figure", "address", "center", "details",
                         "summary", "caption", "dl", "fieldset", "legend"})
_HEADINGS = frozenset({"h1", "h2", "h3"})
_UNSEEN = frozenset({"script", "style", "noscript", "template", "svg", "button", "select", "option", "textarea",
                     "iframe", "object", "head", "title", "meta", "link"})
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_DIGITS = re.compile(r"\d+")
_WORD = re.compile(r"\w+")


class Block(NamedTuple):
    """One block of visible text (a tuple: a page's blocks cross from the page worker to the verdict)."""

    key: int  # hash of the normalised text
    units: int  # words, CJK characters counting one each
    linked: bool  # mostly link text
    heading: bool  # h1-h3
    headline: bool  # a heading that is the page's title, or part of it
    titled: bool = False  # a heading its title holds however short ("Floods"): a kept headline, or a site name


MESSAGE_UNITS = 60  # a block this short under the headline may be a message (an error, a sign-in wall) ...
MAX_MESSAGES = 20  # ... for this many blocks after it: where the story should be, not the sidebars


@dataclass
class Reading:
    """The blocks of a page, the text of the first ones under its first heading (where an error page states
    its error), and the text of the short blocks under it by key (where the story should be: what the page
    says beyond its host's template is among them, when a lede or a byline of the template comes first)."""

    blocks: list[Block] = field(default_factory=list)
    opening: str = ""
    messages: list[tuple[int, str]] = field(default_factory=list)


def units_of(text: str) -> int:
    """Words, each CJK character counting one (punctuation is not a word)."""
    if text.isascii():
        return len(_WORD.findall(text))
    cjk = len(_CJK.findall(text))
    return cjk + len(_WORD.findall(_CJK.sub(" ", text))) if cjk else len(_WORD.findall(text))


def words_of(text: str) -> str:
    """The words of `text`, NFKC-normalised and case folded, one space apart: "It’s" and "It's" are alike."""
    return " ".join(_WORD.findall(unicodedata.normalize("NFKC", text).casefold()))


def within(heading: str, title: str) -> bool:
    """The heading is the title, or in it, or the title is in the heading (whole words)."""
    return bool(heading) and (f" {heading} " in f" {title} " or f" {title} " in f" {heading} ")


def block_key(text: str) -> int:
    """A hash of the text, case folded, digit runs as one (spaces are collapsed by the reader already)."""
    return zlib.crc32(_DIGITS.sub("0", text.casefold()).encode("utf-8", "replace"))


def _hidden(element: HtmlElement) -> bool:
    style = element.get("style")
    if style:
        style = style.replace(" ", "").lower()
        if "display:none" in style or "visibility:hidden" in style:
            return True
    return element.get("hidden") is not None or element.get("aria-hidden") == "true"


class _Open:
    """A block being read: its tag, its text so far, how much of that is link text."""

    __slots__ = ("linked", "parts", "tag")

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.parts: list[str] = []
        self.linked = 0


class _Reader:
    """One walk over the body: text goes to the innermost open block; a block's text is its own, not that of
    the blocks nested in it (inline children, links included, belong to their block)."""

    def __init__(self, title: str) -> None:
        self.title = words_of(title)
        self.reading = Reading()
        self.stack: list[_Open] = []
        self.texts: list[tuple[int, str]] = []  # (block index, text) of the blocks that are not links
        self.anchors: dict[str, int] = {}  # first headline, first h1, first heading: block index

    def close(self, block: _Open) -> None:
        text = " ".join(" ".join(block.parts).split())
        if not text:
            return
        heading = block.tag in _HEADINGS
        units = units_of(text)
        titled = heading and bool(self.title) and within(words_of(text), self.title)
        headline = titled and units >= HEADLINE_UNITS
        linked = block.linked >= LINKED_SHARE * len(text)
        index = len(self.reading.blocks)
        self.reading.blocks.append(Block(block_key(text), units, linked, heading, headline, titled))
        if not linked:
            self.texts.append((index, text))
        for kind, marked in (("headline", headline), ("h1", block.tag == "h1"), ("heading", heading)):
            if marked:
                self.anchors.setdefault(kind, index)

    def finish(self) -> Reading:
        """The blocks, and the opening: the text under the headline, else the first h1, else the first heading,
        else the top of the page, to its first paragraph. An error page states its error there; a live
        page's first paragraph is its own, and what comes after it (an empty widget's "no results", a
        form's "oops") is not what the page says it is."""
        while self.stack:
            self.close(self.stack.pop())
        anchor = next((self.anchors[k] for k in ("headline", "h1", "heading") if k in self.anchors), -1)
        opening: list[str] = []
        blocks, messages = self.reading.blocks, self.reading.messages
        read_on = True  # the opening ends at the first paragraph: a widget's line below a brief is not it
        for index, text in self.texts:
            if index > anchor and not blocks[index].heading:
                if read_on:
                    opening.append(text)
                    read_on = sum(map(len, opening)) < OPENING_CHARS and blocks[index].units < OPENING_PARAGRAPH
                if blocks[index].units <= MESSAGE_UNITS:
                    messages.append((blocks[index].key, text[:OPENING_CHARS]))
                    if len(messages) >= MAX_MESSAGES:
                        break
        self.reading.opening = " ".join(opening)[:OPENING_CHARS]
        return self.reading


def read_blocks(tree: HtmlElement, title: str = "") -> Reading:  # noqa: PLR0912 - one inlined walk, for speed
    """The page's visible text as blocks, in document order, up to MAX_BLOCKS blocks or MAX_TEXT_CHARS of
    text; `title` marks its headline. One walk, its per-element work inlined: it runs on every page."""
    bodies = tree.xpath("//body")
    root = bodies[0] if bodies else tree
    reader = _Reader(title)
    stack, blocks = reader.stack, reader.reading.blocks
    links = chars = 0  # depth inside <a>; characters of text read
    skipping: HtmlElement | None = None
    for event, element in iterwalk(root, events=("start", "end", "comment", "pi")):
        if skipping is not None:
            if skipping is element and event == "end":
                skipping = None
                text = element.tail
            else:
                continue
        elif event == "start":
            tag = element.tag
            if not isinstance(tag, str) or tag in _UNSEEN or _hidden(element):
                skipping = element
                continue
            if tag in _BLOCK_TAGS:
                stack.append(_Open(tag))
            elif tag == "a":
                links += 1
            text = element.text
        elif event == "end":
            tag = element.tag
            if tag == "a":
                links -= 1
            elif tag in _BLOCK_TAGS and stack:
                reader.close(stack.pop())
                if len(blocks) >= MAX_BLOCKS or chars > MAX_TEXT_CHARS:
                    break
            text = element.tail if element is not root else None
        else:  # a comment or a processing instruction: not text, but the text after it is
            text = element.tail
        if text and stack:
            block = stack[-1]
            block.parts.append(text)
            chars += len(text)
            if links:
                block.linked += len(text.strip())
    return reader.finish()


def prose_units(blocks: list[Block], template: frozenset[int] = frozenset()) -> int:
    """Words of running text the page shows (blocks of PROSE_UNITS or more, not mostly links), leaving out
    blocks of `template` (the host's error page: its chrome and its message)."""
    return sum(b.units for b in blocks if not b.linked and b.units >= PROSE_UNITS and b.key not in template)


def text_units(blocks: list[Block], template: frozenset[int] = frozenset()) -> int:
    """Words of every block not mostly links (short ones too), but those of `template`."""
    return sum(b.units for b in blocks if not b.linked and b.key not in template)
